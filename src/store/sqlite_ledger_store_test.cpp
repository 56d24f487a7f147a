// Proves the writer on a real SQLite database: durable effects survive a restart, replays return
// the stored answer (across batches and restarts), a reused key with another body is refused,
// duplicates inside one batch have one effect, a failed commit loses nothing acknowledged, and
// the audit passes over what was written.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <future>
#include <set>
#include <thread>

#include "ledger/writer.h"
#include "store/database.h"

namespace beta500::store {
namespace {

using ledger::Rejection;

class StoreTest : public ::testing::Test {
   protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("beta500-store-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        config_.data_dir = dir_.string();
        config_.synchronous = "normal";
        Open();
        user_ = *database_->CreateUser("ada@example.com", "user");
    }
    void TearDown() override {
        writer_.reset();
        database_.reset();
        std::filesystem::remove_all(dir_);
    }
    void Open(std::unique_ptr<ledger::LedgerStore> store = nullptr) {
        writer_.reset();
        if (!database_) {
            database_ = std::move(*Database::Open(config_, clock_));
        }
        if (!store) {
            store = database_->NewLedgerStore();
        }
        writer_ = std::move(*ledger::Writer::Start(std::move(store), options_, clock_, nullptr));
    }
    ledger::Response Call(ledger::Operation operation, std::string key) {
        return writer_->Call(ledger::Request{std::move(operation), "token:1", std::move(key)});
    }
    void ExpectAuditClean() {
        auto input = database_->LoadAudit(options_.idempotency_ttl_ms);
        ASSERT_TRUE(input);
        const auto report = ledger::Audit(*input);
        EXPECT_TRUE(report.ok()) << report.problems.front();
    }

