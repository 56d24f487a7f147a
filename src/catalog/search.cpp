#include "catalog/search.h"

#include <xapian.h>

#include <algorithm>
#include <boost/json.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <unordered_map>

namespace beta500::catalog {
namespace json = boost::json;
namespace fs = std::filesystem;
namespace {

// Value slots.
constexpr Xapian::valueno kYearSlot = 0;
constexpr Xapian::valueno kRatingSlot = 1;
constexpr Xapian::valueno kPopularitySlot = 2;
constexpr Xapian::valueno kGenreSlot = 3;
constexpr Xapian::valueno kDecadeSlot = 4;
// How much the popularity prior weighs against BM25 (whose weights are around 1-20).
constexpr double kPopularityWeight = 0.4;
constexpr size_t kLikeTerms = 16;
constexpr size_t kBuildPage = 2000;
constexpr const char* kNoGenre = "(none)";
constexpr const char* kNoYear = "(unknown)";
std::atomic<uint64_t> next_instance{1};

std::string Lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    return text;
}

std::vector<std::string> Words(const std::string& text) {
    std::vector<std::string> words;
    std::string word;
    for (char ch : Lower(text) + " ") {
        if (std::isalnum(static_cast<unsigned char>(ch)) || static_cast<unsigned char>(ch) >= 0x80) {
            word.push_back(ch);
        } else if (!word.empty()) {
            words.push_back(std::move(word));
            word.clear();
        }
    }
    return words;
}

double Popularity(const Title& title) {
    const double rating = title.rating_tenths ? static_cast<double>(*title.rating_tenths) / 100 : 0.5;
    return rating * std::log10(static_cast<double>(title.votes) + 10);
}

std::string DecadeLabel(const std::optional<int64_t>& year) {
    return year ? std::to_string(*year / 10 * 10) + "s" : kNoYear;
}

json::array Array(const std::vector<std::string>& items) {
    json::array array;
    for (const auto& item : items) {
        array.emplace_back(item);
    }
    return array;
}

std::vector<std::string> Strings(const json::value& value) {
    std::vector<std::string> items;
    for (const auto& item : value.as_array()) {
        items.emplace_back(item.as_string());
    }
    return items;
}

Xapian::Document MakeDocument(const Title& title, Xapian::TermGenerator& indexer) {
    Xapian::Document document;
    indexer.set_document(document);
    // Spelling data from the words people type for titles and names only.
    indexer.set_flags(Xapian::TermGenerator::FLAG_SPELLING);
    indexer.index_text(title.title, 3);
    indexer.increase_termpos();
    indexer.index_text(title.title, 1, "S");
    for (const auto* people : {&title.directors, &title.cast}) {
        for (const auto& person : *people) {
            indexer.increase_termpos();
            indexer.index_text(person, 2);
            indexer.increase_termpos();
            indexer.index_text(person, 1, "P");
        }
    }
    indexer.set_flags(Xapian::TermGenerator::flags(0));
    indexer.increase_termpos();
    indexer.index_text(title.description);
    for (const auto& genre : title.genres) {
        indexer.increase_termpos();
        indexer.index_text(genre);
        document.add_boolean_term("XG" + Lower(genre));
    }
    if (!title.creative_type.empty()) {
        document.add_boolean_term("XC" + Lower(title.creative_type));
    }
    for (const auto& language : title.languages) {
        document.add_boolean_term("XL" + Lower(language));
    }
    document.add_boolean_term("Q" + std::to_string(title.id));
    if (title.year) {
        document.add_value(kYearSlot, Xapian::sortable_serialise(static_cast<double>(*title.year)));
    }
    if (title.rating_tenths) {
        document.add_value(kRatingSlot, Xapian::sortable_serialise(static_cast<double>(*title.rating_tenths)));
    }
    document.add_value(kPopularitySlot, Xapian::sortable_serialise(Popularity(title)));
    document.add_value(kGenreSlot, title.genres.empty() ? kNoGenre : title.genres.front());
    document.add_value(kDecadeSlot, DecadeLabel(title.year));
    json::object data{{"id", title.id},
                      {"title", title.title},
                      {"genres", Array(title.genres)},
                      {"directors", Array(title.directors)},
                      {"cast", Array(title.cast)},
                      {"languages", Array(title.languages)},
                      {"creative_type", title.creative_type}};
    data["year"] = title.year ? json::value(*title.year) : json::value(nullptr);
    data["rating"] = title.rating_tenths ? json::value(*title.rating_tenths) : json::value(nullptr);
    document.set_data(json::serialize(data));
    return document;
}

Xapian::TermGenerator Indexer(Xapian::WritableDatabase& database) {
    Xapian::TermGenerator indexer;
    indexer.set_stemmer(Xapian::Stem("english"));
    indexer.set_stemming_strategy(Xapian::TermGenerator::STEM_SOME);
    indexer.set_database(database);
    return indexer;
}

Error IndexError(const Xapian::Error& error) {
    return Error{ErrorCode::kUnavailable, "search index: " + error.get_description()};
}

std::optional<int64_t> OptionalInt(const json::value& value) {
    return value.is_int64() ? std::optional<int64_t>(value.as_int64()) : std::nullopt;
}

// The words of a name or title as terms with `prefix`, each corrected by the spelling data
// when the index does not have it; empty if a word is unknown and has no correction.
std::vector<std::string> KnownTerms(const Xapian::Database& database, const std::string& text,
                                    const std::string& prefix, bool& corrected) {
    std::vector<std::string> terms;
    for (const std::string& word : Words(text)) {
        if (database.term_exists(prefix + word)) {
            terms.push_back(prefix + word);
            continue;
        }
        const std::string suggestion = database.get_spelling_suggestion(word);
        if (suggestion.empty() || !database.term_exists(prefix + suggestion)) {
            return {};
        }
        corrected = true;
        terms.push_back(prefix + suggestion);
    }
    return terms;
}

Xapian::Query Popular() {
    return Xapian::Query(Xapian::Query::OP_SCALE_WEIGHT,
                         Xapian::Query((new Xapian::ValueWeightPostingSource(kPopularitySlot))->release()),
                         kPopularityWeight);
}

Xapian::Query AnyTerm(const std::string& prefix, const std::vector<std::string>& values) {
    std::vector<Xapian::Query> terms;
    for (const auto& value : values) {
        terms.emplace_back(prefix + Lower(value));
    }
    return Xapian::Query(Xapian::Query::OP_OR, terms.begin(), terms.end());
}

std::string Reason(const json::object& data, const ParsedQuery& query, const std::vector<std::string>& text_words,
                   const std::string& like_seed) {
    std::vector<std::string> parts;
    const auto genres = Strings(data.at("genres"));
    for (const auto& genre : genres) {
        if (std::find(query.genres.begin(), query.genres.end(), genre) != query.genres.end()) {
            parts.push_back("genre: " + genre);
        }
    }
    const std::string type(data.at("creative_type").as_string());
    if (std::find(query.creative_types.begin(), query.creative_types.end(), type) != query.creative_types.end()) {
        parts.push_back("type: " + type);
    }
    const auto year = OptionalInt(data.at("year"));
    if (year && (query.year_min || query.year_max)) {
        parts.push_back(query.year_min && query.year_max && *query.year_max - *query.year_min == 9
                            ? DecadeLabel(year)
                            : "released " + std::to_string(*year));
    }
    const auto rating = OptionalInt(data.at("rating"));
    if (rating && query.rating_min_tenths) {
        parts.push_back("rated " + std::to_string(*rating / 10) + "." + std::to_string(*rating % 10));
    }
    const auto directors = Strings(data.at("directors"));
    const auto cast = Strings(data.at("cast"));
    auto credit = [&](const std::string& word_or_name) -> std::optional<std::string> {
        for (const auto& name : directors) {
            if (Lower(name).find(word_or_name) != std::string::npos) {
                return "directed by " + name;
            }
        }
        for (const auto& name : cast) {
            if (Lower(name).find(word_or_name) != std::string::npos) {
                return "with " + name;
            }
        }
        return std::nullopt;
    };
    for (const auto& person : query.people) {
        if (auto found = credit(person)) {
            parts.push_back(*found);
        }
    }
    const auto languages = Strings(data.at("languages"));
    for (const auto& language : query.languages) {
        if (std::find(languages.begin(), languages.end(), language) != languages.end()) {
            parts.push_back("in " + language);
        }
    }
    if (!like_seed.empty()) {
        parts.push_back("like " + like_seed);
    }
    const auto title_words = Words(std::string(data.at("title").as_string()));
    std::vector<std::string> in_title;
    for (const auto& word : text_words) {
        if (std::find(title_words.begin(), title_words.end(), word) != title_words.end()) {
            in_title.push_back(word);
        } else if (auto found = credit(word); found && std::find(parts.begin(), parts.end(), *found) == parts.end()) {
            parts.push_back(*found);
        }
    }
    if (!in_title.empty()) {
        std::string joined;
        for (const auto& word : in_title) {
            joined += (joined.empty() ? "" : " ") + word;
        }
        parts.insert(parts.begin(), "title matches \"" + joined + "\"");
    }
    if (parts.empty()) {
        parts.push_back(text_words.empty() ? "popular" : "matches the description");
    }
    std::string reason;
    for (const auto& part : parts) {
        reason += (reason.empty() ? "" : "; ") + part;
    }
    return reason;
}

std::vector<FacetCount> Facets(const Xapian::ValueCountMatchSpy& spy) {
    std::vector<FacetCount> facets;
    for (auto it = spy.values_begin(); it != spy.values_end(); ++it) {
        facets.push_back(FacetCount{*it, static_cast<int64_t>(it.get_termfreq())});
    }
    std::sort(facets.begin(), facets.end(), [](const FacetCount& a, const FacetCount& b) {
        return a.count != b.count ? a.count > b.count : a.value < b.value;
    });
    return facets;
}

}  // namespace

