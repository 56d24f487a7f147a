#include "live/manager.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <chrono>

#include "core/crypto.h"
#include "core/log.h"
#include "live/metering.h"
#include "obs/metrics.h"

namespace beta500::live {
namespace json = boost::json;

namespace {

// Who the ledger records for live-session charges.
constexpr const char* kActor = "system:live";
// The close reason sent with 4003: what a client needs to offer a top-up.
std::string InsufficientReason(int64_t available) {
    return json::serialize(json::object{
        {"code", "insufficient_credits"}, {"available", available}, {"upgrade_required", true}});
}

int64_t Int(const json::value& value, std::initializer_list<const char*> path) {
    const json::value* at = &value;
    for (const char* key : path) {
        const auto* object = at->if_object();
        if (object == nullptr || !object->contains(key)) {
            return 0;
        }
        at = &object->at(key);
    }
    if (at->is_string()) {
        return std::stoll(std::string(at->as_string()));
    }
    return at->is_int64() ? at->as_int64() : 0;
}

}  // namespace

std::string_view EndReasonName(EndReason reason) {
    switch (reason) {
        case EndReason::kUserStopped: return "user_stopped";
        case EndReason::kQuotaFailed: return "quota_failed";
        case EndReason::kError: return "error";
        case EndReason::kAdminTerminated: return "admin_terminated";
        case EndReason::kFraudBlocked: return "fraud_blocked";
        case EndReason::kConnectionLost: return "connection_lost";
        case EndReason::kServerShutdown: return "server_shutdown";
    }
    return "error";
}

struct Manager::Metrics {
    explicit Metrics(obs::Registry& metrics)
        : registry(metrics),
          cycle_seconds(metrics.GetHistogram("beta500_live_checkpoint_seconds",
                                             "Duration of one checkpoint cycle.",
                                             obs::LatencyBuckets())),
          sessions_charged(metrics.GetCounter("beta500_live_sessions_charged_total",
                                              "Session charges made by checkpoints.")),
          credits_charged(metrics.GetCounter("beta500_live_credits_charged_total",
                                             "Credits charged by checkpoints.")),
          active(metrics.GetGauge("beta500_live_sessions", "Live sessions on this server.")),
          lateness(metrics.GetHistogram("beta500_live_checkpoint_lateness_seconds",
                                        "From a session's checkpoint falling due to its charge being submitted.",
                                        obs::LatencyBuckets())) {}

    void Ended(EndReason reason) {
        registry
            .GetCounter("beta500_live_sessions_ended_total", "Live sessions ended, by reason.",
                        {{"reason", std::string(EndReasonName(reason))}})
            .Inc();
    }

