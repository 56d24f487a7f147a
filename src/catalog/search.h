// AI search over the catalog: a Xapian index (on disk under the data directory) queried with
// what ParseQuery understood: free text ranked by BM25 with English stemming and a popularity
// prior, spelling correction for words the index does not have, hard filters (genre, type,
// years, rating, people, language), "like <title>" through relevance feedback, facets (genre,
// decade) counted over every match, and a reason per hit.
//
// One writer (Rebuild and Apply, serialized) and any number of readers: each reading thread
// keeps its own Xapian::Database and reopens it when the index changed. Rebuild writes a new
// generation next to the current one and switches to it when complete, so searches never wait
// for a build. Thread-safe.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "catalog/catalog_store.h"
#include "catalog/query.h"
#include "core/result.h"

namespace beta500::catalog {

inline constexpr int64_t kSearchLimitMax = 50;
inline constexpr int64_t kSearchOffsetMax = 1000;

struct SearchRequest {
    std::string query;
    int64_t limit = 10;   // 1..kSearchLimitMax
    int64_t offset = 0;   // 0..kSearchOffsetMax
    std::optional<std::string> genre;    // a facet the person picked
    std::optional<int64_t> decade;       // e.g. 1990
};

struct SearchHit {
    int64_t title_id = 0;
    std::string title;
    std::optional<int64_t> year;
    std::vector<std::string> genres;
    std::vector<std::string> directors;
    std::optional<int64_t> rating_tenths;
    double score = 0;
    std::string reason;  // e.g. "genre: Thriller/Suspense; 1990s; directed by David Fincher"
};

struct FacetCount {
    std::string value;
    int64_t count = 0;
};

struct SearchResult {
    std::vector<SearchHit> hits;
    int64_t total = 0;                 // every match (facets count them all)
    std::vector<FacetCount> genres;    // by count, then name; "(none)" for titles without one
    std::vector<FacetCount> decades;   // e.g. "1990s"; "(unknown)" without a year
    std::string corrected;             // the free text after spelling correction, if it changed
    ParsedQuery understood;
};

struct Suggestion {
    int64_t title_id = 0;
    std::string title;
    std::optional<int64_t> year;
};

// The search engine's interface, so a hosted engine could replace the Xapian one.
class SearchEngine {
   public:
    virtual ~SearchEngine() = default;
    virtual bool ready() const = 0;
    virtual Result<SearchResult> Search(const SearchRequest& request) const = 0;
    // Titles whose title words start with the prefix (the last word may be partial).
    virtual Result<std::vector<Suggestion>> Suggest(std::string_view prefix, size_t limit) const = 0;
    // The catalog changed: these titles were created or edited.
    virtual Status Update(const std::vector<Title>& titles) = 0;
};

class XapianSearch final : public SearchEngine {
   public:
    // The index lives in `directory` (created if needed).
    explicit XapianSearch(std::string directory);
    ~XapianSearch() override;

    // Builds a new generation from every title in the store and switches to it.
    Status Rebuild(CatalogStore& store, int64_t now_ms);
    // Opens the current generation if it is complete and holds `expected_count` titles;
    // false if a rebuild is needed.
    bool Load(int64_t expected_count);
    // Adds or replaces these titles in the current generation.
    Status Update(const std::vector<Title>& titles) override;
    // Titles changed before this time (epoch ms) are in the index: the time a build started,
    // or what MarkIndexedUntil last recorded. 0 before anything was built or loaded.
    int64_t indexed_until() const { return indexed_until_.load(); }
    Status MarkIndexedUntil(int64_t now_ms);

    bool ready() const override { return generation_.load() > 0; }
    Result<SearchResult> Search(const SearchRequest& request) const override;
    Result<std::vector<Suggestion>> Suggest(std::string_view prefix, size_t limit) const override;
    int64_t documents() const;

   private:
    struct Reader;
    Reader& ThreadReader() const;
    std::string CurrentPath() const;

    const std::string directory_;
    const uint64_t instance_;  // keys this index's per-thread readers
    mutable std::mutex writer_mutex_;  // one writer at a time
    mutable std::mutex path_mutex_;
    std::string current_path_;          // GUARDED_BY(path_mutex_)
    // Bumped at every change; readers reopen when theirs is older. 0: nothing to search yet.
    std::atomic<int64_t> generation_{0};
    std::atomic<int64_t> next_build_{1};
    std::atomic<int64_t> indexed_until_{0};
};

}  // namespace beta500::catalog
