// SessionStore: where live sessions are recorded, so the checkpoint worker can charge them and
// a restarted server can settle the ones a crash left open. Implemented per database backend.
// Blocking: call it from worker threads. Implementations are thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"

namespace beta500::live {

struct SessionRow {
    int64_t id = 0;
    int64_t user_id = 0;
    int64_t hold_id = 0;
    std::string feature;
    int64_t rate_per_minute = 0;
    std::string instance;  // the server process that holds the session's connection
    std::string status;    // active, ended
    int64_t started_at_ms = 0;
    int64_t last_seen_at_ms = 0;  // the owner's last heartbeat
    int64_t charged = 0;          // credits captured so far (as of the last checkpoint)
    int64_t ticks = 0;            // checkpoints done
    int64_t due_at_ms = 0;        // when the next checkpoint falls due
    std::optional<int64_t> ended_at_ms;
    std::string end_reason;
    int64_t active_ms = 0;  // settled active time, once ended
    std::string email;      // the user's, for listings
};

// A checkpoint's result for one session.
struct ChargeRecord {
    int64_t session_id = 0;
    int64_t charged = 0;
    int64_t tick = 0;
    int64_t due_at_ms = 0;  // the next checkpoint's
};

class SessionStore {
   public:
    virtual ~SessionStore() = default;
    // Records a new active session; returns its id.
    virtual Result<int64_t> Create(const SessionRow& row) = 0;
    // The owner's heartbeat for sessions it is about to charge up to now: their last_seen_at
    // becomes now (never earlier than it was).
    virtual Status Heartbeat(const std::vector<int64_t>& session_ids, int64_t now_ms) = 0;
    // Active sessions of `instance` due by `now_ms`, the longest due first, at most `limit`.
    virtual Result<std::vector<SessionRow>> Due(const std::string& instance, int64_t now_ms, int64_t limit) = 0;
    // Active sessions left by a dead instance, for `instance` to settle: on SQLite, any other
    // instance's (a crashed process); on PostgreSQL, those of instances whose lease ran out,
    // claimed so that one survivor settles each.
    virtual Result<std::vector<SessionRow>> Orphaned(const std::string& instance, int64_t limit) = 0;
    // Renews `instance`'s lease for `ttl_ms` (where several servers share the database; a no-op
    // on SQLite, where one server runs). True when the lease had run out before this renewal:
    // survivors may have claimed the instance's sessions meanwhile.
    virtual Result<bool> Lease(const std::string& instance, int64_t ttl_ms) {
        (void)instance;
        (void)ttl_ms;
        return false;
    }
    // Updates charged, ticks and the next due time of sessions still active.
    virtual Status RecordCharges(const std::vector<ChargeRecord>& charges) = 0;
    // Ends an active session; returns false if it had ended already. Its charge is what its
    // hold captured when the hold is settled, `charged` otherwise.
    virtual Result<bool> End(int64_t id, const std::string& reason, int64_t ended_at_ms,
                             int64_t active_ms, int64_t charged) = 0;
    virtual Result<std::optional<SessionRow>> Find(int64_t id) = 0;
    // Sessions newest first, only active ones if asked, optionally of one user.
    virtual Result<std::vector<SessionRow>> List(bool active_only, std::optional<int64_t> user_id,
                                                 std::optional<int64_t> before_id, int64_t limit) = 0;
};

}  // namespace beta500::live