struct XapianSearch::Reader {
    int64_t generation = 0;
    std::string path;
    std::optional<Xapian::Database> database;
};

XapianSearch::XapianSearch(std::string directory) : directory_(std::move(directory)), instance_(next_instance++) {
    fs::create_directories(directory_);
}

XapianSearch::~XapianSearch() = default;

std::string XapianSearch::CurrentPath() const {
    std::lock_guard lock(path_mutex_);
    return current_path_;
}

XapianSearch::Reader& XapianSearch::ThreadReader() const {
    thread_local std::unordered_map<uint64_t, Reader> readers;
    Reader& reader = readers[instance_];
    const int64_t generation = generation_.load();
    if (reader.generation != generation || !reader.database) {
        const std::string path = CurrentPath();
        if (reader.database && reader.path == path) {
            reader.database->reopen();
        } else {
            reader.database.emplace(path);
            reader.path = path;
        }
        reader.generation = generation;
    }
    return reader;
}

bool XapianSearch::Load(int64_t expected_count) {
    std::lock_guard writer(writer_mutex_);
    std::ifstream current(directory_ + "/CURRENT");
    std::string name;
    if (!std::getline(current, name) || name.empty()) {
        return false;
    }
    try {
        Xapian::Database database(directory_ + "/" + name);
        if (database.get_metadata("complete") != "1" ||
            static_cast<int64_t>(database.get_doccount()) != expected_count) {
            return false;
        }
        const std::string until = database.get_metadata("indexed_until");
        int64_t value = 0;
        std::from_chars(until.data(), until.data() + until.size(), value);  // 0 when absent or damaged
        indexed_until_ = value;
    } catch (const Xapian::Error&) {
        return false;
    }
    {
        std::lock_guard lock(path_mutex_);
        current_path_ = directory_ + "/" + name;
    }
    ++generation_;
    return true;
}