    std::filesystem::path dir_;
    Config::Database config_;
    ManualClock clock_{1'800'000'000'000};
    ledger::WriterOptions options_;
    std::unique_ptr<Database> database_;
    std::unique_ptr<ledger::Writer> writer_;
    int64_t user_ = 0;
};

TEST_F(StoreTest, EffectsSurviveARestart) {
    ASSERT_EQ(Call(ledger::Grant{user_, 100, {}, "welcome"}, "g1").rejection, Rejection::kNone);
    ASSERT_EQ(Call(ledger::Deduct{user_, 40, "ai_search", ""}, "d1").rejection, Rejection::kNone);
    const auto hold = Call(ledger::Authorize{user_, 30, 60, "live_dubbing", ""}, "a1");
    ASSERT_EQ(hold.rejection, Rejection::kNone);
    database_.reset();
    Open();
    auto balance = database_->Balance(user_);
    ASSERT_TRUE(balance && *balance);
    EXPECT_EQ((*balance)->posted, 60);
    EXPECT_EQ((*balance)->held, 30);
    EXPECT_EQ((*balance)->available, 30);
    EXPECT_EQ((*balance)->granted_total, 100);
    // The hold is found again after the restart.
    const auto hold_id = std::stoll(std::string(
        boost::json::parse(hold.body).at("hold").at("id").as_string()));
    EXPECT_EQ(Call(ledger::Capture{hold_id, 30, true}, "c1").rejection, Rejection::kNone);
    EXPECT_EQ(Call(ledger::Capture{hold_id, 30, true}, "c2").rejection,
              Rejection::kHoldAlreadyResolved);
    ExpectAuditClean();
}

TEST_F(StoreTest, ReplayReturnsTheSameAnswer) {
    const auto first = Call(ledger::Grant{user_, 100, {}, "welcome"}, "same");
    const auto second = Call(ledger::Grant{user_, 100, {}, "welcome"}, "same");
    EXPECT_FALSE(first.replayed);
    EXPECT_TRUE(second.replayed);
    EXPECT_EQ(first.body, second.body);
    // A rejection is replayed too, even once the wallet could cover it.
    const auto refused = Call(ledger::Deduct{user_, 500, "ai_search", ""}, "big");
    ASSERT_EQ(refused.rejection, Rejection::kInsufficientCredits);
    ASSERT_EQ(Call(ledger::Grant{user_, 1000, {}, "top-up"}, "topup").rejection, Rejection::kNone);
    const auto replayed = Call(ledger::Deduct{user_, 500, "ai_search", ""}, "big");
    EXPECT_EQ(replayed.rejection, Rejection::kInsufficientCredits);
    EXPECT_EQ(replayed.body, refused.body);
    // After a restart as well.
    Open();
    EXPECT_EQ(Call(ledger::Grant{user_, 100, {}, "welcome"}, "same").body, first.body);
    EXPECT_EQ((*database_->Balance(user_))->posted, 1100);
}

TEST_F(StoreTest, KeyReusedWithAnotherBodyIsRefused) {
    ASSERT_EQ(Call(ledger::Grant{user_, 100, {}, "welcome"}, "k").rejection, Rejection::kNone);
    EXPECT_EQ(Call(ledger::Grant{user_, 101, {}, "welcome"}, "k").rejection,
              Rejection::kIdempotencyKeyReused);
    EXPECT_EQ(Call(ledger::Deduct{user_, 1, "ai_search", ""}, "k").rejection,
              Rejection::kIdempotencyKeyReused);
    // Keys are scoped to the caller.
    EXPECT_EQ(writer_->Call({ledger::Grant{user_, 5, {}, "other"}, "token:2", "k"}).rejection,
              Rejection::kNone);
    EXPECT_EQ((*database_->Balance(user_))->posted, 105);
}

TEST_F(StoreTest, MissingKeyIsRefused) {
    EXPECT_EQ(Call(ledger::Grant{user_, 100, {}, "welcome"}, "").rejection,
              Rejection::kInvalidIdempotencyKey);
    EXPECT_EQ(Call(ledger::Grant{user_, 100, {}, "welcome"}, std::string(256, 'k')).rejection,
              Rejection::kInvalidIdempotencyKey);
}

TEST_F(StoreTest, DuplicatesInOneBatchHaveOneEffect) {
    std::mutex mutex;
    std::vector<ledger::Response> responses;
    std::atomic<int> pending{64};
    std::promise<void> all_done;
    for (int i = 0; i < 64; ++i) {
        writer_->Submit({ledger::Grant{user_, 10, {}, "dup"}, "token:1", "dup"},
                        [&](ledger::Response response) {
                            std::lock_guard lock(mutex);
                            responses.push_back(std::move(response));
                            if (--pending == 0) {
                                all_done.set_value();
                            }
                        });
    }
    all_done.get_future().wait();
    int effects = 0;
    for (const auto& response : responses) {
        EXPECT_EQ(response.rejection, Rejection::kNone);
        EXPECT_EQ(response.body, responses.front().body);
        effects += response.replayed ? 0 : 1;
    }
    EXPECT_EQ(effects, 1);
    EXPECT_EQ((*database_->Balance(user_))->posted, 10);
    ExpectAuditClean();
}

// Delegates to the real store but fails the commits it is told to.
class FlakyStore final : public ledger::LedgerStore {
   public:
    FlakyStore(std::unique_ptr<ledger::LedgerStore> inner, std::atomic<int>& failures)
        : inner_(std::move(inner)), failures_(failures) {}
    Status Begin() override { return inner_->Begin(); }
    void Rollback() override { inner_->Rollback(); }
    Result<ledger::NextIds> LoadNextIds() override { return inner_->LoadNextIds(); }
    Result<std::optional<ledger::WalletRows>> LoadWalletByUser(int64_t id) override {
        return inner_->LoadWalletByUser(id);
    }
    Result<std::optional<ledger::WalletRows>> LoadWalletByAccount(int64_t id) override {
        return inner_->LoadWalletByAccount(id);
    }
    Result<std::optional<ledger::Hold>> LoadHold(int64_t id) override { return inner_->LoadHold(id); }
    Result<ledger::Account> LoadOrCreateSystemAccount(const std::string& name, int64_t now) override {
        return inner_->LoadOrCreateSystemAccount(name, now);
    }
    Result<std::optional<ledger::StoredResponse>> LoadIdempotency(const std::string& scope,
                                                                  const std::string& key) override {
        return inner_->LoadIdempotency(scope, key);
    }
    Result<ledger::Enrollment> Enroll(const ledger::Enroll& op, int64_t now) override {
        return inner_->Enroll(op, now);
    }
    Result<std::vector<int64_t>> DueWalletAccounts(int64_t now, int64_t limit) override {
        return inner_->DueWalletAccounts(now, limit);
    }
    Status Commit(const ledger::Batch& batch, ledger::LedgerState& state) override {
        if (failures_.load() > 0) {
            --failures_;
            inner_->Rollback();
            return Error{ErrorCode::kUnavailable, "injected failure"};
        }
        return inner_->Commit(batch, state);
    }
    Result<int64_t> PurgeIdempotency(int64_t before, int64_t limit) override {
        return inner_->PurgeIdempotency(before, limit);
    }

