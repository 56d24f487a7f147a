// The catalog's storage: titles and people's watch history. An interface so another database
// can stand behind it (store::SqlCatalogStore serves both databases). Blocking; implementations
// are thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace beta500::catalog {

struct Title {
    int64_t id = 0;
    std::string source_id;  // the importer's key: a re-import updates instead of duplicating
    std::string title;
    std::optional<int64_t> year;
    std::vector<std::string> genres;
    std::vector<std::string> directors;
    std::vector<std::string> cast;
    std::vector<std::string> languages;
    std::string description;
    std::optional<int64_t> rating_tenths;  // 0.0-10.0 in tenths (IMDb style)
    int64_t votes = 0;
    std::optional<int64_t> runtime_minutes;
    std::string source;         // e.g. "Based on Book/Short Story"
    std::string creative_type;  // e.g. "Science Fiction"
};

// What one person did with one title, accumulated.
struct Watch {
    int64_t user_id = 0;
    int64_t title_id = 0;
    int64_t views = 0;
    int64_t progress_percent = 0;           // the furthest seen
    std::optional<int64_t> rating_tenths;   // the person's own rating, last given
    int64_t updated_at_ms = 0;
};

enum class UpsertOutcome { kCreated, kUpdated, kUnchanged };

class CatalogStore {
   public:
    virtual ~CatalogStore() = default;

    // In one transaction: titles with a source_id already stored are updated, others created.
    // Returns each title's outcome and id, in order.
    virtual Result<std::vector<std::pair<UpsertOutcome, int64_t>>> Upsert(const std::vector<Title>& titles,
                                                                    int64_t now_ms) = 0;
    // Replaces a stored title (by id); false if there is none.
    virtual Result<bool> Update(const Title& title, int64_t now_ms) = 0;
    virtual Result<std::optional<Title>> Find(int64_t id) = 0;
    // Titles in id order after `after_id`, at most `limit`.
    virtual Result<std::vector<Title>> Page(int64_t after_id, int64_t limit) = 0;
    // Titles changed at or after `since_ms`, in id order (for incremental index updates).
    virtual Result<std::vector<Title>> ChangedSince(int64_t since_ms) = 0;
    virtual Result<int64_t> Count() = 0;

    // Adds a view (views_delta), raises progress, sets the rating if given.
    virtual Status RecordWatch(const Watch& watch) = 0;
    virtual Result<std::vector<Watch>> WatchesOf(int64_t user_id) = 0;
    // How many titles the user's history holds, and whether `title_id` is one of them.
    virtual Result<std::pair<int64_t, bool>> HistoryHolds(int64_t user_id, int64_t title_id) = 0;
    // Every watch, in (user, title) order (the recommender's training input).
    virtual Result<std::vector<Watch>> AllWatches() = 0;
    // The user's last recommendation list (JSON), kept for every server to answer.
    virtual Status SaveRecommendations(int64_t user_id, const std::string& list, int64_t now_ms) = 0;
    virtual Result<std::optional<std::string>> Recommendations(int64_t user_id) = 0;
};

}  // namespace beta500::catalog
