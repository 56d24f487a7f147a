// Proves the writer on a real SQLite database: durable effects survive a restart, replays return
// the stored answer (across batches and restarts), a reused key with another body is refused,
// duplicates inside one batch have one effect, a failed commit loses nothing acknowledged, and
// the audit passes over what was written.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>
#include <future>

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
