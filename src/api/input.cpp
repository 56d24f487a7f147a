#include "api/input.h"

#include <algorithm>

#include "core/clock.h"

namespace beta500::api {
namespace json = boost::json;

std::optional<int64_t> ParseId(std::string_view text) {
    if (text.empty() || text.size() > 18) {
        return std::nullopt;
    }
    int64_t value = 0;
    for (char ch : text) {
        if (ch < '0' || ch > '9') {
            return std::nullopt;
        }
        value = value * 10 + (ch - '0');
    }
    return value > 0 ? std::optional<int64_t>(value) : std::nullopt;
}

BodyReader::BodyReader(const http::HttpRequest& request) {
    const auto type = request.Header("content-type");
    if (type && type->find("application/json") == std::string_view::npos) {
        Fail(415, "unsupported_media_type", "", "the request body must be application/json");
        return;
    }
    if (request.body.empty()) {
        return;
    }
    json::error_code error;
    json::value parsed = json::parse(request.body, error);
    if (error) {
        Fail(400, "invalid_json", "", "the request body is not valid JSON: " + error.message());
    } else if (!parsed.is_object()) {
        Fail(400, "invalid_json", "", "the request body must be a JSON object");
    } else {
        object_ = std::move(parsed.as_object());
    }
}

void BodyReader::Fail(int status, const std::string& code, const std::string& field,
                      const std::string& detail) {
    if (problem_) {
        return;
    }
    problem_ = http::Problem{status, code, detail, {}};
    if (!field.empty()) {
        problem_->extensions.emplace_back("field", json::serialize(json::value(field)));
    }
}

const json::value* BodyReader::Find(const char* name) {
    known_.insert(name);
    const auto found = object_.find(name);
    return found == object_.end() || found->value().is_null() ? nullptr : &found->value();
}

int64_t BodyReader::Id(const char* name) {
    const json::value* value = Find(name);
    std::optional<int64_t> id;
    if (value && value->is_string()) {
        id = ParseId(value->as_string());
    } else if (value && value->is_int64() && value->as_int64() > 0) {
        id = value->as_int64();
    }
    if (!id) {
        Fail(422, "invalid_request", name, std::string(name) + " must be a positive id string");
        return 0;
    }
    return *id;
}

std::optional<int64_t> BodyReader::OptionalInt(const char* name) {
    const json::value* value = Find(name);
    if (!value) {
        return std::nullopt;
    }
    if (value->is_int64()) {
        return value->as_int64();
    }
    if (value->is_uint64()) {
        Fail(422, "invalid_request", name, std::string(name) + " is out of range");
        return std::nullopt;
    }
    Fail(422, "invalid_request", name, std::string(name) + " must be an integer");
    return std::nullopt;
}

int64_t BodyReader::Int(const char* name) {
    const bool present = object_.contains(name) && !object_.at(name).is_null();
    auto value = OptionalInt(name);
    if (!present) {
        Fail(422, "invalid_request", name, std::string(name) + " is required");
    }
    return value.value_or(0);
}

std::string BodyReader::OptionalString(const char* name) {
    const json::value* value = Find(name);
    if (!value) {
        return "";
    }
    if (!value->is_string()) {
        Fail(422, "invalid_request", name, std::string(name) + " must be a string");
        return "";
    }
    return std::string(value->as_string());
}

std::string BodyReader::String(const char* name) {
    std::string value = OptionalString(name);
    if (value.empty()) {
        Fail(422, "invalid_request", name, std::string(name) + " is required");
    }
    return value;
}

bool BodyReader::OptionalBool(const char* name, bool fallback) {
    const json::value* value = Find(name);
    if (!value) {
        return fallback;
    }
    if (!value->is_bool()) {
        Fail(422, "invalid_request", name, std::string(name) + " must be true or false");
        return fallback;
    }
    return value->as_bool();
}

std::optional<int64_t> BodyReader::OptionalTimestamp(const char* name) {
    const std::string text = OptionalString(name);
    if (text.empty()) {
        return std::nullopt;
    }
    int64_t epoch_ms = 0;
    if (!ParseRfc3339(text, epoch_ms)) {
        Fail(422, "invalid_request", name, std::string(name) + " must be an RFC 3339 timestamp");
        return std::nullopt;
    }
    return epoch_ms;
}

const std::optional<http::Problem>& BodyReader::Finish() {
    for (const auto& [key, value] : object_) {
        if (!known_.contains(std::string(key))) {
            Fail(422, "invalid_request", std::string(key), "unknown field " + std::string(key));
        }
    }
    return problem_;
}

std::optional<http::Problem> ReadPageQuery(
    const http::HttpRequest& request, PageQuery& page,
    const std::function<std::optional<std::string>(const std::string&, const std::string&)>& other) {
    for (const auto& [name, value] : request.query) {
        std::optional<std::string> problem;
        if (name == "limit") {
            const auto limit = ParseId(value);
            page.limit = limit.value_or(0);
            if (!limit || *limit > kPageLimitMax) {
                problem = "limit must be between 1 and " + std::to_string(kPageLimitMax);
            }
        } else if (name == "cursor") {
            page.before_id = ParseId(value);
            if (!page.before_id) {
                problem = "cursor is not one this server issued";
            }
        } else {
            problem = other(name, value);
            if (!problem) {
                problem = "unknown query parameter " + name;
            }
        }
        if (problem && !problem->empty()) {
            return http::Problem{422, "invalid_request", *problem,
                                 {{"field", json::serialize(json::value(name))}}};
        }
    }
    return std::nullopt;
}

std::optional<http::Problem> ReadEmailSearch(const http::HttpRequest& request, PageQuery& page,
                                             const std::vector<std::string>& statuses,
                                             std::optional<std::string>& status,
                                             std::string& email_contains) {
    return ReadPageQuery(request, page, [&](const std::string& name,
                                            const std::string& value) -> std::optional<std::string> {
        if (name == "status") {
            status = value;
            if (std::find(statuses.begin(), statuses.end(), value) != statuses.end()) {
                return "";
            }
            std::string allowed;
            for (const auto& option : statuses) {
                allowed += (allowed.empty() ? "" : ", ") + option;
            }
            return "status must be one of " + allowed;
        }
        if (name == "q") {
            email_contains = value;  // addresses are stored lower-cased
            for (char& ch : email_contains) {
                ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
            }
            return "";
        }
        return std::nullopt;
    });
}

}  // namespace beta500::api