    obs::Registry& registry;
    obs::Histogram& cycle_seconds;
    obs::Counter& sessions_charged;
    obs::Counter& credits_charged;
    obs::Gauge& active;
    obs::Histogram& lateness;
};

Manager::Manager(std::string instance, const Config::Session& config, SessionStore& store,
                 ledger::Writer& writer, EventBus& bus, ThreadPool& blocking, const Clock& clock,
                 obs::Registry& metrics)
    : instance_(std::move(instance)),
      config_(config),
      store_(store),
      writer_(writer),
      bus_(bus),
      blocking_(blocking),
      clock_(clock),
      metrics_(std::make_unique<Metrics>(metrics)) {}

Manager::~Manager() { Shutdown(); }

std::vector<std::future<ledger::Response>> Manager::Charge(
    const std::vector<SessionRow>& rows, const std::function<ledger::Meter(const SessionRow&)>& meter,
    const std::string& key_suffix) {
    std::vector<std::future<ledger::Response>> answers;
    answers.reserve(rows.size());
    for (const SessionRow& row : rows) {
        auto answer = std::make_shared<std::promise<ledger::Response>>();
        answers.push_back(answer->get_future());
        charges_in_flight_.acquire();
        writer_.Submit({meter(row), kActor, "live:" + std::to_string(row.id) + key_suffix},
                       [this, answer](ledger::Response response) {
                           answer->set_value(std::move(response));
                           charges_in_flight_.release();
                       });
    }
    return answers;
}

Status Manager::EndRecord(int64_t session_id, EndReason reason, int64_t ended_at_ms,
                          int64_t active_ms, int64_t charged) {
    auto ended = store_.End(session_id, std::string(EndReasonName(reason)), ended_at_ms, active_ms, charged);
    if (!ended) {
        spdlog::error("msg=\"live session end not recorded\" session_id={} error={}", session_id,
                      LogQuote(ended.error().message));
        return ended.error();
    }
    metrics_->Ended(reason);
    return Status::Ok();
}

void Manager::Refuse(const std::shared_ptr<http::Channel>& channel, uint16_t code,
                     std::string reason, std::string event) {
    if (!event.empty()) {
        channel->Send(std::move(event));
    }
    channel->Close(code, std::move(reason));
}

bool Manager::AtCap(int64_t user_id) const {
    std::lock_guard lock(mutex_);
    const auto found = per_user_.find(user_id);
    return found != per_user_.end() && found->second >= config_.concurrent_max;
}

void Manager::Start(int64_t user_id, std::shared_ptr<http::Channel> channel, Started started,
                    json::object details) {
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            Refuse(channel, http::kCloseGoingAway, "server shutting down", "");
            return;
        }
        int64_t& count = per_user_[user_id];
        if (count >= config_.concurrent_max) {
            Refuse(channel, kCloseTooManySessions, "too many sessions",
                   json::serialize(json::object{{"type", "error"},
                                                {"code", "too_many_sessions"},
                                                {"limit", config_.concurrent_max}}));
            return;
        }
        ++count;
    }
    ledger::Authorize authorize{user_id, config_.preauth_credits, config_.hold_ttl_seconds,
                                std::string(kLiveFeature), "live session"};
    writer_.Submit(
        {authorize, kActor, "live:start:" + RandomToken(16)},
        [this, user_id, channel, started, details = std::move(details)](ledger::Response response) {
            if (response.rejection != ledger::Rejection::kNone) {
                ReleaseSlot(user_id);
                if (response.rejection == ledger::Rejection::kInsufficientCredits) {
                    const int64_t available = Int(json::parse(response.body), {"available"});
                    json::object event{{"type", "error"},
                                       {"code", "insufficient_credits"},
                                       {"available", available},
                                       {"required", config_.preauth_credits},
                                       {"upgrade_required", true}};
                    Refuse(channel, kCloseInsufficientCredits, InsufficientReason(available),
                           json::serialize(event));
                } else if (response.rejection == ledger::Rejection::kUserSuspended) {
                    Refuse(channel, kCloseBlocked, "blocked", "");
                } else {
                    Refuse(channel, http::kCloseInternal, "credits unavailable; try again", "");
                }
                return;
            }
            const json::value body = json::parse(response.body);
            const int64_t hold_id = Int(body, {"hold", "id"});
            const int64_t available = Int(body, {"balance", "available"});
            blocking_.Post([this, user_id, channel, started, details, hold_id, available] {
                SessionRow row;
                row.user_id = user_id;
                row.hold_id = hold_id;
                row.feature = std::string(kLiveFeature);
                row.rate_per_minute = config_.rate_per_minute;
                row.instance = instance_;
                row.started_at_ms = clock_.NowMs();
                row.last_seen_at_ms = row.started_at_ms;
                row.due_at_ms = row.started_at_ms + IntervalMs();
                auto id = store_.Create(row);
                if (!id) {
                    spdlog::error("msg=\"live session not recorded\" error={}",
                                  LogQuote(id.error().message));
                    writer_.Call({ledger::Release{hold_id}, kActor,
                                  "live:start-failed:" + std::to_string(hold_id)});
                    ReleaseSlot(user_id);
                    Refuse(channel, http::kCloseInternal, "session store unavailable; try again", "");
                    return;
                }
                auto session = std::make_shared<Session>();
                session->id = *id;
                session->user_id = user_id;
                session->hold_id = hold_id;
                session->started_at_ms = row.started_at_ms;
                session->rate_per_minute = row.rate_per_minute;
                session->channel = channel;
                session->subscription =
                    bus_.Subscribe(user_id, [channel](std::string_view name, const std::string& data) {
                        if (name == "credits.warning") {
                            channel->Send(data);
                        }
                    });
                bool stopping = false;
                {
                    std::lock_guard lock(mutex_);
                    sessions_[session->id] = session;
                    metrics_->active.Set(static_cast<int64_t>(sessions_.size()));
                    stopping = stopping_;
                }
                // The connection takes the session first: a client may send as soon as it
                // reads session.started.
                started(session);
                json::object event{{"type", "session.started"},
                                   {"protocol", 1},
                                   {"session_id", std::to_string(session->id)},
                                   {"rate_per_minute", session->rate_per_minute},
                                   {"checkpoint_interval_seconds", config_.checkpoint_interval_seconds},
                                   {"held", config_.preauth_credits},
                                   {"available", available}};
                for (const auto& [key, value] : details) {
                    event[key] = value;
                }
                channel->Send(json::serialize(event));
                if (stopping) {
                    End(session, EndReason::kServerShutdown, http::kCloseGoingAway);
                }
            });
        });
}

