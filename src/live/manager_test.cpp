// The session manager on a real SQLite database and ledger writer, with a controllable clock:
// pre-authorization refusal, exact charging and settlement to the millisecond, exhaustion to
// exactly zero, the per-user cap, warnings once per crossing and re-armed by a top-up, crash
// recovery up to the last heartbeat, and shutdown settling every session. The channel is a
// recorder behind the server's Channel interface; the WebSocket itself is tested end to end in
// tests/functional/test_live.py.
#include "live/manager.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <condition_variable>
#include <future>

#include "ledger/audit.h"
#include "obs/metrics.h"
#include "store/testing.h"

namespace beta500::live {
namespace {
namespace json = boost::json;

constexpr int64_t kStart = 1'900'000'000'000;

class RecordingChannel : public http::Channel {
   public:
    bool Send(std::string data, bool binary) override {
        std::lock_guard lock(mutex_);
        if (closed_) {
            return false;
        }
        if (!binary) {
            events_.push_back(json::parse(data).as_object());
        }
        changed_.notify_all();
        return true;
    }
    void Close(uint16_t code, std::string reason) override {
        std::lock_guard lock(mutex_);
        if (!closed_) {
            closed_ = true;
            code_ = code;
            reason_ = std::move(reason);
        }
        changed_.notify_all();
    }
    // The first event of this type, waiting up to 5 s for it.
    std::optional<json::object> Event(std::string_view type, size_t nth = 0) {
        std::unique_lock lock(mutex_);
        std::optional<json::object> found;
        changed_.wait_for(lock, std::chrono::seconds(5), [&] {
            size_t seen = 0;
            for (const auto& event : events_) {
                if (event.at("type").as_string() == type && seen++ == nth) {
                    found = event;
                    return true;
                }
            }
            return false;
        });
        return found;
    }
    size_t Count(std::string_view type) {
        std::lock_guard lock(mutex_);
        return static_cast<size_t>(std::count_if(events_.begin(), events_.end(), [&](const auto& e) {
            return e.at("type").as_string() == type;
        }));
    }
    uint16_t WaitClosed() {
        std::unique_lock lock(mutex_);
        changed_.wait_for(lock, std::chrono::seconds(5), [&] { return closed_; });
        return closed_ ? code_ : 0;
    }
    std::string reason() {
        std::lock_guard lock(mutex_);
        return reason_;
    }

   private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<json::object> events_;
    bool closed_ = false;
    uint16_t code_ = 0;
    std::string reason_;
};

// Every test runs on SQLite and on PostgreSQL (the `postgres` fixture's private cluster).
class ManagerTest : public ::testing::TestWithParam<std::string> {
   protected:
    void SetUp() override {
        clock_.Set(kStart);
        database_ = store::TestBackend::Make(GetParam(), clock_);
        ledger::WriterOptions options;
        options.on_commit = [this](const std::vector<ledger::WalletBalance>& balances) {
            bus_.OnCommit(balances);
        };
        writer_ = std::move(*ledger::Writer::Start(database_->NewLedgerStore(), options, clock_, nullptr));
        sessions_ = database_->NewSessionStore();
        manager_ = std::make_unique<Manager>("test", config_, *sessions_, *writer_, bus_, pool_, clock_, metrics_);
    }
    void TearDown() override {
        manager_.reset();
        const auto audit = ledger::Audit(*database_->LoadAudit(int64_t{1} << 40));
        EXPECT_TRUE(audit.ok()) << (audit.problems.empty() ? "" : audit.problems.front());
        writer_.reset();
        sessions_.reset();
        database_.reset();
    }
    int64_t User(int64_t credits) {
        const int64_t user = database_->CreateUser("u" + std::to_string(++users_) + "@example.com");
        if (credits > 0) {
            EXPECT_EQ(Do(ledger::Grant{user, credits, std::nullopt, "test"}).rejection,
                      ledger::Rejection::kNone);
        }
        return user;
    }
    ledger::Response Do(ledger::Operation operation) {
        return writer_->Call({std::move(operation), "test", "k" + std::to_string(++keys_)});
    }
    store::TestBalance Balance(int64_t user) { return database_->Balance(user); }
    // Starts a session and waits for it.
    std::pair<std::shared_ptr<RecordingChannel>, std::shared_ptr<Session>> Start(int64_t user) {
        auto channel = std::make_shared<RecordingChannel>();
        std::promise<std::shared_ptr<Session>> started;
        manager_->Start(user, channel, [&](std::shared_ptr<Session> s) { started.set_value(s); });
        auto future = started.get_future();
        EXPECT_EQ(future.wait_for(std::chrono::seconds(5)), std::future_status::ready);
        return {channel, future.get()};
    }
    SessionRow Row(int64_t id) { return **sessions_->Find(id); }