Status XapianSearch::Rebuild(CatalogStore& store, int64_t now_ms) {
    std::lock_guard writer(writer_mutex_);
    const auto stamp = std::chrono::system_clock::now().time_since_epoch() / std::chrono::milliseconds(1);
    const std::string name = "gen-" + std::to_string(stamp) + "-" + std::to_string(next_build_++);
    const std::string path = directory_ + "/" + name;
    try {
        Xapian::WritableDatabase database(path, Xapian::DB_CREATE_OR_OVERWRITE);
        Xapian::TermGenerator indexer = Indexer(database);
        int64_t after_id = 0;
        while (true) {
            auto page = store.Page(after_id, kBuildPage);
            if (!page) {
                return page.error();
            }
            if (page->empty()) {
                break;
            }
            for (const Title& title : *page) {
                database.add_document(MakeDocument(title, indexer));  // a fresh database: no lookups
                after_id = title.id;
            }
        }
        database.set_metadata("complete", "1");
        database.set_metadata("indexed_until", std::to_string(now_ms));
        database.commit();
        indexed_until_ = now_ms;
    } catch (const Xapian::Error& error) {
        return IndexError(error);
    }
    // Switch: CURRENT names the new generation (renamed into place, so never half written).
    {
        std::ofstream out(directory_ + "/CURRENT.tmp", std::ios::trunc);
        out << name << "\n";
    }
    std::error_code renamed;
    fs::rename(directory_ + "/CURRENT.tmp", directory_ + "/CURRENT", renamed);
    if (renamed) {
        return Error{ErrorCode::kUnavailable, "search index: cannot switch generations: " + renamed.message()};
    }
    std::string previous;
    {
        std::lock_guard lock(path_mutex_);
        previous = current_path_;
        current_path_ = path;
    }
    ++generation_;
    // Older generations go; the one just replaced stays for readers still on it.
    std::error_code listing;
    for (const auto& entry : fs::directory_iterator(directory_, listing)) {
        const std::string entry_path = entry.path().string();
        if (entry.is_directory() && entry_path != path && entry_path != previous) {
            std::error_code ignored;
            fs::remove_all(entry.path(), ignored);
        }
    }
    return Status::Ok();
}

