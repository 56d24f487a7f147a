// Manager: the live sessions of this server process. Starting a session holds its
// pre-authorization; the checkpoint worker charges every active session each interval to the
// exact credits due for its time; ending a session (for any reason) settles it to the
// millisecond, releases the rest of the hold and records why it ended. Sessions a crashed
// process left open are settled up to their last heartbeat (Recover).
// Thread-safe. Blocking work runs on the blocking pool or the worker thread; ledger work goes
// through the writer.
#pragma once

#include <boost/json/object.hpp>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <semaphore>
#include <string>
#include <thread>
#include <unordered_map>

#include "core/clock.h"
#include "core/config.h"
#include "core/thread_pool.h"
#include "http/stream.h"
#include "ledger/writer.h"
#include "live/events.h"
#include "live/session_store.h"

namespace beta500::obs {
class Registry;
}

namespace beta500::live {

// WebSocket close codes of protocol v1 (docs/websocket.md).
inline constexpr uint16_t kCloseUnauthenticated = 4001;
inline constexpr uint16_t kCloseInsufficientCredits = 4003;
inline constexpr uint16_t kCloseNotBetaUser = 4004;
inline constexpr uint16_t kCloseTooManySessions = 4009;
inline constexpr uint16_t kCloseTerminated = 4010;
inline constexpr uint16_t kCloseBlocked = 4011;
inline constexpr uint16_t kCloseUnsupported = 4022;

enum class EndReason {
    kUserStopped,
    kQuotaFailed,
    kError,
    kAdminTerminated,
    kFraudBlocked,
    kConnectionLost,
    kServerShutdown,
};
std::string_view EndReasonName(EndReason reason);

// The usage feature live sessions are charged to.
inline constexpr std::string_view kLiveFeature = "live_dubbing";

// One live session. Its connection side is `channel`; the rest is the manager's.
struct Session {
    int64_t id = 0;
    int64_t user_id = 0;
    int64_t hold_id = 0;
    int64_t started_at_ms = 0;
    int64_t rate_per_minute = 0;
    std::shared_ptr<http::Channel> channel;
    std::atomic<int64_t> charged{0};
    std::atomic<bool> ending{false};
    int64_t subscription = 0;  // on the event bus
};

struct CycleStats {
    int64_t sessions = 0;        // sessions looked at
    int64_t charged_sessions = 0;
    int64_t credits = 0;
    int64_t ended = 0;           // ended for lack of credits
    int64_t failures = 0;        // sessions whose charge failed (retried next cycle)
    bool store_failed = false;   // the session store could not be read or written: nothing charged
    double seconds = 0;
};

class Manager {
   public:
    using Started = std::function<void(std::shared_ptr<Session>)>;

    // `instance` names this process, unique among the database's servers. Borrows the rest;
    // all must outlive the manager.
    Manager(std::string instance, const Config::Session& config, SessionStore& store,
            ledger::Writer& writer, EventBus& bus, ThreadPool& blocking, const Clock& clock,
            obs::Registry& metrics);
    ~Manager();

