// The guard on a real SQLite database with a manual clock: signals counted within their window,
// one risk event per hit (and the user's risk score), blocks refused, suspension applied at once
// with the sessions ended, burn velocity from the journal, and the admins' decisions audited.
#include "fraud/guard.h"

#include <gtest/gtest.h>

#include <filesystem>

#include <boost/json.hpp>

#include "ledger/writer.h"

namespace beta500::fraud {
namespace {

class GuardTest : public ::testing::Test {
   protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("beta500-fraud-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        Config::Database database_config;
        database_config.data_dir = dir_.string();
        database_config.synchronous = "normal";
        database_ = std::move(*store::Database::Open(database_config, clock_));
        config_.fraud.accounts_per_ip_threshold = 2;
        config_.fraud.accounts_per_ip_action = "block_action";
        config_.fraud.session_starts_threshold = 3;
        config_.fraud.session_starts_action = "suspend_user";
        config_.fraud.failed_sign_ins_per_ip_threshold = 3;
        config_.fraud.sign_ins_per_account_threshold = 2;
        Reset();
    }
    void TearDown() override {
        guard_.reset();
        database_.reset();
        std::filesystem::remove_all(dir_);
    }
    void Reset() {
        guard_ = std::make_unique<Guard>(config_, *database_, clock_, metrics_, *LoadDisposableDomains(""),
                                         [this](int64_t user) { ended_.push_back(user); });
    }
    int64_t User(const std::string& email) { return *database_->CreateUser(email, "user"); }
    std::vector<store::RiskEvent> Events() { return *database_->ListRiskEvents(std::nullopt, std::nullopt, std::nullopt, 100); }