void Manager::End(const std::shared_ptr<Session>& session, EndReason reason, uint16_t close_code) {
    if (session->ending.exchange(true)) {
        return;
    }
    {
        std::lock_guard lock(mutex_);
        ++settling_;
    }
    const int64_t now = clock_.NowMs();
    const int64_t active_ms = std::max<int64_t>(0, now - session->started_at_ms);
    ledger::Meter meter{session->hold_id, CreditsDue(active_ms, session->rate_per_minute), 0, 0, true};
    writer_.Submit(
        {meter, kActor, "live:" + std::to_string(session->id) + ":end"},
        [this, session, reason, close_code, now, active_ms](ledger::Response response) {
            int64_t available = -1;
            const bool charged_finally = !ledger::IsTransient(response.rejection);
            if (response.rejection == ledger::Rejection::kNone) {
                const json::value body = json::parse(response.body);
                session->charged = Int(body, {"hold", "captured"});
                available = Int(body, {"balance", "available"});
            } else if (response.rejection != ledger::Rejection::kHoldAlreadyResolved) {
                // Settled below with what the checkpoints charged; the hold expires on its own (or,
                // when the ledger was away, settled again by the worker).
                spdlog::error("msg=\"live session settlement refused\" session_id={} code={}",
                              session->id, ledger::RejectionName(response.rejection));
            }
            blocking_.Post([this, session, reason, close_code, now, active_ms, available, charged_finally] {
                const int64_t charged = session->charged;
                if (!charged_finally || !EndRecord(session->id, reason, now, active_ms, charged)) {
                    SessionRow row;
                    row.id = session->id;
                    row.user_id = session->user_id;
                    row.hold_id = session->hold_id;
                    row.rate_per_minute = session->rate_per_minute;
                    row.charged = charged;
                    std::lock_guard lock(mutex_);
                    unsettled_[session->id] = Unsettled{row, reason, now, active_ms};
                }
                Forget(*session);
                json::object event{{"type", "session.ended"},
                                   {"session_id", std::to_string(session->id)},
                                   {"reason", EndReasonName(reason)},
                                   {"active_ms", active_ms},
                                   {"charged", charged}};
                if (available >= 0) {
                    event["available"] = available;
                }
                const std::string data = json::serialize(event);
                session->channel->Send(data);
                session->channel->Close(close_code, close_code == kCloseInsufficientCredits
                                                        ? InsufficientReason(std::max<int64_t>(available, 0))
                                                        : std::string(EndReasonName(reason)));
                bus_.Publish(session->user_id, "session.ended", data);
                spdlog::info("msg=\"live session ended\" session_id={} user_id={} reason={} "
                             "active_ms={} charged={}",
                             session->id, session->user_id, EndReasonName(reason), active_ms, charged);
                std::lock_guard lock(mutex_);
                --settling_;
                changed_.notify_all();
            });
        });
}

void Manager::ReleaseSlot(int64_t user_id) {
    std::lock_guard lock(mutex_);
    if (--per_user_[user_id] <= 0) {
        per_user_.erase(user_id);
    }
    changed_.notify_all();
}

void Manager::Forget(const Session& session) {
    bus_.Unsubscribe(session.user_id, session.subscription);
    {
        std::lock_guard lock(mutex_);
        sessions_.erase(session.id);
        metrics_->active.Set(static_cast<int64_t>(sessions_.size()));
    }
    ReleaseSlot(session.user_id);
}