    ManualClock clock_{kStart};
    obs::Registry metrics_;
    EventBus bus_;
    ThreadPool pool_{2};
    std::unique_ptr<store::TestBackend> database_;
    std::unique_ptr<ledger::Writer> writer_;
    std::unique_ptr<SessionStore> sessions_;
    Config::Session config_;
    std::unique_ptr<Manager> manager_;
    int users_ = 0;
    int keys_ = 0;
};

TEST_P(ManagerTest, RefusesToStartWhenShortOfThePreAuthorization) {
    const int64_t user = User(59);
    auto channel = std::make_shared<RecordingChannel>();
    manager_->Start(user, channel, [](std::shared_ptr<Session>) { FAIL() << "started"; });
    EXPECT_EQ(channel->WaitClosed(), kCloseInsufficientCredits);
    const auto reason = json::parse(channel->reason()).as_object();
    EXPECT_EQ(reason.at("available").as_int64(), 59);
    EXPECT_TRUE(reason.at("upgrade_required").as_bool());
    EXPECT_EQ(channel->Event("error")->at("code").as_string(), "insufficient_credits");
    EXPECT_EQ(Balance(user).available, 59);
    // With exactly the pre-authorization it starts.
    const int64_t enough = User(60);
    EXPECT_NE(Start(enough).second, nullptr);
}

TEST_P(ManagerTest, ChargesEachCheckpointAndSettlesToTheMillisecond) {
    const int64_t user = User(1000);
    auto [channel, session] = Start(user);
    ASSERT_NE(session, nullptr);
    EXPECT_EQ(channel->Event("session.started")->at("held").as_int64(), 60);
    EXPECT_EQ(Balance(user).held, 60);
    clock_.Advance(30'000);
    const CycleStats stats = manager_->Checkpoint();
    EXPECT_EQ(stats.sessions, 1);
    EXPECT_EQ(stats.credits, 30);
    const auto checkpoint = channel->Event("credits.checkpoint");
    EXPECT_EQ(checkpoint->at("charged").as_int64(), 30);
    EXPECT_EQ(checkpoint->at("total_charged").as_int64(), 30);
    EXPECT_EQ(Row(session->id).charged, 30);
    EXPECT_EQ(Balance(user).posted, 970);
    clock_.Advance(12'345);
    manager_->End(session, EndReason::kUserStopped, http::kCloseNormal);
    EXPECT_EQ(channel->WaitClosed(), http::kCloseNormal);
    const auto ended = channel->Event("session.ended");
    EXPECT_EQ(ended->at("reason").as_string(), "user_stopped");
    EXPECT_EQ(ended->at("charged").as_int64(), 42);  // floor(42.345 s x 60/min)
    const SessionRow row = Row(session->id);
    EXPECT_EQ(row.status, "ended");
    EXPECT_EQ(row.end_reason, "user_stopped");
    EXPECT_EQ(row.active_ms, 42'345);
    EXPECT_EQ(row.charged, CreditsDue(row.active_ms, 60));
    EXPECT_EQ(Balance(user).posted, 958);
    EXPECT_EQ(Balance(user).held, 0);
    EXPECT_EQ(Balance(user).available, 958);
    EXPECT_EQ(manager_->active(), 0);
}

TEST_P(ManagerTest, RunsOutToExactlyZeroWithWarningsOnTheWay) {
    const int64_t user = User(100);
    auto [channel, session] = Start(user);
    ASSERT_NE(session, nullptr);
    for (int tick = 1; tick <= 4; ++tick) {
        clock_.Advance(30'000);
        manager_->Checkpoint();
    }
    EXPECT_EQ(channel->WaitClosed(), kCloseInsufficientCredits);
    const auto reason = json::parse(channel->reason()).as_object();
    EXPECT_EQ(reason.at("available").as_int64(), 0);
    EXPECT_TRUE(reason.at("upgrade_required").as_bool());
    EXPECT_EQ(channel->Event("session.ended")->at("reason").as_string(), "quota_failed");
    EXPECT_EQ(Balance(user).posted, 0);
    EXPECT_EQ(Balance(user).available, 0);
    EXPECT_EQ(Balance(user).held, 0);
    EXPECT_EQ(Row(session->id).end_reason, "quota_failed");
    EXPECT_EQ(Row(session->id).charged, 100);
    // 20 %, 10 % and 5 % of the 100 granted, each once.
    ASSERT_TRUE(channel->Event("credits.warning", 2));
    EXPECT_EQ(channel->Count("credits.warning"), 3U);
    EXPECT_EQ(channel->Event("credits.warning", 0)->at("threshold_percent").as_int64(), 20);
    EXPECT_EQ(channel->Event("credits.warning", 2)->at("threshold_percent").as_int64(), 5);
}

TEST_P(ManagerTest, ATopUpDuringASessionTakesEffectAtTheNextCheckpointAndReArmsWarnings) {
    const int64_t user = User(100);
    auto [channel, session] = Start(user);
    for (int tick = 1; tick <= 3; ++tick) {  // 90 charged, 10 held, 0 available
        clock_.Advance(30'000);
        manager_->Checkpoint();
    }
    ASSERT_TRUE(channel->Event("credits.warning", 2));
    ASSERT_EQ(Do(ledger::Grant{user, 900, std::nullopt, "top-up"}).rejection, ledger::Rejection::kNone);
    clock_.Advance(30'000);
    manager_->Checkpoint();
    EXPECT_EQ(channel->Event("credits.checkpoint", 3)->at("total_charged").as_int64(), 120);
    EXPECT_EQ(Row(session->id).status, "active");
    // 1000 received, 880 posted, 30 held: 850 available, above every threshold again. Spend
    // down to 20 %: the first warning comes again.
    ASSERT_EQ(Do(ledger::Deduct{user, 650, "ai_search", ""}).rejection, ledger::Rejection::kNone);
    ASSERT_TRUE(channel->Event("credits.warning", 3));
    EXPECT_EQ(channel->Event("credits.warning", 3)->at("threshold_percent").as_int64(), 20);
}

TEST_P(ManagerTest, ChargesDueSessionsInBoundedBatchesLongestDueFirst) {
    config_.checkpoint_batch_max = 2;  // five sessions: batches of 2, 2 and 1
    manager_ = std::make_unique<Manager>("test", config_, *sessions_, *writer_, bus_, pool_, clock_, metrics_);
    std::vector<std::shared_ptr<Session>> started;
    for (int i = 0; i < 5; ++i) {
        started.push_back(Start(User(1000)).second);
        clock_.Advance(1'000);
    }
    clock_.Advance(30'000);
    std::vector<int64_t> batches;
    for (CycleStats stats; (stats = manager_->Checkpoint()).sessions > 0;) {
        batches.push_back(stats.sessions);
    }
    EXPECT_EQ(batches, (std::vector<int64_t>{2, 2, 1}));
    for (size_t i = 0; i < started.size(); ++i) {
        EXPECT_EQ(Row(started[i]->id).charged, 35 - static_cast<int64_t>(i));  // each to the millisecond
    }
    // The first batch held the two sessions due longest.
    EXPECT_EQ(Row(started[0]->id).last_seen_at_ms, Row(started[1]->id).last_seen_at_ms);
}

TEST_P(ManagerTest, ChargesEachSessionWhenItFallsDueOnItsOwnSchedule) {
    auto [early_channel, early] = Start(User(1000));
    clock_.Advance(10'000);
    auto [late_channel, late] = Start(User(1000));
    EXPECT_EQ(manager_->Checkpoint().sessions, 0);  // nothing due: nothing read beyond the index
    clock_.Advance(19'999);
    EXPECT_EQ(manager_->Checkpoint().sessions, 0);
    clock_.Advance(1);  // 30 s after the first start
    CycleStats stats = manager_->Checkpoint();
    EXPECT_EQ(stats.sessions, 1);
    EXPECT_EQ(Row(early->id).charged, 30);
    EXPECT_EQ(Row(early->id).due_at_ms, kStart + 60'000);
    EXPECT_EQ(Row(late->id).charged, 0);
    EXPECT_EQ(early_channel->Event("credits.checkpoint")->at("due_at_ms").as_int64(), kStart + 30'000);
    clock_.Advance(10'000);  // 30 s after the second start
    stats = manager_->Checkpoint();
    EXPECT_EQ(stats.sessions, 1);
    EXPECT_EQ(Row(late->id).charged, 30);
    EXPECT_EQ(Row(late->id).ticks, 1);
    EXPECT_EQ(Row(late->id).last_seen_at_ms, kStart + 40'000);  // its heartbeat before its charge
    EXPECT_EQ(Row(early->id).last_seen_at_ms, kStart + 30'000);
    // A session far behind (the server was busy) is charged to the millisecond and goes on with
    // its next tick a whole interval later, not a burst of the missed ones.
    clock_.Advance(75'000);  // 115 s after the first start: its ticks at 60 and 90 s were missed
    stats = manager_->Checkpoint();
    EXPECT_EQ(stats.sessions, 2);
    EXPECT_EQ(Row(early->id).charged, 115);
    EXPECT_EQ(Row(early->id).due_at_ms, kStart + 120'000);  // its 4th interval: 60 and 90 s skipped
    EXPECT_EQ(Row(early->id).ticks, 2);
    EXPECT_EQ(Row(late->id).charged, 105);
    EXPECT_EQ(Row(late->id).due_at_ms, kStart + 130'000);  // 10 s + 4 x 30 s: 70 and 100 s skipped
}

TEST_P(ManagerTest, CapsConcurrentSessionsPerUser) {
    const int64_t user = User(1000);
    auto first = Start(user);
    auto second = Start(user);
    ASSERT_NE(first.second, nullptr);
    ASSERT_NE(second.second, nullptr);
    auto third = std::make_shared<RecordingChannel>();
    manager_->Start(user, third, [](std::shared_ptr<Session>) { FAIL() << "started"; });
    EXPECT_EQ(third->WaitClosed(), kCloseTooManySessions);
    EXPECT_EQ(Balance(user).held, 120);  // the third held nothing
    // Another user is not affected; ending one frees a slot.
    EXPECT_NE(Start(User(100)).second, nullptr);
    manager_->End(first.second, EndReason::kUserStopped, http::kCloseNormal);
    first.first->WaitClosed();
    EXPECT_NE(Start(user).second, nullptr);
}

TEST_P(ManagerTest, TerminateAndSuspensionEndWithTheirCodes) {
    const int64_t user = User(1000);
    auto [channel, session] = Start(user);
    EXPECT_FALSE(manager_->Terminate(session->id + 100, EndReason::kAdminTerminated, kCloseTerminated));
    EXPECT_TRUE(manager_->Terminate(session->id, EndReason::kAdminTerminated, kCloseTerminated));
    EXPECT_EQ(channel->WaitClosed(), kCloseTerminated);
    auto [other, second] = Start(user);
    EXPECT_EQ(manager_->EndUserSessions(user, EndReason::kAdminTerminated, kCloseBlocked), 1);
    EXPECT_EQ(other->WaitClosed(), kCloseBlocked);
}

TEST_P(ManagerTest, RecoversSessionsADeadProcessLeftUpToTheirLastHeartbeat) {
    const int64_t user = User(1000);
    const auto hold = Do(ledger::Authorize{user, 60, 3600, "live_dubbing", "live session"});
    ASSERT_EQ(hold.rejection, ledger::Rejection::kNone);
    SessionRow row;
    row.user_id = user;
    row.hold_id = std::stoll(std::string(json::parse(hold.body).at("hold").at("id").as_string()));
    row.feature = "live_dubbing";
    row.rate_per_minute = 60;
    row.instance = "dead";
    row.started_at_ms = kStart;
    row.last_seen_at_ms = kStart + 40'500;
    const int64_t id = *sessions_->Create(row);
    clock_.Advance(3'600'000 - 1);  // an hour later, just before the hold would expire
    EXPECT_EQ(*manager_->Recover(), 1);
    const SessionRow settled = Row(id);
    EXPECT_EQ(settled.end_reason, "connection_lost");
    EXPECT_EQ(settled.active_ms, 40'500);
    EXPECT_EQ(settled.charged, 40);
    EXPECT_EQ(Balance(user).posted, 960);
    EXPECT_EQ(Balance(user).held, 0);
    EXPECT_EQ(*manager_->Recover(), 0);  // nothing twice
}

TEST_P(ManagerTest, ShutdownSettlesEverySession) {
    auto [one, first] = Start(User(1000));
    auto [two, second] = Start(User(1000));
    clock_.Advance(10'000);
    manager_->Shutdown();
    for (const auto& [channel, session] : {std::pair{one, first}, std::pair{two, second}}) {
        EXPECT_EQ(channel->WaitClosed(), http::kCloseGoingAway);
        EXPECT_EQ(Row(session->id).end_reason, "server_shutdown");
        EXPECT_EQ(Row(session->id).charged, 10);
    }
    // New sessions are refused once shutdown began.
    auto late = std::make_shared<RecordingChannel>();
    manager_->Start(User(1000), late, [](std::shared_ptr<Session>) { FAIL() << "started"; });
    EXPECT_EQ(late->WaitClosed(), http::kCloseGoingAway);
}

INSTANTIATE_TEST_SUITE_P(Backends, ManagerTest, ::testing::Values("sqlite", "postgres"),
                         [](const ::testing::TestParamInfo<std::string>& backend) { return backend.param; });

}  // namespace
}  // namespace beta500::live