Status XapianSearch::Update(const std::vector<Title>& titles) {
    std::lock_guard writer(writer_mutex_);
    const std::string path = CurrentPath();
    if (path.empty()) {
        return Error{ErrorCode::kFailedPrecondition, "search index: not built yet"};
    }
    try {
        Xapian::WritableDatabase database(path, Xapian::DB_OPEN);
        Xapian::TermGenerator indexer = Indexer(database);
        for (const Title& title : titles) {
            database.replace_document("Q" + std::to_string(title.id), MakeDocument(title, indexer));
        }
        database.commit();
    } catch (const Xapian::Error& error) {
        return IndexError(error);
    }
    ++generation_;
    return Status::Ok();
}

Status XapianSearch::MarkIndexedUntil(int64_t now_ms) {
    std::lock_guard writer(writer_mutex_);
    const std::string path = CurrentPath();
    if (path.empty()) {
        return Error{ErrorCode::kFailedPrecondition, "search index: not built yet"};
    }
    try {
        Xapian::WritableDatabase database(path, Xapian::DB_OPEN);
        database.set_metadata("indexed_until", std::to_string(now_ms));
        database.commit();
    } catch (const Xapian::Error& error) {
        return IndexError(error);
    }
    indexed_until_ = now_ms;
    return Status::Ok();
}

int64_t XapianSearch::documents() const {
    if (!ready()) {
        return 0;
    }
    try {
        return static_cast<int64_t>(ThreadReader().database->get_doccount());
    } catch (const Xapian::Error&) {
        return 0;
    }
}

