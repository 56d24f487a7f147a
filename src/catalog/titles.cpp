#include "catalog/titles.h"

#include <cmath>

#include "core/csv.h"

namespace beta500::catalog {
namespace json = boost::json;
namespace {

constexpr int64_t kYearMin = 1870;
constexpr int64_t kYearMax = 2100;

Error Invalid(const std::string& message) { return Error{ErrorCode::kInvalidArgument, message}; }

Result<std::string> Text(const json::value& value, const char* field, size_t max_bytes) {
    if (!value.is_string()) {
        return Invalid(std::string(field) + ": must be a string");
    }
    std::string text(value.as_string());
    if (text.size() > max_bytes) {
        return Invalid(std::string(field) + ": at most " + std::to_string(max_bytes) + " bytes");
    }
    return text;
}

Result<std::vector<std::string>> List(const json::value& value, const char* field) {
    if (!value.is_array()) {
        return Invalid(std::string(field) + ": must be an array of strings");
    }
    const auto& array = value.as_array();
    if (array.size() > kListItemsMax) {
        return Invalid(std::string(field) + ": at most " + std::to_string(kListItemsMax) + " items");
    }
    std::vector<std::string> items;
    for (const auto& item : array) {
        auto text = Text(item, field, kListItemBytesMax);
        if (!text) {
            return text.error();
        }
        if (!text->empty()) {
            items.push_back(std::move(*text));
        }
    }
    return items;
}

Result<int64_t> Integer(const json::value& value, const char* field, int64_t min, int64_t max) {
    if (!value.is_int64() && !value.is_uint64()) {
        return Invalid(std::string(field) + ": must be an integer");
    }
    const int64_t number = value.is_int64() ? value.as_int64() : static_cast<int64_t>(value.as_uint64());
    if (number < min || number > max) {
        return Invalid(std::string(field) + ": must be between " + std::to_string(min) + " and " + std::to_string(max));
    }
    return number;
}

// "a|b|c" -> ["a","b","c"] (CSV list fields).
json::array SplitList(const std::string& text) {
    json::array items;
    size_t start = 0;
    while (start <= text.size() && !text.empty()) {
        const size_t bar = text.find('|', start);
        items.emplace_back(text.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
        if (bar == std::string::npos) {
            break;
        }
        start = bar + 1;
    }
    return items;
}

}  // namespace

Result<Title> TitleFromJson(const json::value& value) {
    if (!value.is_object()) {
        return Invalid("a title must be an object");
    }
    Title title;
    bool has_title = false;
    for (const auto& [key, item] : value.as_object()) {
        Status status = Status::Ok();
        auto set_text = [&](std::string& target, size_t max) {
            auto text = Text(item, key.data(), max);
            text ? (void)(target = std::move(*text)) : (void)(status = text.error());
        };
        auto set_list = [&](std::vector<std::string>& target) {
            auto list = List(item, key.data());
            list ? (void)(target = std::move(*list)) : (void)(status = list.error());
        };
        auto set_optional = [&](std::optional<int64_t>& target, int64_t min, int64_t max) {
            if (item.is_null()) {
                target.reset();
                return;
            }
            auto number = Integer(item, key.data(), min, max);
            number ? (void)(target = *number) : (void)(status = number.error());
        };
        if (key == "title") {
            set_text(title.title, kTitleBytesMax);
            has_title = true;
        } else if (key == "source_id") {
            set_text(title.source_id, kListItemBytesMax);
        } else if (key == "year") {
            set_optional(title.year, kYearMin, kYearMax);
        } else if (key == "genres") {
            set_list(title.genres);
        } else if (key == "directors") {
            set_list(title.directors);
        } else if (key == "cast") {
            set_list(title.cast);
        } else if (key == "languages") {
            set_list(title.languages);
        } else if (key == "description") {
            set_text(title.description, kDescriptionBytesMax);
        } else if (key == "rating") {
            if (!item.is_null()) {
                const double rating = item.is_double() ? item.as_double()
                                      : item.is_int64() ? static_cast<double>(item.as_int64())
                                                        : -1;
                if (!(rating >= 0 && rating <= 10)) {
                    status = Invalid("rating: must be a number from 0 to 10");
                } else {
                    title.rating_tenths = std::llround(rating * 10);
                }
            }
        } else if (key == "votes") {
            auto votes = Integer(item, "votes", 0, int64_t{1} << 40);
            votes ? (void)(title.votes = *votes) : (void)(status = votes.error());
        } else if (key == "runtime_minutes") {
            set_optional(title.runtime_minutes, 1, 10'000);
        } else if (key == "source") {
            set_text(title.source, kListItemBytesMax);
        } else if (key == "creative_type") {
            set_text(title.creative_type, kListItemBytesMax);
        } else if (key != "id") {  // an exported title's id is ignored on import
            status = Invalid(std::string(key) + ": unknown field");
        }
        if (!status) {
            return status.error();
        }
    }
    if (!has_title || title.title.empty()) {
        return Invalid("title: required");
    }
    return title;
}

json::object TitleToJson(const Title& title) {
    auto list = [](const std::vector<std::string>& items) {
        json::array array;
        for (const auto& item : items) {
            array.emplace_back(item);
        }
        return array;
    };
    json::object out{{"id", std::to_string(title.id)},
                     {"title", title.title},
                     {"genres", list(title.genres)},
                     {"directors", list(title.directors)},
                     {"cast", list(title.cast)},
                     {"languages", list(title.languages)},
                     {"description", title.description},
                     {"votes", title.votes},
                     {"source", title.source},
                     {"creative_type", title.creative_type}};
    out["source_id"] = title.source_id;
    out["year"] = title.year ? json::value(*title.year) : json::value(nullptr);
    out["rating"] = title.rating_tenths ? json::value(static_cast<double>(*title.rating_tenths) / 10) : json::value(nullptr);
    out["runtime_minutes"] = title.runtime_minutes ? json::value(*title.runtime_minutes) : json::value(nullptr);
    return out;
}

Result<std::vector<ImportRow>> ParseImport(std::string_view text, bool csv) {
    std::vector<ImportRow> rows;
    if (!csv) {
        boost::system::error_code error;
        json::value document = json::parse(text, error);
        if (error || !document.is_array()) {
            return Invalid("the import must be a JSON array of titles");
        }
        if (document.as_array().size() > kImportTitlesMax) {
            return Invalid("more than " + std::to_string(kImportTitlesMax) + " titles");
        }
        for (const auto& item : document.as_array()) {
            auto title = TitleFromJson(item);
            rows.push_back(ImportRow{rows.size() + 1, title ? std::optional<Title>(*title) : std::nullopt,
                                     title ? "" : title.error().message});
        }
        return rows;
    }
    auto lines = SplitCsv(text, kImportTitlesMax + 1);
    if (!lines) {
        return lines.error();
    }
    if (lines->empty()) {
        return Invalid("the CSV needs a header row naming the fields");
    }
    const std::vector<std::string> header = lines->front().fields;
    for (size_t i = 1; i < lines->size(); ++i) {
        const CsvRow& line = (*lines)[i];
        json::object object;
        std::string error;
        if (line.fields.size() != header.size()) {
            error = "expected " + std::to_string(header.size()) + " fields";
        }
        for (size_t f = 0; f < header.size() && f < line.fields.size() && error.empty(); ++f) {
            const std::string& name = header[f];
            const std::string& value = line.fields[f];
            if (name == "genres" || name == "directors" || name == "cast" || name == "languages") {
                object[name] = SplitList(value);
            } else if (name == "year" || name == "votes" || name == "runtime_minutes" || name == "rating") {
                if (value.empty()) {
                    continue;
                }
                boost::system::error_code number_error;
                json::value number = json::parse(value, number_error);
                if (number_error || !number.is_number()) {
                    error = name + ": not a number";
                } else {
                    object[name] = number;
                }
            } else {
                object[name] = value;
            }
        }
        auto title = error.empty() ? TitleFromJson(object) : Result<Title>(Invalid(error));
        rows.push_back(ImportRow{line.line, title ? std::optional<Title>(*title) : std::nullopt,
                                 title ? "" : title.error().message});
    }
    return rows;
}

}  // namespace beta500::catalog