    // Starts a session for the user on `channel`: checks the per-user cap (4009), holds the
    // pre-authorization (4003 when short, with `available` and `upgrade_required`), records the
    // session and sends session.started. `started` gets the session, or is not called when the
    // start failed (the channel is then closed with the reason). `details` go into
    // session.started as they are (the dubbing stream's languages and audio formats).
    void Start(int64_t user_id, std::shared_ptr<http::Channel> channel, Started started,
               boost::json::object details = {});
    // Whether the user holds as many sessions as session.concurrent_max allows.
    bool AtCap(int64_t user_id) const;
    // Settles and ends the session, once (later calls do nothing), then sends session.ended and
    // closes the channel with `close_code`. Asynchronous.
    void End(const std::shared_ptr<Session>& session, EndReason reason, uint16_t close_code);
    // Ends a session of this process; false if there is none with this id.
    bool Terminate(int64_t session_id, EndReason reason, uint16_t close_code);
    // Ends every session of the user; returns how many.
    int64_t EndUserSessions(int64_t user_id, EndReason reason, uint16_t close_code);
    // Ends every session of this process; returns how many.
    int64_t EndAll(EndReason reason, uint16_t close_code);
    // Ends the sessions of this process `which` picks; returns how many.
    int64_t EndWhere(const std::function<bool(const Session&)>& which, EndReason reason, uint16_t close_code);
    // Charges the sessions due now, at most session.checkpoint_batch_max of them, the longest
    // due first (blocking). Each falls due at its start plus whole checkpoint intervals, so a
    // server's sessions are charged spread over the interval. The worker calls it every 100 ms,
    // and again at once after a full batch; with nothing due it reads one index and writes nothing.
    CycleStats Checkpoint();
    // Renews this instance's lease, then settles the sessions other (dead) instances left
    // active, up to their last heartbeat, as connection_lost. Blocking; returns how many. The
    // worker calls it every third of session.instance_lease_seconds.
    Result<int64_t> Recover();
    void StartWorker();
    // Stops the worker, ends every session as server_shutdown and waits until all are settled.
    void Shutdown();
    int64_t active() const;

   private:
    struct Metrics;
    int64_t IntervalMs() const { return config_.checkpoint_interval_seconds * 1000; }
    bool Stopping() const {
        std::lock_guard lock(mutex_);
        return stopping_;
    }
    // Checkpoint and settlement charges waiting for the writer at once, at most (well under its
    // queue bound).
    static constexpr std::ptrdiff_t kChargesInFlightMax = 16384;
    // Submits one Meter per row, keyed "live:<id><key_suffix>", and returns the answers in row
    // order. The whole set goes at once (the writer batches it), each answer as it is durable.
    std::vector<std::future<ledger::Response>> Charge(
        const std::vector<SessionRow>& rows,
        const std::function<ledger::Meter(const SessionRow&)>& meter, const std::string& key_suffix);
    // Ends a session's record and counts it (a session with or without a connection here).
    Status EndRecord(int64_t session_id, EndReason reason, int64_t ended_at_ms, int64_t active_ms,
                     int64_t charged);
    // Gives back a place under the user's session cap (a start that failed, or a session gone).
    void ReleaseSlot(int64_t user_id);
    void Forget(const Session& session);
    void Refuse(const std::shared_ptr<http::Channel>& channel, uint16_t code, std::string reason,
                std::string event);

    const std::string instance_;
    const Config::Session config_;
    SessionStore& store_;
    ledger::Writer& writer_;
    EventBus& bus_;
    ThreadPool& blocking_;
    const Clock& clock_;
    std::unique_ptr<Metrics> metrics_;

    mutable std::mutex mutex_;
    std::unordered_map<int64_t, std::shared_ptr<Session>> sessions_;  // GUARDED_BY(mutex_)
    std::unordered_map<int64_t, int64_t> per_user_;  // GUARDED_BY(mutex_); starting or live
    int64_t settling_ = 0;                           // GUARDED_BY(mutex_)
    bool stopping_ = false;                          // GUARDED_BY(mutex_)
    std::condition_variable changed_;

    // Sessions that ended here but whose final charge or record did not go through (the
    // database was away): the worker settles them again until both are durable, and checkpoints
    // leave them alone meanwhile.
    struct Unsettled {
        SessionRow row;  // id, user, hold and rate
        EndReason reason;
        int64_t ended_at_ms = 0;
        int64_t active_ms = 0;
    };
    void SettleUnsettled();
    std::unordered_map<int64_t, Unsettled> unsettled_;  // GUARDED_BY(mutex_)

    std::counting_semaphore<kChargesInFlightMax> charges_in_flight_{kChargesInFlightMax};
    std::thread worker_;
};

}  // namespace beta500::live