bool Manager::Terminate(int64_t session_id, EndReason reason, uint16_t close_code) {
    std::shared_ptr<Session> session;
    {
        std::lock_guard lock(mutex_);
        auto found = sessions_.find(session_id);
        if (found == sessions_.end()) {
            return false;
        }
        session = found->second;
    }
    End(session, reason, close_code);
    return true;
}

int64_t Manager::EndUserSessions(int64_t user_id, EndReason reason, uint16_t close_code) {
    return EndWhere([user_id](const Session& session) { return session.user_id == user_id; }, reason, close_code);
}

int64_t Manager::EndAll(EndReason reason, uint16_t close_code) {
    return EndWhere([](const Session&) { return true; }, reason, close_code);
}

int64_t Manager::EndWhere(const std::function<bool(const Session&)>& which, EndReason reason, uint16_t close_code) {
    std::vector<std::shared_ptr<Session>> ending;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [id, session] : sessions_) {
            if (which(*session)) {
                ending.push_back(session);
            }
        }
    }
    for (const auto& session : ending) {
        End(session, reason, close_code);
    }
    return static_cast<int64_t>(ending.size());
}

CycleStats Manager::Checkpoint() {
    const auto started = std::chrono::steady_clock::now();
    CycleStats stats;
    const int64_t now = clock_.NowMs();
    // A bounded batch of the sessions due is read first, then all its charges go to the writer
    // at once: the writer commits them in its own batches, and each session hears of its charge
    // as soon as its batch is durable, not after the whole cycle.
    auto due = store_.Due(instance_, now, config_.checkpoint_batch_max);
    if (!due) {
        spdlog::error("msg=\"live sessions not read\" error={}", LogQuote(due.error().message));
        stats.store_failed = true;
        return stats;
    }
    // Not charged here: sessions ending now (their final charge is on its way), and sessions
    // ended whose settlement waits for the database.
    std::vector<SessionRow> rows;
    rows.reserve(due->size());
    {
        std::lock_guard lock(mutex_);
        for (SessionRow& row : *due) {
            const auto local = sessions_.find(row.id);
            if (!unsettled_.contains(row.id) && (local == sessions_.end() || !local->second->ending)) {
                rows.push_back(std::move(row));
            }
        }
    }
    if (rows.empty()) {
        return stats;
    }
    // Their heartbeat next: charges below never run ahead of what a crash recovery would settle.
    std::vector<int64_t> ids;
    ids.reserve(rows.size());
    for (const auto& row : rows) {
        ids.push_back(row.id);
    }
    if (Status beat = store_.Heartbeat(ids, now); !beat) {
        spdlog::error("msg=\"live heartbeat failed\" error={}", LogQuote(beat.error().message));
        stats.store_failed = true;
        return stats;
    }
    for (const auto& row : rows) {
        metrics_->lateness.Observe(static_cast<double>(now - row.due_at_ms) / 1000.0);
    }
    auto answers = Charge(rows, [&](const SessionRow& row) {
        const int64_t active_ms = std::max<int64_t>(0, now - row.started_at_ms);
        return ledger::Meter{row.hold_id, CreditsDue(active_ms, row.rate_per_minute),
                             CreditsPerInterval(config_.checkpoint_interval_seconds, row.rate_per_minute),
                             config_.hold_ttl_seconds, false};
    }, ":at:" + std::to_string(now));
    std::vector<ChargeRecord> charges;
    charges.reserve(rows.size());
    for (size_t i = 0; i < rows.size(); ++i) {
        const SessionRow& row = rows[i];
        const ledger::Response response = answers[i].get();
        ++stats.sessions;
        std::shared_ptr<Session> session;
        {
            std::lock_guard lock(mutex_);
            if (auto found = sessions_.find(row.id); found != sessions_.end()) {
                session = found->second;
            }
        }
        // Ends the session: its connection here, or only its record (a session of no connection).
        auto end = [&](EndReason reason, uint16_t close_code, int64_t charged) {
            if (session) {
                End(session, reason, close_code);
            } else {
                (void)EndRecord(row.id, reason, now, now - row.started_at_ms, charged);
            }
        };
        if (response.rejection == ledger::Rejection::kNone) {
            const json::value body = json::parse(response.body);
            const int64_t charged = Int(body, {"charged"});
            const int64_t captured = Int(body, {"hold", "captured"});
            const bool exhausted = body.at("exhausted").as_bool();
            stats.credits += charged;
            stats.charged_sessions += charged > 0 ? 1 : 0;
            // The session's next whole interval after now: on its own schedule, and one that fell
            // behind skips the ticks it missed instead of bursting through them.
            const int64_t next_due =
                row.started_at_ms + ((now - row.started_at_ms) / IntervalMs() + 1) * IntervalMs();
            charges.push_back({row.id, captured, row.ticks + 1, next_due});
            if (session) {
                session->charged = captured;
                session->channel->Send(json::serialize(json::object{
                    {"type", "credits.checkpoint"},
                    {"tick", row.ticks + 1},
                    {"charged", charged},
                    {"total_charged", captured},
                    {"available", Int(body, {"balance", "available"})},
                    {"due_at_ms", row.due_at_ms},
                    {"at_ms", now}}));
            }
            if (exhausted) {
                ++stats.ended;
                end(EndReason::kQuotaFailed, kCloseInsufficientCredits, captured);
            }
        } else if (ledger::IsTransient(response.rejection)) {
            ++stats.failures;  // charged to the same cumulative total next cycle
        } else {
            // The hold is gone (expired during an outage, or settled): the session cannot go on.
            spdlog::error("msg=\"live checkpoint refused\" session_id={} code={}", row.id,
                          ledger::RejectionName(response.rejection));
            ++stats.failures;
            end(EndReason::kError, http::kCloseInternal, row.charged);
        }
    }
    if (Status recorded = store_.RecordCharges(charges); !recorded) {
        spdlog::error("msg=\"live charges not recorded\" error={}", LogQuote(recorded.error().message));
    }
    stats.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    metrics_->cycle_seconds.Observe(stats.seconds);
    metrics_->sessions_charged.Inc(stats.charged_sessions);
    metrics_->credits_charged.Inc(stats.credits);
    if (stats.seconds > 0.8 * static_cast<double>(config_.checkpoint_interval_seconds)) {
        spdlog::warn("msg=\"checkpoint cycle slow\" seconds={:.3f} interval_seconds={} sessions={}",
                     stats.seconds, config_.checkpoint_interval_seconds, stats.sessions);
    }
    return stats;
}