Result<SearchResult> XapianSearch::Search(const SearchRequest& request) const {
    if (!ready()) {
        return Error{ErrorCode::kUnavailable, "the search index is being built"};
    }
    const int64_t limit = std::clamp<int64_t>(request.limit, 1, kSearchLimitMax);
    const int64_t offset = std::clamp<int64_t>(request.offset, 0, kSearchOffsetMax);
    for (int attempt = 0;; ++attempt) {
        try {
            Xapian::Database& database = *ThreadReader().database;
            SearchResult result;
            result.understood = ParseQuery(request.query);
            const ParsedQuery& parsed = result.understood;
            Xapian::QueryParser parser;
            parser.set_stemmer(Xapian::Stem("english"));
            parser.set_stemming_strategy(Xapian::QueryParser::STEM_SOME);
            parser.set_database(database);
            parser.set_default_op(Xapian::Query::OP_OR);
            std::vector<Xapian::Query> wanted;
            std::vector<std::string> text_words;
            if (!parsed.text.empty()) {
                // Only words the index lacks are corrected, each to the closest word it has.
                bool changed = false;
                std::string corrected;
                for (const std::string& word : Words(parsed.text)) {
                    std::string use = word;
                    if (!database.term_exists(word)) {
                        const std::string suggestion = database.get_spelling_suggestion(word);
                        if (!suggestion.empty()) {
                            use = suggestion;
                            changed = true;
                        }
                    }
                    text_words.push_back(use);
                    corrected += (corrected.empty() ? "" : " ") + use;
                }
                if (changed) {
                    result.corrected = corrected;
                }
                wanted.push_back(parser.parse_query(changed ? corrected : parsed.text, Xapian::QueryParser::FLAG_DEFAULT));
            }
            std::string like_seed;
            if (!parsed.like_title.empty()) {
                bool corrected = false;
                const auto terms = KnownTerms(database, parsed.like_title, "S", corrected);
                if (!terms.empty()) {
                    Xapian::Enquire find(database);
                    find.set_query(Xapian::Query(Xapian::Query::OP_AND_MAYBE,
                                                 Xapian::Query(Xapian::Query::OP_AND, terms.begin(), terms.end()),
                                                 Popular()));
                    const Xapian::MSet seed = find.get_mset(0, 1);
                    if (!seed.empty()) {
                        // Relevance feedback: the seed title's most telling terms find its likes.
                        Xapian::RSet relevant;
                        relevant.add_document(*seed.begin());
                        const Xapian::ESet expand = find.get_eset(kLikeTerms, relevant);
                        std::vector<Xapian::Query> similar(expand.begin(), expand.end());
                        const json::value data = json::parse(seed.begin().get_document().get_data());
                        like_seed = std::string(data.at("title").as_string());
                        wanted.push_back(Xapian::Query(
                            Xapian::Query::OP_AND_NOT, Xapian::Query(Xapian::Query::OP_OR, similar.begin(), similar.end()),
                            Xapian::Query("Q" + std::to_string(data.at("id").as_int64()))));
                    }
                }
                if (like_seed.empty()) {
                    wanted.push_back(Xapian::Query::MatchNothing);  // "like" a title we do not have
                }
            }
            Xapian::Query ranked = wanted.empty()
                                       ? Popular()
                                       : Xapian::Query(Xapian::Query::OP_AND_MAYBE,
                                                       Xapian::Query(Xapian::Query::OP_OR, wanted.begin(), wanted.end()),
                                                       Popular());
            std::vector<Xapian::Query> filters;
            if (!parsed.genres.empty()) {
                filters.push_back(AnyTerm("XG", parsed.genres));
            }
            if (!parsed.creative_types.empty()) {
                filters.push_back(AnyTerm("XC", parsed.creative_types));
            }
            if (!parsed.languages.empty()) {
                filters.push_back(AnyTerm("XL", parsed.languages));
            }
            if (parsed.year_min || parsed.year_max) {
                filters.emplace_back(Xapian::Query::OP_VALUE_RANGE, kYearSlot,
                                     Xapian::sortable_serialise(static_cast<double>(parsed.year_min.value_or(0))),
                                     Xapian::sortable_serialise(static_cast<double>(parsed.year_max.value_or(9999))));
            }
            if (parsed.rating_min_tenths) {
                filters.emplace_back(Xapian::Query::OP_VALUE_GE, kRatingSlot,
                                     Xapian::sortable_serialise(static_cast<double>(*parsed.rating_min_tenths)));
            }
            // The people as found in the index (spelling corrected), for the reasons.
            ParsedQuery found = parsed;
            found.people.clear();
            for (const auto& person : parsed.people) {
                bool corrected = false;
                const auto terms = KnownTerms(database, person, "P", corrected);
                filters.push_back(terms.empty() ? Xapian::Query::MatchNothing
                                                : Xapian::Query(Xapian::Query::OP_PHRASE, terms.begin(), terms.end()));
                std::string name;
                for (const auto& term : terms) {
                    name += (name.empty() ? "" : " ") + term.substr(1);
                }
                found.people.push_back(name.empty() ? person : name);
            }
            if (request.genre) {
                filters.emplace_back(Xapian::Query::OP_VALUE_RANGE, kGenreSlot, *request.genre, *request.genre);
            }
            if (request.decade) {
                const std::string label = std::to_string(*request.decade) + "s";
                filters.emplace_back(Xapian::Query::OP_VALUE_RANGE, kDecadeSlot, label, label);
            }
            Xapian::Query query =
                filters.empty() ? ranked
                                : Xapian::Query(Xapian::Query::OP_FILTER, ranked,
                                                Xapian::Query(Xapian::Query::OP_AND, filters.begin(), filters.end()));
            Xapian::Enquire enquire(database);
            enquire.set_query(query);
            Xapian::ValueCountMatchSpy genre_spy(kGenreSlot);
            Xapian::ValueCountMatchSpy decade_spy(kDecadeSlot);
            enquire.add_matchspy(&genre_spy);
            enquire.add_matchspy(&decade_spy);
            // Every match is counted, so the facets add up to the total.
            const Xapian::MSet matches = enquire.get_mset(static_cast<Xapian::doccount>(offset),
                                                          static_cast<Xapian::doccount>(limit), database.get_doccount());
            result.total = static_cast<int64_t>(matches.get_matches_estimated());
            result.genres = Facets(genre_spy);
            result.decades = Facets(decade_spy);
            for (auto it = matches.begin(); it != matches.end(); ++it) {
                const json::object data = json::parse(it.get_document().get_data()).as_object();
                SearchHit hit;
                hit.title_id = data.at("id").as_int64();
                hit.title = std::string(data.at("title").as_string());
                hit.year = OptionalInt(data.at("year"));
                hit.genres = Strings(data.at("genres"));
                hit.directors = Strings(data.at("directors"));
                hit.rating_tenths = OptionalInt(data.at("rating"));
                hit.score = it.get_weight();
                hit.reason = Reason(data, found, text_words, like_seed);
                result.hits.push_back(std::move(hit));
            }
            return result;
        } catch (const Xapian::DatabaseModifiedError&) {
            if (attempt > 0) {
                return Error{ErrorCode::kUnavailable, "the search index is changing; retry"};
            }
            try {
                ThreadReader().database->reopen();
            } catch (const Xapian::Error& error) {
                return IndexError(error);
            }
        } catch (const Xapian::Error& error) {
            return IndexError(error);
        }
    }
}