   private:
    std::unique_ptr<ledger::LedgerStore> inner_;
    std::atomic<int>& failures_;
};

TEST_F(StoreTest, FailedCommitAnswersUnavailableAndLosesNothing) {
    std::atomic<int> failures{0};
    Open(std::make_unique<FlakyStore>(database_->NewLedgerStore(), failures));
    ASSERT_EQ(Call(ledger::Grant{user_, 100, {}, "welcome"}, "g").rejection, Rejection::kNone);
    failures = 1;
    EXPECT_EQ(Call(ledger::Deduct{user_, 30, "ai_search", ""}, "d").rejection, Rejection::kUnavailable);
    // The failed effect is gone from memory too, and the same key can be retried.
    EXPECT_EQ((*database_->Balance(user_))->posted, 100);
    const auto retried = Call(ledger::Deduct{user_, 30, "ai_search", ""}, "d");
    EXPECT_EQ(retried.rejection, Rejection::kNone);
    EXPECT_FALSE(retried.replayed);
    EXPECT_EQ(Call(ledger::Deduct{user_, 71, "ai_search", ""}, "e").rejection,
              Rejection::kInsufficientCredits);
    EXPECT_EQ((*database_->Balance(user_))->posted, 70);
    ExpectAuditClean();
}

TEST_F(StoreTest, ExpiryJobExpiresLotsAndHolds) {
    ASSERT_EQ(Call(ledger::Grant{user_, 100, clock_.NowMs() + 60'000, "trial"}, "g").rejection,
              Rejection::kNone);
    ASSERT_EQ(Call(ledger::Authorize{user_, 40, 30, "live_dubbing", ""}, "a").rejection,
              Rejection::kNone);
    clock_.Advance(60'000);
    const auto expired = writer_->Call({ledger::ExpireDue{100}, "system", ""});
    ASSERT_EQ(expired.rejection, Rejection::kNone);
    EXPECT_EQ(expired.body, R"({"wallets":1})");
    const auto balance = *database_->Balance(user_);
    EXPECT_EQ(balance->posted, 0);
    EXPECT_EQ(balance->held, 0);
    EXPECT_TRUE(balance->lots.empty());
    ExpectAuditClean();
}

TEST_F(StoreTest, AuditCatchesTampering) {
    ASSERT_EQ(Call(ledger::Grant{user_, 100, {}, "welcome"}, "g").rejection, Rejection::kNone);
    writer_.reset();
    Connection raw(database_->path(), {});
    raw.Exec("UPDATE accounts SET credits_posted = credits_posted + 1 WHERE user_id IS NOT NULL");
    const auto report = ledger::Audit(*database_->LoadAudit(options_.idempotency_ttl_ms));
    ASSERT_FALSE(report.ok());
    EXPECT_NE(report.problems.front().find("credits_posted of user:1 is 101"), std::string::npos);
}

// Enrollment: user, wallet, consumed invitation and grant in the batch's one transaction.
class EnrollTest : public StoreTest {
   protected:
    int64_t Invite(const std::string& email, int64_t credits) {
        auto result = database_->CreateInvitation({email, "user", credits, std::nullopt, "", "test"},
                                                  {"invitation", "s", "t", "h"}, 500);
        EXPECT_TRUE(result && result->outcome == InviteOutcome::kCreated);
        return result->invitation->id;
    }
    ledger::Response Enroll(const std::string& email) {
        return writer_->Call({ledger::Enroll{email}, "system:enrollment", "enroll:" + email});
    }
    int64_t UserIdOf(const ledger::Response& response) {
        return std::stoll(std::string(boost::json::parse(response.body).at("user_id").as_string()));
    }
};

TEST_F(EnrollTest, EnrollsOnceWithTheGrant) {
    const int64_t invitation = Invite("bo@example.com", 300);
    const auto first = Enroll("bo@example.com");
    ASSERT_EQ(first.rejection, Rejection::kNone) << first.body;
    const auto body = boost::json::parse(first.body);
    EXPECT_TRUE(body.at("enrolled").as_bool());
    EXPECT_EQ(body.at("grant").at("amount").as_int64(), 300);
    const int64_t user = UserIdOf(first);
    EXPECT_EQ((*database_->Balance(user))->posted, 300);
    EXPECT_EQ((*database_->FindInvitation(invitation))->status, "consumed");
    // Signing in again replays the enrollment: no second grant.
    const auto again = Enroll("bo@example.com");
    EXPECT_TRUE(again.replayed);
    EXPECT_EQ(again.body, first.body);
    EXPECT_EQ((*database_->Balance(user))->posted, 300);
    ExpectAuditClean();
}

TEST_F(EnrollTest, NotInvitedIsRefusedAndNotRemembered) {
    EXPECT_EQ(Enroll("cy@example.com").rejection, Rejection::kNotInvited);
    Invite("cy@example.com", 10);
    const auto enrolled = Enroll("cy@example.com");
    ASSERT_EQ(enrolled.rejection, Rejection::kNone);
    EXPECT_FALSE(enrolled.replayed);
    // An existing user (created another way) is answered without a grant.
    const auto existing = Enroll("ada@example.com");
    EXPECT_EQ(existing.rejection, Rejection::kNone);
    EXPECT_FALSE(boost::json::parse(existing.body).at("enrolled").as_bool());
}

// Identities: linked in the enrollment; once linked, the identity decides the user, whatever
// address the provider reports later.
TEST_F(EnrollTest, IdentitiesLinkInTheEnrollment) {
    Invite("eli@example.com", 20);
    const ledger::Identity identity{"https://id.example", "sub-1"};
    const auto first = writer_->Call({ledger::Enroll{"eli@example.com", identity}, "system:enrollment", "k1"});
    ASSERT_EQ(first.rejection, Rejection::kNone) << first.body;
    const int64_t user = UserIdOf(first);
    EXPECT_EQ((*database_->FindUserByIdentity(identity.issuer, identity.subject))->id, user);
    EXPECT_FALSE(*database_->FindUserByIdentity(identity.issuer, "sub-2"));
    const auto moved = writer_->Call({ledger::Enroll{"eli.new@example.com", identity}, "system:enrollment", "k2"});
    EXPECT_EQ(UserIdOf(moved), user);
    // A second identity for an existing address links to that user, with no second grant.
    const auto other = writer_->Call(
        {ledger::Enroll{"eli@example.com", ledger::Identity{"https://other.example", "x"}}, "system:enrollment", "k3"});
    EXPECT_EQ(UserIdOf(other), user);
    EXPECT_EQ((*database_->FindUserByIdentity("https://other.example", "x"))->id, user);
    EXPECT_EQ((*database_->Balance(user))->posted, 20);
    ExpectAuditClean();
}

TEST_F(EnrollTest, FiftyConcurrentFirstSignInsMakeOneUserAndOneGrant) {
    const int64_t invitation = Invite("di@example.com", 100);
    std::vector<std::thread> threads;
    std::mutex mutex;
    std::set<std::string> user_ids;
    for (int i = 0; i < 50; ++i) {
        threads.emplace_back([&] {
            const auto response = Enroll("di@example.com");
            std::lock_guard lock(mutex);
            EXPECT_EQ(response.rejection, Rejection::kNone);
            user_ids.insert(std::to_string(UserIdOf(response)));
        });
    }
    for (auto& thread : threads) {
        thread.join();
    }
    EXPECT_EQ(user_ids.size(), 1U);
    const int64_t user = std::stoll(*user_ids.begin());
    EXPECT_EQ((*database_->Balance(user))->granted_total, 100);
    EXPECT_EQ((*database_->FindInvitation(invitation))->consumed_by, user);
    ExpectAuditClean();
}

TEST_F(EnrollTest, FailedCommitLeavesNoUserAndTheInvitationOpen) {
    std::atomic<int> failures{1};
    Open(std::make_unique<FlakyStore>(database_->NewLedgerStore(), failures));
    const int64_t invitation = Invite("ed@example.com", 100);
    EXPECT_EQ(Enroll("ed@example.com").rejection, Rejection::kUnavailable);
    EXPECT_EQ((*database_->FindInvitation(invitation))->status, "open");
    EXPECT_EQ(database_->CreateUser("ed@example.com", "user").has_value(), true);  // email still free
}

TEST_F(StoreTest, SuspendedUsersCannotSpendButHoldsSettle) {
    std::atomic<bool> suspended{false};
    options_.is_suspended = [&](int64_t user_id) { return user_id == user_ && suspended.load(); };
    Open();
    ASSERT_EQ(Call(ledger::Grant{user_, 100, {}, "welcome"}, "g").rejection, Rejection::kNone);
    const auto hold = Call(ledger::Authorize{user_, 30, 60, "live_dubbing", ""}, "a");
    ASSERT_EQ(hold.rejection, Rejection::kNone);
    const int64_t hold_id =
        std::stoll(std::string(boost::json::parse(hold.body).at("hold").at("id").as_string()));
    suspended = true;
    EXPECT_EQ(Call(ledger::Deduct{user_, 1, "ai_search", ""}, "d").rejection, Rejection::kUserSuspended);
    EXPECT_EQ(Call(ledger::Authorize{user_, 1, 60, "live_dubbing", ""}, "a2").rejection,
              Rejection::kUserSuspended);
    EXPECT_EQ(Call(ledger::Increment{hold_id, 1}, "i").rejection, Rejection::kUserSuspended);
    EXPECT_EQ(Call(ledger::Capture{hold_id, 10, true}, "c").rejection, Rejection::kNone);
    EXPECT_EQ(Call(ledger::Grant{user_, 5, {}, "goodwill"}, "g2").rejection, Rejection::kNone);
    suspended = false;
    EXPECT_EQ(Call(ledger::Deduct{user_, 1, "ai_search", ""}, "d2").rejection, Rejection::kNone);
    ExpectAuditClean();
}

// Limits at their edges, on a clock moved by hand.
TEST_F(StoreTest, SignInTokensResendIntervalAndLifetime) {
    const QueuedMail mail{"magic_link", "s", "t", "h"};
    ASSERT_TRUE(*database_->CreateSignInToken("ada@example.com", "magic_link", "h1", 1000, 60'000, mail));
    clock_.Advance(59'999);
    EXPECT_FALSE(*database_->CreateSignInToken("ada@example.com", "magic_link", "h2", 1000, 60'000, mail));
    clock_.Advance(1);
    EXPECT_TRUE(*database_->CreateSignInToken("ada@example.com", "magic_link", "h3", 1000, 60'000, mail));
    // Lifetime: usable one millisecond before expiry, not at it; and of its own purpose only.
    EXPECT_FALSE(*database_->RedeemSignInToken("h3", "verify_email"));
    clock_.Advance(1000);
    EXPECT_FALSE(*database_->RedeemSignInToken("h3", "magic_link"));
    ASSERT_TRUE(*database_->CreateSignInToken("ada@example.com", "magic_link", "h4", 1000, 0, mail));
    clock_.Advance(999);
    EXPECT_EQ((*database_->RedeemSignInToken("h4", "magic_link"))->email, "ada@example.com");
    EXPECT_FALSE(*database_->RedeemSignInToken("h4", "magic_link"));  // single use
}

// Usage analytics on a generated week with known totals: every figure checked exactly.
TEST_F(StoreTest, UsageAnalyticsHasExactFigures) {
    constexpr int64_t kHour = 3'600'000, kDay = 24 * kHour;
    const int64_t monday = 1'795'392'000'000;  // 2026-11-23T00:00:00Z
    const int64_t ada = user_;                 // enrolled before the week
    clock_.Set(monday + kHour / 2);
    const int64_t bob = *database_->CreateUser("bob@example.com", "user");
    clock_.Set(monday + kHour);
    ASSERT_EQ(Call(ledger::Grant{ada, 1000, std::nullopt, "start"}, "g1").rejection, Rejection::kNone);
    ASSERT_EQ(Call(ledger::Grant{bob, 500, std::nullopt, "start"}, "g2").rejection, Rejection::kNone);
    clock_.Set(monday + 2 * kHour);
    for (int i = 0; i < 3; ++i) {
        ASSERT_EQ(Call(ledger::Deduct{ada, 10, "ai_search", ""}, "s" + std::to_string(i)).rejection, Rejection::kNone);
    }
    ASSERT_EQ(Call(ledger::Deduct{bob, 5, "ai_recommendations", ""}, "r").rejection, Rejection::kNone);
    clock_.Set(monday + 5 * kHour);
    ASSERT_TRUE(database_->CreateInvitation({"cy@example.com", "user", 10, std::nullopt, "", "test"},
                                            {"invitation", "s", "t", "h"}, 500));
    clock_.Set(monday + kDay);
    ASSERT_EQ(Call(ledger::Grant{bob, 200, monday + 2 * kDay, "trial"}, "g3").rejection, Rejection::kNone);
    clock_.Set(monday + kDay + 3 * kHour);
    const auto hold = Call(ledger::Authorize{ada, 100, 600, "live_dubbing", ""}, "h");
    const int64_t hold_id = std::stoll(std::string(boost::json::parse(hold.body).at("hold").at("id").as_string()));
    ASSERT_EQ(Call(ledger::Capture{hold_id, 40, true}, "c").rejection, Rejection::kNone);
    auto sessions = database_->NewSessionStore();
    const int64_t session = *sessions->Create(live::SessionRow{.user_id = ada, .hold_id = hold_id,
                                                               .feature = "live_dubbing", .rate_per_minute = 16,
                                                               .instance = "i", .status = "active",
                                                               .started_at_ms = clock_.NowMs(),
                                                               .last_seen_at_ms = clock_.NowMs()});
    ASSERT_TRUE(sessions->End(session, "user_stopped", clock_.NowMs() + 150'000, 150'000, 40));
    clock_.Set(monday + 3 * kDay);
    ASSERT_EQ(Call(ledger::ExpireDue{100}, "x").rejection, Rejection::kNone);

    const auto week = *database_->Usage(monday, monday + 7 * kDay, kDay);
    ASSERT_EQ(week.credits.size(), 3U);
    EXPECT_EQ(std::tuple(week.credits[0].bucket_ms, week.credits[0].feature, week.credits[0].credits, week.credits[0].operations),
              std::tuple(monday, std::string("ai_recommendations"), int64_t{5}, int64_t{1}));
    EXPECT_EQ(std::tuple(week.credits[1].feature, week.credits[1].credits, week.credits[1].operations),
              std::tuple(std::string("ai_search"), int64_t{30}, int64_t{3}));
    EXPECT_EQ(std::tuple(week.credits[2].bucket_ms, week.credits[2].feature, week.credits[2].credits),
              std::tuple(monday + kDay, std::string("live_dubbing"), int64_t{40}));
    ASSERT_EQ(week.buckets.size(), 7U);
    EXPECT_EQ(std::tuple(week.buckets[0].active_users, week.buckets[1].active_users, week.buckets[2].active_users),
              std::tuple(int64_t{2}, int64_t{1}, int64_t{0}));
    EXPECT_EQ(std::tuple(week.buckets[1].sessions, week.buckets[1].session_minutes), std::tuple(int64_t{1}, int64_t{2}));
    ASSERT_EQ(week.top_users.size(), 2U);
    EXPECT_EQ(std::tuple(week.top_users[0].user_id, week.top_users[0].credits), std::tuple(ada, int64_t{70}));
    EXPECT_EQ(std::tuple(week.top_users[1].email, week.top_users[1].credits), std::tuple(std::string("bob@example.com"), int64_t{5}));
    EXPECT_EQ(std::tuple(week.granted, week.spent, week.expired, week.adjusted), std::tuple(int64_t{1700}, int64_t{75}, int64_t{200}, int64_t{0}));
    EXPECT_EQ(std::tuple(week.searches, week.recommendation_refreshes), std::tuple(int64_t{3}, int64_t{1}));
    EXPECT_EQ(std::tuple(week.invited, week.enrolled, week.active_7d), std::tuple(int64_t{1}, int64_t{1}, int64_t{1}));
    // By hour, the range's edges: [from, to) holds the 02:00 spending, not what came after.
    const auto hours = *database_->Usage(monday + 2 * kHour, monday + 3 * kHour, kHour);
    ASSERT_EQ(hours.buckets.size(), 1U);
    EXPECT_EQ(std::tuple(hours.spent, hours.granted), std::tuple(int64_t{35}, int64_t{0}));
    EXPECT_EQ(database_->Usage(monday + 2 * kHour + 1, monday + 3 * kHour, kHour)->spent, 0);
    // The daily sums the ledger keeps agree with the journal read by the hour.
    const auto journal = *database_->Usage(monday, monday + 7 * kDay, kHour);
    EXPECT_EQ(std::tuple(journal.granted, journal.spent, journal.expired, journal.searches), std::tuple(week.granted, week.spent, week.expired, week.searches));
    // A range that is not whole days: the partial days come from the journal, the rest from the sums.
    const auto shifted = *database_->Usage(monday + 2 * kHour, monday + kDay + 4 * kHour, kDay);
    EXPECT_EQ(shifted.spent, 35 + 40);
    EXPECT_EQ(database_->Usage(monday + 2 * kHour + 1, monday + kDay + 3 * kHour, kDay)->spent, 0);
    // By week (weeks start on Mondays): one bucket with everything.
    const auto weeks = *database_->Usage(monday, monday + 7 * kDay, 7 * kDay);
    ASSERT_EQ(weeks.buckets.size(), 1U);
    EXPECT_EQ(std::tuple(weeks.buckets[0].bucket_ms, weeks.buckets[0].active_users, weeks.spent), std::tuple(monday, int64_t{2}, int64_t{75}));
}

// A provider sign-in in flight: taken once, and only before its time is up.
TEST_F(StoreTest, OidcLoginsAreSingleUseAndExpire) {
    const OidcLogin login{"browser", "google", "nonce", "verifier", "/x"};
    ASSERT_TRUE(database_->CreateOidcLogin("s1", login, 1000));
    ASSERT_TRUE(database_->CreateOidcLogin("s2", login, 1000));
    clock_.Advance(999);
    const auto taken = *database_->TakeOidcLogin("s1");
    ASSERT_TRUE(taken);
    EXPECT_EQ(std::tuple(taken->browser_hash, taken->provider, taken->nonce, taken->code_verifier, taken->return_to),
              std::tuple(login.browser_hash, login.provider, login.nonce, login.code_verifier, login.return_to));
    EXPECT_FALSE(*database_->TakeOidcLogin("s1"));  // a state works once
    clock_.Advance(1);
    EXPECT_FALSE(*database_->TakeOidcLogin("s2"));  // expired
    EXPECT_FALSE(*database_->TakeOidcLogin("never"));
}

TEST_F(StoreTest, SessionIdleAndAbsoluteTimeouts) {
    constexpr int64_t kIdle = 10 * 60'000;
    constexpr int64_t kAbsolute = 30 * 60'000;
    ASSERT_TRUE(database_->CreateSession(user_, "s1", "csrf"));
    // Seen within the idle time: alive, and each look (a minute apart) extends it.
    for (int i = 0; i < 2; ++i) {
        clock_.Advance(kIdle - 1);
        ASSERT_TRUE(*database_->FindSession("s1", kIdle, kAbsolute)) << i;
    }
    clock_.Advance(kIdle);  // idle exactly the limit: ended
    EXPECT_FALSE(*database_->FindSession("s1", kIdle, kAbsolute));
    // However busy, a session ends at the absolute limit.
    ASSERT_TRUE(database_->CreateSession(user_, "s2", "csrf"));
    for (int64_t elapsed = 0; elapsed + 5 * 60'000 < kAbsolute; elapsed += 5 * 60'000) {
        clock_.Advance(5 * 60'000);
        ASSERT_TRUE(*database_->FindSession("s2", kIdle, kAbsolute));
    }
    clock_.Advance(5 * 60'000);  // created exactly kAbsolute ago
    EXPECT_FALSE(*database_->FindSession("s2", kIdle, kAbsolute));
}

TEST_F(StoreTest, UsersAndTokens) {
    EXPECT_EQ(database_->CreateUser("ada@example.com", "user").error().code, ErrorCode::kAlreadyExists);
    auto token = database_->CreateApiToken("service", "billing");
    ASSERT_TRUE(token);
    EXPECT_EQ(token->second.rfind("b5_", 0), 0U);
    auto found = database_->FindApiToken(token->second);
    ASSERT_TRUE(found && *found);
    EXPECT_EQ((*found)->scope, "service");
    EXPECT_FALSE(*database_->FindApiToken(token->second + "x"));
    EXPECT_FALSE(database_->CreateApiToken("root", ""));
}

}  // namespace
}  // namespace beta500::store
