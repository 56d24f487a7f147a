// PgSessionStore: live::SessionStore on PostgreSQL, over one connection of its own. Each server
// charges the sessions it holds; leases in `instances` (on the database's clock) tell which
// servers are alive, and the sessions of a dead one are claimed (SKIP LOCKED) by one survivor to
// settle. Each checkpoint recorded leaves a row in live_charges, keyed (session, tick).
// Thread-safe (one call at a time).
#pragma once

#include <memory>
#include <mutex>

#include "live/session_store.h"
#include "store/postgres.h"

namespace beta500::store {

class PgSessionStore final : public live::SessionStore {
   public:
    explicit PgSessionStore(std::unique_ptr<PgConnection> connection) : db_(std::move(connection)) {}

    Result<int64_t> Create(const live::SessionRow& row) override;
    Status Heartbeat(const std::vector<int64_t>& session_ids, int64_t now_ms) override;
    Result<std::vector<live::SessionRow>> Due(const std::string& instance, int64_t now_ms, int64_t limit) override;
    Result<std::vector<live::SessionRow>> Orphaned(const std::string& instance, int64_t limit) override;
    Result<bool> Lease(const std::string& instance, int64_t ttl_ms) override;
    Status RecordCharges(const std::vector<live::ChargeRecord>& charges) override;
    Result<bool> End(int64_t id, const std::string& reason, int64_t ended_at_ms, int64_t active_ms,
                     int64_t charged) override;
    Result<std::optional<live::SessionRow>> Find(int64_t id) override;
    Result<std::vector<live::SessionRow>> List(bool active_only, std::optional<int64_t> user_id,
                                               std::optional<int64_t> before_id, int64_t limit) override;

   private:
    // REQUIRES(mutex_)
    Result<PgRows> Exec(const std::string& sql, const PgParams& params = {});
    Result<std::vector<live::SessionRow>> Select(const std::string& where, const PgParams& params,
                                                 const std::string& with = "");

    std::mutex mutex_;
    std::unique_ptr<PgConnection> db_;  // GUARDED_BY(mutex_)
};

}  // namespace beta500::store