    std::filesystem::path dir_;
    ManualClock clock_{1'800'000'000'000};
    obs::Registry metrics_;
    Config config_;
    std::unique_ptr<store::Database> database_;
    std::unique_ptr<Guard> guard_;
    std::vector<int64_t> ended_;
};

TEST_F(GuardTest, AccountsPerIpWithinTheWindow) {
    const int64_t a = User("a@example.com"), b = User("b@example.com"), c = User("c@example.com");
    EXPECT_FALSE(guard_->OnSignIn(a, "10.0.0.1", "").blocked);
    EXPECT_FALSE(guard_->OnSignIn(a, "10.0.0.1", "").blocked);  // the same account again
    EXPECT_FALSE(guard_->OnSignIn(b, "10.0.0.1", "").blocked);  // 2: the threshold
    const Verdict third = guard_->OnSignIn(c, "10.0.0.1", "");  // 3: over it
    EXPECT_TRUE(third.blocked);
    EXPECT_FALSE(third.suspended);
    ASSERT_EQ(Events().size(), 1U);
    EXPECT_EQ(Events()[0].rule, "accounts_per_ip");
    EXPECT_EQ(Events()[0].user_id, c);
    EXPECT_EQ(*database_->RiskScore(c), 20);
    EXPECT_FALSE(guard_->OnSignIn(c, "10.0.0.2", "").blocked);  // another address
    // A day later the window has moved on.
    clock_.Advance(86'400'001);
    EXPECT_FALSE(guard_->OnSignIn(c, "10.0.0.1", "").blocked);
}

TEST_F(GuardTest, SuspensionIsImmediateAndEndsSessions) {
    const int64_t user = User("s@example.com");
    auto writer = std::move(*ledger::Writer::Start(database_->NewLedgerStore(), {}, clock_, nullptr));
    ASSERT_EQ(writer->Call({ledger::Grant{user, 1000, std::nullopt, "test"}, "test", "g"}).rejection,
              ledger::Rejection::kNone);
    auto sessions = database_->NewSessionStore();
    // Three starts allowed (the threshold), the fourth suspends.
    for (int i = 0; i < 3; ++i) {
        EXPECT_FALSE(guard_->OnSessionStart(user).blocked);
        const auto hold = writer->Call({ledger::Authorize{user, 10, 600, "live_dubbing", ""}, "test", "h" + std::to_string(i)});
        const int64_t hold_id = std::stoll(std::string(boost::json::parse(hold.body).at("hold").at("id").as_string()));
        ASSERT_TRUE(sessions->Create(live::SessionRow{.user_id = user, .hold_id = hold_id, .feature = "live_dubbing",
                                                      .rate_per_minute = 60, .instance = "i", .status = "active",
                                                      .started_at_ms = clock_.NowMs(), .last_seen_at_ms = clock_.NowMs()}));
    }
    writer->Stop();
    const Verdict verdict = guard_->OnSessionStart(user);
    EXPECT_TRUE(verdict.suspended);
    EXPECT_TRUE(database_->IsSuspended(user));
    EXPECT_EQ(ended_, std::vector<int64_t>{user});
    EXPECT_EQ(Events()[0].action, "suspend_user");
}

TEST_F(GuardTest, RateRulesThrottleAndRecordOnce) {
    for (int i = 0; i < 3; ++i) {
        guard_->RecordFailure("10.9.9.9");
        EXPECT_FALSE(guard_->IpThrottled("10.9.9.9"));
    }
    guard_->RecordFailure("10.9.9.9");
    EXPECT_TRUE(guard_->IpThrottled("10.9.9.9"));
    guard_->RecordFailure("10.9.9.9");
    EXPECT_FALSE(guard_->IpThrottled("10.9.9.8"));
    EXPECT_EQ(Events().size(), 1U);  // one event when the limit was first passed
    clock_.Advance(900'001);
    EXPECT_FALSE(guard_->IpThrottled("10.9.9.9"));
    EXPECT_FALSE(guard_->LinkRequestThrottled("ada@example.com"));
    EXPECT_FALSE(guard_->LinkRequestThrottled("ada@example.com"));
    EXPECT_TRUE(guard_->LinkRequestThrottled("ada@example.com"));
    EXPECT_FALSE(guard_->LinkRequestThrottled("bob@example.com"));
    // Addresses are not stored in the evidence.
    EXPECT_EQ(Events()[0].evidence.find("ada@"), std::string::npos);
}

TEST_F(GuardTest, DisposableEnrollmentAndDecisions) {
    const Verdict verdict = guard_->OnEnrollment("x@yopmail.com");
    EXPECT_TRUE(verdict.blocked);
    EXPECT_FALSE(guard_->OnEnrollment("x@example.com").blocked);
    const auto event = Events().at(0);
    EXPECT_EQ(event.status, "open");
    EXPECT_EQ(*database_->DecideRiskEvent(event.id, "cleared", "user:1"), store::StatusChange::kChanged);
    EXPECT_EQ(*database_->DecideRiskEvent(event.id, "suspended", "user:1"), store::StatusChange::kUnchanged);
    EXPECT_EQ(*database_->DecideRiskEvent(9999, "cleared", "user:1"), store::StatusChange::kNotFound);
    const auto decided = *database_->FindRiskEvent(event.id);
    EXPECT_EQ((decided->status, *decided->decided_by), (std::string("cleared"), std::string("user:1")));
    const auto audit = *database_->ListAudit("risk_event:" + std::to_string(event.id), std::nullopt, 10);
    ASSERT_EQ(audit.size(), 1U);
    EXPECT_EQ(audit[0].action, "risk_event.cleared");
}

TEST_F(GuardTest, BurnVelocityFromTheJournal) {
    config_.fraud.burn_velocity_min_credits = 100;
    config_.fraud.burn_velocity_multiplier = 10;
    config_.fraud.burn_velocity_action = "block_action";
    Reset();
    const int64_t steady = User("steady@example.com"), burner = User("burner@example.com");
    auto writer = std::move(*ledger::Writer::Start(database_->NewLedgerStore(), {}, clock_, nullptr));
    int key = 0;
    auto call = [&](ledger::Operation op) {
        return writer->Call({std::move(op), "test", "k" + std::to_string(++key)});
    };
    for (int64_t user : {steady, burner}) {
        ASSERT_EQ(call(ledger::Grant{user, 100'000, std::nullopt, "test"}).rejection, ledger::Rejection::kNone);
    }
    // A week of steady use: 50 credits a day each (about 2 an hour).
    for (int day = 0; day < 6; ++day) {
        for (int64_t user : {steady, burner}) {
            ASSERT_EQ(call(ledger::Deduct{user, 50, "ai_search", ""}).rejection, ledger::Rejection::kNone);
        }
        clock_.Advance(86'400'000);
    }
    // Then, within the hour: the steady user spends 40, the burner 150.
    ASSERT_EQ(call(ledger::Deduct{steady, 40, "ai_search", ""}).rejection, ledger::Rejection::kNone);
    ASSERT_EQ(call(ledger::Deduct{burner, 150, "live_dubbing", ""}).rejection, ledger::Rejection::kNone);
    guard_->Sweep();
    const auto events = Events();
    ASSERT_EQ(events.size(), 1U);
    EXPECT_EQ(events[0].rule, "burn_velocity");
    EXPECT_EQ(events[0].user_id, burner);
    EXPECT_EQ(ended_, std::vector<int64_t>{burner});  // blocking a burn ends the sessions that burn
    EXPECT_FALSE(guard_->OnSpend(steady).blocked);
    EXPECT_TRUE(guard_->OnSpend(burner).blocked);
    guard_->Sweep();
    EXPECT_EQ(Events().size(), 1U);  // one event per window, though the block applies each time
    writer->Stop();
}

}  // namespace
}  // namespace beta500::fraud
