// The PostgreSQL ground on a real, private PostgreSQL 15 (scripts/postgres-cluster.sh, started
// by ctest's `postgres` fixture): migrations applied once when servers start together, the
// schema's constraints carrying the ledger's invariants, one charge per (session, tick) across
// connections, FOR UPDATE SKIP LOCKED handing due rows to one claimer each, and errors sorted
// by SQLSTATE without leaking the URL's password.
#include "store/postgres.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <cstdlib>
#include <set>
#include <thread>

#include "core/clock.h"
#include "ledger/audit.h"
#include "ledger/writer.h"
#include "store/migrations.h"
#include "store/pg_ledger_store.h"
#include "store/pg_sql.h"
#include "store/testing.h"

namespace beta500::store {
namespace {

std::unique_ptr<PgConnection> Connect() { return TestPostgresConnection(); }

class PostgresTest : public ::testing::Test {
   protected:
    void SetUp() override {
        db_ = Connect();
        ASSERT_NE(db_, nullptr);
        ASSERT_TRUE(db_->Script("DROP SCHEMA public CASCADE; CREATE SCHEMA public;"));
    }

    int64_t Insert(const std::string& sql, const PgParams& params = {}) {
        auto rows = db_->Exec(sql + " RETURNING id", params);
        EXPECT_TRUE(rows) << rows.error().message;
        return rows && rows->size() == 1 ? rows->Int(0, 0) : 0;
    }

    // A user with a wallet holding `credits`, and an open live-dubbing hold of 60 on it.
    struct Wallet {
        int64_t user = 0;
        int64_t account = 0;
        int64_t hold = 0;
    };
    Wallet WalletWithHold(const std::string& email, int64_t credits) {
        Wallet made;
        made.user = Insert("INSERT INTO users (email, created_at) VALUES ($1, 1)", {email});
        made.account = Insert("INSERT INTO accounts (name, user_id, credits_posted, created_at) VALUES ($1, $2, $3, 1)",
                              {"user:" + std::to_string(made.user), std::to_string(made.user), std::to_string(credits)});
        made.hold = Insert("INSERT INTO holds (account_id, feature, amount, status, expires_at, created_at) "
                           "VALUES ($1, 'live_dubbing', 60, 'open', 9, 1)",
                           {std::to_string(made.account)});
        return made;
    }

