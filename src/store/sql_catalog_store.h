// SqlCatalogStore: catalog::CatalogStore on either database (store/sql.h), over one connection
// of its own.
// Thread-safe (one call at a time).
#pragma once

#include <memory>
#include <mutex>

#include "catalog/catalog_store.h"
#include "store/sqlite.h"  // LockedCall

namespace beta500::store {

class SqlCatalogStore final : public catalog::CatalogStore {
   public:
    explicit SqlCatalogStore(std::unique_ptr<SqlConnection> connection) : connection_(std::move(connection)) {}

    Result<std::vector<std::pair<catalog::UpsertOutcome, int64_t>>> Upsert(const std::vector<catalog::Title>& titles,
                                                                     int64_t now_ms) override;
    Result<bool> Update(const catalog::Title& title, int64_t now_ms) override;
    Result<std::optional<catalog::Title>> Find(int64_t id) override;
    Result<std::vector<catalog::Title>> Page(int64_t after_id, int64_t limit) override;
    Result<std::vector<catalog::Title>> ChangedSince(int64_t since_ms) override;
    Result<int64_t> Count() override;
    Status RecordWatch(const catalog::Watch& watch) override;
    Result<std::vector<catalog::Watch>> WatchesOf(int64_t user_id) override;
    Result<std::pair<int64_t, bool>> HistoryHolds(int64_t user_id, int64_t title_id) override;
    Result<std::vector<catalog::Watch>> AllWatches() override;
    Status SaveRecommendations(int64_t user_id, const std::string& list, int64_t now_ms) override;
    Result<std::optional<std::string>> Recommendations(int64_t user_id) override;

   private:
    template <typename Body>
    auto Locked(Body&& body) -> decltype(body());

    std::mutex mutex_;
    std::unique_ptr<SqlConnection> connection_;  // GUARDED_BY(mutex_)
};

}  // namespace beta500::store
