// SqliteSessionStore: live::SessionStore on SQLite, over one connection of its own.
// Thread-safe (one call at a time).
#pragma once

#include <memory>
#include <mutex>

#include "live/session_store.h"
#include "store/sqlite.h"

namespace beta500::store {

class SqliteSessionStore final : public live::SessionStore {
   public:
    explicit SqliteSessionStore(std::unique_ptr<Connection> connection)
        : connection_(std::move(connection)) {}

    Result<int64_t> Create(const live::SessionRow& row) override;
    Status Heartbeat(const std::vector<int64_t>& session_ids, int64_t now_ms) override;
    Result<std::vector<live::SessionRow>> Due(const std::string& instance, int64_t now_ms, int64_t limit) override;
    Result<std::vector<live::SessionRow>> Orphaned(const std::string& instance, int64_t limit) override;
    Status RecordCharges(const std::vector<live::ChargeRecord>& charges) override;
    Result<bool> End(int64_t id, const std::string& reason, int64_t ended_at_ms, int64_t active_ms,
                     int64_t charged) override;
    Result<std::optional<live::SessionRow>> Find(int64_t id) override;
    Result<std::vector<live::SessionRow>> List(bool active_only, std::optional<int64_t> user_id,
                                               std::optional<int64_t> before_id, int64_t limit) override;

   private:
    // Runs `body` under the lock, mapping a storage failure to an error.
    template <typename Body>
    auto Locked(Body&& body) -> decltype(body());
    std::vector<live::SessionRow> Rows(Statement& statement);

    std::mutex mutex_;
    std::unique_ptr<Connection> connection_;  // GUARDED_BY(mutex_)
};

}  // namespace beta500::store
