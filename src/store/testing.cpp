#include "store/testing.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>

#include "store/database.h"
#include "store/pg_ledger_store.h"
#include "store/pg_session_store.h"

namespace beta500::store {
namespace {

// A set-up step that must work: a failure ends the test run with the reason.
template <typename T>
T Must(Result<T> result, const char* what) {
    if (!result) {
        ADD_FAILURE() << what << ": " << result.error().message;
        std::abort();
    }
    return std::move(*result);
}

class SqliteBackend : public TestBackend {
   public:
    explicit SqliteBackend(const Clock& clock) {
        static std::atomic<int> serial{0};
        dir_ = std::filesystem::temp_directory_path() /
               ("beta500-test-" + std::to_string(::getpid()) + "-" + std::to_string(++serial));
        std::filesystem::remove_all(dir_);
        Config::Database config;
        config.data_dir = dir_.string();
        config.synchronous = "normal";  // durability is the crash tests' subject
        database_ = std::move(*Database::Open(config, clock));
    }
    ~SqliteBackend() override {
        database_.reset();
        std::filesystem::remove_all(dir_);
    }
    int64_t CreateUser(const std::string& email) override { return *database_->CreateUser(email, "user"); }
    std::unique_ptr<ledger::LedgerStore> NewLedgerStore() override { return database_->NewLedgerStore(); }
    std::unique_ptr<live::SessionStore> NewSessionStore() override { return database_->NewSessionStore(); }
    TestBalance Balance(int64_t user_id) override {
        const auto balance = **database_->Balance(user_id);
        return {balance.available, balance.held, balance.posted};
    }
    Result<ledger::AuditInput> LoadAudit(int64_t ttl) override { return database_->LoadAudit(ttl); }
    int64_t GrantedBy(const std::string& actor) override {
        int64_t total = 0;
        auto transfers = database_->Transfers({.kind = ledger::TransferKind::kGrant, .limit = 1'000'000});
        EXPECT_TRUE(transfers);
        for (const auto& view : *transfers) {
            total += view.transfer.actor == actor ? view.transfer.amount : 0;
        }
        return total;
    }

   private:
    std::filesystem::path dir_;
    std::unique_ptr<Database> database_;
};

class PostgresBackend : public TestBackend {
   public:
    explicit PostgresBackend(const Clock& clock) : clock_(clock) {
        db_ = Connect();
        EXPECT_TRUE(db_->Script("DROP SCHEMA public CASCADE; CREATE SCHEMA public;"));
        EXPECT_TRUE(MigratePostgres(*db_, clock_.NowMs()));
    }
    int64_t CreateUser(const std::string& email) override {
        const std::string now = std::to_string(clock_.NowMs());
        const auto user = Must(db_->Exec("INSERT INTO users (email, created_at, enrolled_at) VALUES ($1, $2, $2) "
                                         "RETURNING id",
                                         {email, now}),
                               "user");
        const std::string id = user.Text(0, 0);
        Must(db_->Exec("INSERT INTO accounts (name, user_id, created_at) VALUES ($1, $2, $3)", {"user:" + id, id, now}),
             "wallet");
        return std::stoll(id);
    }
    std::unique_ptr<ledger::LedgerStore> NewLedgerStore() override { return std::make_unique<PgLedgerStore>(Connect()); }
    std::unique_ptr<live::SessionStore> NewSessionStore() override {
        return std::make_unique<PgSessionStore>(Connect());
    }
    TestBalance Balance(int64_t user_id) override {
        const auto row = Must(
            db_->Exec("SELECT credits_posted - debits_posted - debits_pending, debits_pending, "
                      "credits_posted - debits_posted FROM accounts WHERE user_id = $1",
                      {std::to_string(user_id)}),
            "balance");
        EXPECT_EQ(row.size(), 1);
        return row.size() == 1 ? TestBalance{row.Int(0, 0), row.Int(0, 1), row.Int(0, 2)} : TestBalance{};
    }
    Result<ledger::AuditInput> LoadAudit(int64_t ttl) override { return LoadAuditPostgres(*db_, clock_.NowMs(), ttl); }
    int64_t GrantedBy(const std::string& actor) override {
        return Must(db_->Exec("SELECT COALESCE(SUM(amount), 0) FROM transfers WHERE kind = 'grant' AND actor = $1",
                              {actor}),
                    "sum")
            .Int(0, 0);
    }

   private:
    static std::unique_ptr<PgConnection> Connect() { return TestPostgresConnection(); }
    const Clock& clock_;
    std::unique_ptr<PgConnection> db_;
};

}  // namespace

std::unique_ptr<PgConnection> TestPostgresConnection() {
    const char* url = std::getenv("BETA500_TEST_POSTGRES_URL");
    EXPECT_NE(url, nullptr) << "run through ctest, whose `postgres` fixture starts the cluster";
    return Must(PgConnection::Open(url != nullptr ? url : ""), "connect");
}

std::unique_ptr<TestBackend> TestBackend::Make(const std::string& kind, const Clock& clock) {
    if (kind == "postgres") {
        return std::make_unique<PostgresBackend>(clock);
    }
    return std::make_unique<SqliteBackend>(clock);
}

}  // namespace beta500::store