Result<std::vector<Suggestion>> XapianSearch::Suggest(std::string_view prefix, size_t limit) const {
    if (!ready()) {
        return Error{ErrorCode::kUnavailable, "the search index is being built"};
    }
    std::vector<Suggestion> suggestions;
    if (Words(std::string(prefix)).empty()) {
        return suggestions;
    }
    try {
        Xapian::Database& database = *ThreadReader().database;
        Xapian::QueryParser parser;
        parser.set_database(database);
        parser.set_default_op(Xapian::Query::OP_AND);
        const Xapian::Query words = parser.parse_query(
            std::string(prefix), Xapian::QueryParser::FLAG_PARTIAL | Xapian::QueryParser::FLAG_DEFAULT, "S");
        Xapian::Enquire enquire(database);
        enquire.set_query(Xapian::Query(Xapian::Query::OP_AND_MAYBE, words, Popular()));
        const Xapian::MSet matches = enquire.get_mset(0, static_cast<Xapian::doccount>(limit));
        for (auto it = matches.begin(); it != matches.end(); ++it) {
            const json::object data = json::parse(it.get_document().get_data()).as_object();
            suggestions.push_back(Suggestion{data.at("id").as_int64(), std::string(data.at("title").as_string()),
                                             OptionalInt(data.at("year"))});
        }
    } catch (const Xapian::Error& error) {
        return IndexError(error);
    }
    return suggestions;
}

}  // namespace beta500::catalog