Result<int64_t> Manager::Recover() {
    auto lapsed = store_.Lease(instance_, config_.instance_lease_seconds * 1000);
    if (!lapsed) {
        return lapsed.error();
    }
    if (*lapsed) {
        // Survivors may have settled this instance's sessions: they cannot go on being served.
        const int64_t ended = EndAll(EndReason::kError, http::kCloseInternal);
        spdlog::error("msg=\"live lease had run out; sessions closed\" sessions={}", ended);
    }
    int64_t settled = 0;
    for (;;) {
        auto rows = store_.Orphaned(instance_, config_.checkpoint_batch_max);
        if (!rows) {
            return rows.error();
        }
        if (rows->empty()) {
            return settled;
        }
        auto answers = Charge(*rows, [](const SessionRow& row) {
            const int64_t active_ms = std::max<int64_t>(0, row.last_seen_at_ms - row.started_at_ms);
            return ledger::Meter{row.hold_id, CreditsDue(active_ms, row.rate_per_minute), 0, 0, true};
        }, ":end");
        for (size_t i = 0; i < rows->size(); ++i) {
            const SessionRow& row = (*rows)[i];
            const ledger::Response response = answers[i].get();
            if (ledger::IsTransient(response.rejection)) {
                return Error{ErrorCode::kUnavailable, "the ledger is unavailable"};
            }
            int64_t charged = row.charged;
            if (response.rejection == ledger::Rejection::kNone) {
                charged = Int(json::parse(response.body), {"hold", "captured"});
            }
            const int64_t active_ms = std::max<int64_t>(0, row.last_seen_at_ms - row.started_at_ms);
            if (Status ended = EndRecord(row.id, EndReason::kConnectionLost, row.last_seen_at_ms,
                                         active_ms, charged);
                !ended) {
                return ended.error();
            }
            ++settled;
        }
    }
}