    std::unique_ptr<PgConnection> db_;
};

int PostgresMigrations() {
    int count = 0;
    for (const auto& migration : AllMigrations()) {
        count += migration.dialect == "postgres" ? 1 : 0;
    }
    return count;
}

TEST_F(PostgresTest, MigratesOnceWhenServersStartTogether) {
    ASSERT_GT(PostgresMigrations(), 0);
    std::atomic<int> applied{0};
    std::mutex mutex;
    std::vector<std::string> errors;
    std::vector<std::thread> servers;
    for (int i = 0; i < 4; ++i) {
        servers.emplace_back([&] {
            auto connection = Connect();
            auto ran = connection ? MigratePostgres(*connection, 1) : Result<int>(Error{});
            if (ran) {
                applied += *ran;
            } else {
                std::lock_guard lock(mutex);
                errors.push_back(ran.error().message);
            }
        });
    }
    for (auto& server : servers) {
        server.join();
    }
    EXPECT_EQ(errors, std::vector<std::string>{});
    EXPECT_EQ(applied, PostgresMigrations());
    EXPECT_EQ(*MigratePostgres(*db_, 2), 0);
    EXPECT_EQ(db_->Exec("SELECT count(*) FROM schema_migrations")->Int(0, 0), PostgresMigrations());
}

TEST_F(PostgresTest, ConstraintsCarryTheLedgerInvariants) {
    ASSERT_TRUE(MigratePostgres(*db_, 1));
    const int64_t user = Insert("INSERT INTO users (email, created_at) VALUES ('ada@example.com', 1)");
    const int64_t wallet = Insert("INSERT INTO accounts (name, user_id, credits_posted, created_at) "
                                  "VALUES ('wallet:1', $1, 100, 1)",
                                  {std::to_string(user)});
    const int64_t system = Insert("INSERT INTO accounts (name, created_at) VALUES ('system:grants', 1)");
    // Spending the last credit is allowed; one more is not.
    EXPECT_TRUE(db_->Exec("UPDATE accounts SET debits_posted = 100 WHERE id = $1", {std::to_string(wallet)}));
    auto negative = db_->Exec("UPDATE accounts SET debits_pending = 1 WHERE id = $1", {std::to_string(wallet)});
    ASSERT_FALSE(negative);
    EXPECT_EQ(negative.error().code, ErrorCode::kFailedPrecondition);
    EXPECT_NE(negative.error().message.find("wallet_not_negative"), std::string::npos);
    // The journal only grows.
    const int64_t transfer = Insert(
        "INSERT INTO transfers (debit_account_id, credit_account_id, amount, kind, actor, created_at) "
        "VALUES ($1, $2, 100, 'grant', 'test', 1)",
        {std::to_string(system), std::to_string(wallet)});
    for (const char* change : {"UPDATE transfers SET amount = 1 WHERE id = $1", "DELETE FROM transfers WHERE id = $1"}) {
        auto refused = db_->Exec(change, {std::to_string(transfer)});
        ASSERT_FALSE(refused) << change;
        EXPECT_EQ(refused.error().code, ErrorCode::kFailedPrecondition);
    }
    // An idempotency key has one record.
    const std::string key = "INSERT INTO idempotency_keys (scope, key, request_hash, rejection, response, "
                            "created_at) VALUES ('s', 'k', 'h', 0, '{}', 1)";
    EXPECT_TRUE(db_->Exec(key));
    EXPECT_EQ(db_->Exec(key).error().code, ErrorCode::kFailedPrecondition);
}

TEST_F(PostgresTest, OneChargePerSessionAndTickWhicheverConnectionTriesIt) {
    ASSERT_TRUE(MigratePostgres(*db_, 1));
    const auto [user, wallet, hold] = WalletWithHold("bob@example.com", 100);
    const int64_t session = Insert(
        "INSERT INTO live_sessions (user_id, hold_id, feature, rate_per_minute, instance, status, started_at, "
        "last_seen_at) VALUES ($1, $2, 'live_dubbing', 60, 'a', 'active', 1, 1)",
        {std::to_string(user), std::to_string(hold)});
    // Sixteen connections race to record tick 1, each in its own transaction: one wins.
    std::atomic<int> won{0};
    std::atomic<int> refused{0};
    std::vector<std::thread> racers;
    for (int i = 0; i < 16; ++i) {
        racers.emplace_back([&, i] {
            auto connection = Connect();
            ASSERT_TRUE(connection->Exec("BEGIN"));
            auto charged = connection->Exec(
                "INSERT INTO live_charges (session_id, tick, charged_total, instance, created_at) "
                "VALUES ($1, 1, 30, $2, 1)",
                {std::to_string(session), "instance-" + std::to_string(i)});
            if (charged) {
                ASSERT_TRUE(connection->Exec("COMMIT"));
                ++won;
            } else {
                EXPECT_EQ(charged.error().code, ErrorCode::kFailedPrecondition) << charged.error().message;
                (void)connection->Exec("ROLLBACK");
                ++refused;
            }
        });
    }
    for (auto& racer : racers) {
        racer.join();
    }
    EXPECT_EQ(won, 1);
    EXPECT_EQ(refused, 15);
    EXPECT_EQ(db_->Exec("SELECT count(*) FROM live_charges")->Int(0, 0), 1);
}

TEST_F(PostgresTest, SkipLockedHandsEachDueRowToOneClaimer) {
    ASSERT_TRUE(MigratePostgres(*db_, 1));
    const auto [user, wallet, hold] = WalletWithHold("cy@example.com", 1000);
    ASSERT_TRUE(db_->Exec("INSERT INTO live_sessions (user_id, hold_id, feature, rate_per_minute, instance, status, "
                          "started_at, last_seen_at) SELECT $1, $2, 'live_dubbing', 60, 'a', 'active', 1, 1 "
                          "FROM generate_series(1, 100)",
                          {std::to_string(user), std::to_string(hold)}));
    // Three claimers hold their batches open at once: no row is in two batches.
    std::vector<std::unique_ptr<PgConnection>> claimers;
    std::set<int64_t> claimed;
    size_t total = 0;
    for (int i = 0; i < 3; ++i) {
        claimers.push_back(Connect());
        ASSERT_TRUE(claimers.back()->Exec("BEGIN"));
        auto batch = claimers.back()->Exec(
            "SELECT id FROM live_sessions WHERE status = 'active' AND due_at <= 1 ORDER BY due_at, id "
            "LIMIT 40 FOR UPDATE SKIP LOCKED");
        ASSERT_TRUE(batch) << batch.error().message;
        for (int row = 0; row < batch->size(); ++row) {
            claimed.insert(batch->Int(row, 0));
        }
        total += static_cast<size_t>(batch->size());
    }
    EXPECT_EQ(total, 100U);  // 40 + 40 + the 20 left
    EXPECT_EQ(claimed.size(), 100U);
    for (auto& claimer : claimers) {
        ASSERT_TRUE(claimer->Exec("COMMIT"));
    }
}

TEST_F(PostgresTest, TheLedgerEnrollsExpiresAndPurgesOnPostgres) {
    ASSERT_TRUE(MigratePostgres(*db_, 1));
    ManualClock clock(1'900'000'000'000);
    const std::string now = std::to_string(clock.NowMs());
    ASSERT_TRUE(db_->Exec("INSERT INTO invitations (email, initial_credits, inviter, status, created_at, last_sent_at) "
                          "VALUES ('eve@example.com', 250, 'admin', 'open', $1, $1)",
                          {now}));
    auto writer = std::move(*ledger::Writer::Start(std::make_unique<PgLedgerStore>(Connect()), {}, clock, nullptr));
    auto call = [&](ledger::Operation operation, const std::string& key) {
        return writer->Call({std::move(operation), "test", key});
    };
    // Enrollment: the user, the wallet and the identity in the batch's transaction, with the grant.
    const auto enrolled = call(ledger::Enroll{"eve@example.com", ledger::Identity{"https://idp", "sub-1"}, "Eve"}, "e1");
    ASSERT_EQ(enrolled.rejection, ledger::Rejection::kNone) << enrolled.body;
    EXPECT_EQ(db_->Exec("SELECT status FROM invitations")->Text(0, 0), "consumed");
    EXPECT_EQ(db_->Exec("SELECT count(*) FROM identities WHERE subject = 'sub-1'")->Int(0, 0), 1);
    const int64_t user = db_->Exec("SELECT id FROM users WHERE email = 'eve@example.com'")->Int(0, 0);
    EXPECT_EQ(db_->Exec("SELECT display_name FROM users WHERE id = $1", {std::to_string(user)})->Text(0, 0), "Eve");
    // The same person again, by identity: no second grant.
    EXPECT_EQ(call(ledger::Enroll{"eve@example.com", ledger::Identity{"https://idp", "sub-1"}, ""}, "e2").rejection,
              ledger::Rejection::kNone);
    EXPECT_EQ(call(ledger::Enroll{"nobody@example.com", std::nullopt, ""}, "e3").rejection,
              ledger::Rejection::kNotInvited);
    // A grant that expires, then the expiry job.
    ASSERT_EQ(call(ledger::Grant{user, 40, clock.NowMs() + 1'000, "trial"}, "g1").rejection, ledger::Rejection::kNone);
    clock.Advance(1'000);
    ASSERT_EQ(call(ledger::ExpireDue{100}, "x1").rejection, ledger::Rejection::kNone);
    const auto wallet = db_->Exec("SELECT credits_posted - debits_posted FROM accounts WHERE user_id = $1",
                                  {std::to_string(user)});
    EXPECT_EQ(wallet->Int(0, 0), 250);  // the 40 expired, the enrollment's 250 left
    // The audit from PostgreSQL agrees with the journal.
    writer->Stop();
    auto input = LoadAuditPostgres(*db_, clock.NowMs(), 86'400'000);
    ASSERT_TRUE(input) << input.error().message;
    const auto report = ledger::Audit(*input);
    EXPECT_TRUE(report.ok()) << (report.problems.empty() ? "" : report.problems.front());
    EXPECT_EQ(input->transfers, 3);  // the enrollment's grant, the trial grant, its expiry
    // Idempotency records older than the retention go, oldest first, at most `limit` at a time.
    auto keys = [&] { return db_->Exec("SELECT string_agg(key, ',' ORDER BY id) FROM idempotency_keys")->Text(0, 0); };
    EXPECT_EQ(keys(), "e1,g1");  // the writer keeps the answers of operations that changed something
    PgLedgerStore store(Connect());
    EXPECT_EQ(*store.PurgeIdempotency(clock.NowMs() + 1, 1), 1);
    EXPECT_EQ(keys(), "g1");
    EXPECT_EQ(*store.PurgeIdempotency(clock.NowMs() - 2'000, 10), 0);  // none older than that
}

TEST_F(PostgresTest, WritersOfTwoServersTakeTurnsAndSeeEachOthersCommits) {
    ASSERT_TRUE(MigratePostgres(*db_, 1));
    ManualClock clock(1'900'000'000'000);
    Wallet wallet;
    wallet.user = Insert("INSERT INTO users (email, created_at) VALUES ('two@example.com', 1)");
    wallet.account = Insert("INSERT INTO accounts (name, user_id, created_at) VALUES ($1, $2, 1)",
                            {"user:" + std::to_string(wallet.user), std::to_string(wallet.user)});
    auto a = std::move(*ledger::Writer::Start(std::make_unique<PgLedgerStore>(Connect()), {}, clock, nullptr));
    auto b = std::move(*ledger::Writer::Start(std::make_unique<PgLedgerStore>(Connect()), {}, clock, nullptr));
    auto deduct = [&](ledger::Writer& writer, int64_t amount, const std::string& key) {
        return writer.Call({ledger::Deduct{wallet.user, amount, "ai_search", ""}, "test", key}).rejection;
    };
    ASSERT_EQ(a->Call({ledger::Grant{wallet.user, 100, std::nullopt, "start"}, "test", "g"}).rejection,
              ledger::Rejection::kNone);
    EXPECT_EQ(deduct(*a, 30, "a1"), ledger::Rejection::kNone);  // a keeps the wallet at 70
    EXPECT_EQ(deduct(*b, 50, "b1"), ledger::Rejection::kNone);  // b reads it at 70: 20 left
    // a's cached 70 is stale: a must see b's commit and refuse, not overdraw.
    EXPECT_EQ(deduct(*a, 30, "a2"), ledger::Rejection::kInsufficientCredits);
    EXPECT_EQ(deduct(*a, 20, "a3"), ledger::Rejection::kNone);
    // Each key once, whichever writer sees it again.
    EXPECT_EQ(deduct(*b, 30, "a1"), ledger::Rejection::kNone);
    a->Stop();
    b->Stop();
    EXPECT_EQ(db_->Exec("SELECT credits_posted - debits_posted - debits_pending FROM accounts WHERE id = $1",
                        {std::to_string(wallet.account)})->Int(0, 0), 0);
    EXPECT_EQ(db_->Exec("SELECT count(*) FROM transfers WHERE kind = 'usage'")->Int(0, 0), 3);
    const auto report = ledger::Audit(*LoadAuditPostgres(*db_, clock.NowMs(), 86'400'000));
    EXPECT_TRUE(report.ok()) << (report.problems.empty() ? "" : report.problems.front());
}

TEST(PgSql, ParametersBecomeDollarNumbersWithoutGaps) {
    EXPECT_EQ(PgParameters("SELECT ?, ? FROM t WHERE a = ?").sql, "SELECT $1, $2 FROM t WHERE a = $3");
    // Numbered ones keep their meaning, renumbered without the unused (PostgreSQL must know a
    // type for every number up to the largest).
    const PgSql numbered = PgParameters("WHERE id < ?1 AND kind = ?3 LIMIT ?5 OFFSET ?3");
    EXPECT_EQ(numbered.sql, "WHERE id < $1 AND kind = $2 LIMIT $3 OFFSET $2");
    EXPECT_EQ(numbered.params, 3);
    EXPECT_EQ(numbered.slots, (std::vector<int>{0, 1, 0, 2, 0, 3}));
    // Quoted text is left alone.
    EXPECT_EQ(PgParameters("SELECT '?', \"a?\" WHERE b = ?").sql, "SELECT '?', \"a?\" WHERE b = $1");
    EXPECT_EQ(PgParameters("SELECT 'it''s ?' || ?").sql, "SELECT 'it''s ?' || $1");
}

TEST_F(PostgresTest, AwkwardTextRoundTripsAndALostConnectionFailsOneBatchOnly) {
    ASSERT_TRUE(MigratePostgres(*db_, 1));
    const int64_t user = Insert("INSERT INTO users (email, created_at) VALUES ('dan@example.com', 1)");
    Insert("INSERT INTO accounts (name, user_id, created_at) VALUES ('user:1', $1, 1)", {std::to_string(user)});
    ManualClock clock(1'900'000'000'000);
    auto writer = std::move(*ledger::Writer::Start(std::make_unique<PgLedgerStore>(Connect()), {}, clock, nullptr));
    // Text that array literals and COPY must escape: quotes, backslashes, braces, commas, the
    // word NULL and COPY's own null marker (control characters never get this far: the ledger
    // refuses them).
    const std::string reason = "say \"hi\" \\ {a,b}, NULL and more \\N";
    const std::string key = "k\"{,}\\NULL";
    const ledger::Request grant{ledger::Grant{user, 10, std::nullopt, reason}, "actor \"x\"", key};
    const auto first = writer->Call(grant);
    ASSERT_EQ(first.rejection, ledger::Rejection::kNone) << first.body;
    EXPECT_EQ(db_->Exec("SELECT reason FROM transfers")->Text(0, 0), reason);
    EXPECT_EQ(db_->Exec("SELECT key FROM idempotency_keys")->Text(0, 0), key);
    const auto replay = writer->Call(grant);
    EXPECT_TRUE(replay.replayed);
    EXPECT_EQ(replay.body, first.body);
    // The writer's connection is cut (a restarted server, a dropped link): that batch fails,
    // the next one connects again.
    ASSERT_TRUE(db_->Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE pid <> pg_backend_pid() AND datname = current_database()"));
    const auto cut = writer->Call({ledger::Deduct{user, 1, "ai_search", ""}, "test", "d1"});
    EXPECT_EQ(cut.rejection, ledger::Rejection::kUnavailable);
    const auto after = writer->Call({ledger::Deduct{user, 1, "ai_search", ""}, "test", "d1"});
    EXPECT_EQ(after.rejection, ledger::Rejection::kNone) << after.body;
    writer->Stop();
    EXPECT_EQ(db_->Exec("SELECT credits_posted - debits_posted FROM accounts WHERE user_id = $1",
                        {std::to_string(user)})->Int(0, 0), 9);
    EXPECT_TRUE(ledger::Audit(*LoadAuditPostgres(*db_, clock.NowMs(), 86'400'000)).ok());
}

TEST(Postgres, ErrorsSayWhyWithoutThePassword) {
    auto refused = PgConnection::Open("postgresql://beta500:s3cret-pw@127.0.0.1:1/none?connect_timeout=2");
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code, ErrorCode::kUnavailable);
    EXPECT_EQ(refused.error().message.find("s3cret-pw"), std::string::npos) << refused.error().message;
    // A malformed URL, which libpq quotes in its message.
    auto malformed = PgConnection::Open("postgresql://beta500:s3cret-pw@[::1/none?password=s3cret-pw");
    ASSERT_FALSE(malformed);
    EXPECT_EQ(malformed.error().message.find("s3cret-pw"), std::string::npos) << malformed.error().message;
    auto connection = Connect();
    auto syntax = connection->Exec("SELEC 1");
    ASSERT_FALSE(syntax);
    EXPECT_EQ(syntax.error().code, ErrorCode::kInternal);
    EXPECT_NE(syntax.error().message.find("42601"), std::string::npos);
}

}  // namespace
}  // namespace beta500::store