void Manager::SettleUnsettled() {
    std::vector<Unsettled> ends;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [id, end] : unsettled_) {
            ends.push_back(end);
        }
    }
    if (ends.empty()) {
        return;
    }
    std::vector<SessionRow> rows;
    std::unordered_map<int64_t, int64_t> active_ms;
    for (const Unsettled& end : ends) {
        rows.push_back(end.row);
        active_ms[end.row.id] = end.active_ms;
    }
    // The same key as the first attempt: a final charge that did go through is answered again.
    auto answers = Charge(rows, [&](const SessionRow& row) {
        return ledger::Meter{row.hold_id, CreditsDue(active_ms[row.id], row.rate_per_minute), 0, 0, true};
    }, ":end");
    for (size_t i = 0; i < ends.size(); ++i) {
        const Unsettled& end = ends[i];
        const ledger::Response response = answers[i].get();
        if (ledger::IsTransient(response.rejection)) {
            continue;
        }
        const int64_t charged = response.rejection == ledger::Rejection::kNone
                                    ? Int(json::parse(response.body), {"hold", "captured"})
                                    : end.row.charged;
        if (EndRecord(end.row.id, end.reason, end.ended_at_ms, end.active_ms, charged)) {
            std::lock_guard lock(mutex_);
            unsettled_.erase(end.row.id);
        }
    }
}

void Manager::StartWorker() {
    worker_ = std::thread([this] {
        // Sessions fall due at their own times (their start plus whole intervals): the worker
        // looks for due ones this often, so a charge comes at most this late.
        constexpr auto kScan = std::chrono::milliseconds(100);
        constexpr auto kStoreRetry = std::chrono::seconds(1);
        // The instance's lease is renewed, and dead instances' sessions settled, every third of
        // the lease; after a whole lease without renewal, survivors may settle this instance's
        // sessions, so it closes them.
        const auto lease = std::chrono::seconds(config_.instance_lease_seconds);
        auto next = std::chrono::steady_clock::now() + kScan;
        auto next_lease = std::chrono::steady_clock::now() + lease / 3;
        auto leased_at = std::chrono::steady_clock::now();
        for (;;) {
            {
                std::unique_lock lock(mutex_);
                if (changed_.wait_until(lock, next, [this] { return stopping_; })) {
                    return;
                }
            }
            if (const auto now = std::chrono::steady_clock::now(); now >= next_lease) {
                next_lease = now + lease / 3;
                SettleUnsettled();
                if (auto settled = Recover(); !settled) {
                    spdlog::error("msg=\"live lease or recovery failed\" error={}", LogQuote(settled.error().message));
                    if (now - leased_at > lease) {
                        EndAll(EndReason::kError, http::kCloseInternal);
                    }
                } else {
                    leased_at = now;
                    if (*settled > 0) {
                        spdlog::warn("msg=\"settled live sessions of a dead instance\" sessions={}", *settled);
                    }
                }
            }
            // A full batch that went through means more are due: the next one at once. A store
            // that failed is tried again after a second, not every scan.
            CycleStats stats;
            do {
                stats = Checkpoint();
            } while (stats.sessions >= config_.checkpoint_batch_max && stats.failures == 0 && !Stopping() &&
                     std::chrono::steady_clock::now() < next_lease);
            next = std::max(next + (stats.store_failed ? kStoreRetry : kScan), std::chrono::steady_clock::now());
        }
    });
}

void Manager::Shutdown() {
    std::vector<std::shared_ptr<Session>> ending;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        for (const auto& [id, session] : sessions_) {
            ending.push_back(session);
        }
    }
    changed_.notify_all();
    if (worker_.joinable()) {
        worker_.join();
    }
    for (const auto& session : ending) {
        End(session, EndReason::kServerShutdown, http::kCloseGoingAway);
    }
    // Sessions still starting are ended as they register (see Start).
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return per_user_.empty() && settling_ == 0; });
}

int64_t Manager::active() const {
    std::lock_guard lock(mutex_);
    return static_cast<int64_t>(sessions_.size());
}

}  // namespace beta500::live
