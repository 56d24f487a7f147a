// One checkpoint cycle over many active live sessions created directly in the database, against
// a baseline of as many plain ledger deductions (the ledger's own throughput), side by side on a
// durable database (synchronous=full). Prints both, the ratio, and whether `ledger verify` holds.
// Usage: checkpoint_bench [sessions] [--postgres URL]   (default 100000; about a minute of set-up
// at that size). With --postgres, on PostgreSQL (its public schema emptied first) instead of SQLite.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <atomic>
#include <semaphore>
#include <string>

#include <boost/json.hpp>

#include "core/assert.h"
#include "ledger/audit.h"
#include "ledger/writer.h"
#include "live/manager.h"
#include "obs/metrics.h"
#include "store/database.h"
#include "store/pg_ledger_store.h"
#include "store/pg_session_store.h"

namespace beta500 {
namespace {

constexpr int64_t kRate = 60;
constexpr int64_t kElapsedMs = 30'000;  // each session has run one interval

double Seconds(std::chrono::steady_clock::time_point since) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

// Submits one operation per index, at most kInFlight at a time (the writer's queue is bounded),
// and waits for all; returns how many succeeded.
constexpr int kInFlight = 4096;
template <typename Make>
int64_t RunAll(ledger::Writer& writer, int64_t count, const std::string& prefix, Make make) {
    std::counting_semaphore<kInFlight> slots(kInFlight);
    std::atomic<int64_t> ok{0};
    for (int64_t i = 0; i < count; ++i) {
        slots.acquire();
        writer.Submit({make(i), "bench", prefix + std::to_string(i)}, [&](ledger::Response response) {
            ok += response.rejection == ledger::Rejection::kNone ? 1 : 0;
            slots.release();
        });
    }
    for (int i = 0; i < kInFlight; ++i) {
        slots.acquire();
    }
    return ok.load();
}

// Users 1..sessions get credits and a live session's hold each (hold ids 1..sessions).
void FundAndHold(ledger::Writer& writer, int64_t sessions) {
    RunAll(writer, sessions, "grant-", [](int64_t i) {
        return ledger::Operation(ledger::Grant{i + 1, 1'000'000, std::nullopt, "bench"});
    });
    RunAll(writer, sessions, "hold-", [](int64_t i) {
        return ledger::Operation(ledger::Authorize{i + 1, 60, 3600, "live_dubbing", "live session"});
    });
}

// The baseline (as many deductions through the writer), then the checkpoints until none is
// due; stops the writer. 0 when no charge failed.
int Measure(int64_t sessions, ledger::Writer& writer, live::SessionStore& store, const Clock& clock,
            obs::Registry& metrics) {
    auto started = std::chrono::steady_clock::now();
    const int64_t deducted = RunAll(writer, sessions, "deduct-", [](int64_t i) {
        return ledger::Operation(ledger::Deduct{i + 1, 1, "ai_search", ""});
    });
    const double baseline = Seconds(started);
    std::printf("baseline: %lld deductions through the writer in %.3f s (%.0f/s)\n",
                static_cast<long long>(deducted), baseline, static_cast<double>(deducted) / baseline);
    live::EventBus bus;
    ThreadPool pool(2);
    Config::Session session_config;
    session_config.rate_per_minute = kRate;
    live::Manager manager("bench", session_config, store, writer, bus, pool, clock, metrics);
    // Every session is due: the worker's cycles back to back, in batches of
    // session.checkpoint_batch_max, until each has been charged once (the longest due go first,
    // so a session that falls due again on a slow run comes after all the others).
    live::CycleStats cycle;
    const auto cycles_started = std::chrono::steady_clock::now();
    for (live::CycleStats batch; cycle.sessions < sessions && (batch = manager.Checkpoint()).sessions > 0;) {
        cycle.sessions += batch.sessions;
        cycle.charged_sessions += batch.charged_sessions;
        cycle.credits += batch.credits;
        cycle.failures += batch.failures;
    }
    cycle.seconds = Seconds(cycles_started);
    std::printf("checkpoint: %lld sessions, %lld charged, %lld credits, %lld failures in %.3f s "
                "(%.0f sessions/s)\n",
                static_cast<long long>(cycle.sessions), static_cast<long long>(cycle.charged_sessions),
                static_cast<long long>(cycle.credits), static_cast<long long>(cycle.failures),
                cycle.seconds, static_cast<double>(cycle.sessions) / cycle.seconds);
    std::printf("ratio checkpoint/baseline: %.2f\n", cycle.seconds / baseline);
    manager.Shutdown();
    writer.Stop();
    return cycle.failures == 0 ? 0 : 1;
}

std::unique_ptr<store::PgConnection> Connect(const std::string& url) {
    auto connection = store::PgConnection::Open(url);
    B5_ASSERT(connection.has_value(), "cannot connect to postgresql");
    return std::move(*connection);
}

void Must(const Result<store::PgRows>& done) {
    if (!done) {
        std::fprintf(stderr, "set-up failed: %s\n", done.error().message.c_str());
        std::exit(1);
    }
}

// The same on PostgreSQL: users, wallets and sessions in bulk by SQL, the rest as on SQLite.
int MainPostgres(int64_t sessions, const std::string& url) {
    SystemClock clock;
    obs::Registry metrics;
    auto admin = Connect(url);
    B5_ASSERT(admin->Script("DROP SCHEMA public CASCADE; CREATE SCHEMA public;").ok(), "schema");
    B5_ASSERT(store::MigratePostgres(*admin, clock.NowMs()).has_value(), "migrations");
    const std::string now = std::to_string(clock.NowMs());
    const std::string count = std::to_string(sessions);
    Must(admin->Exec("INSERT INTO users (id, email, role, created_at, enrolled_at) "
                     "SELECT g, 'u' || g || '@bench.test', 'user', $1, $1 FROM generate_series(1, $2::bigint) g",
                     {now, count}));
    Must(admin->Exec("INSERT INTO accounts (id, name, user_id, created_at) "
                     "SELECT g, 'user:' || g, g, $1 FROM generate_series(1, $2::bigint) g",
                     {now, count}));
    // Ids given explicitly leave the identity sequences behind: the next rows come after them.
    Must(admin->Exec("SELECT setval(pg_get_serial_sequence('users', 'id'), $1::bigint), "
                     "setval(pg_get_serial_sequence('accounts', 'id'), $1::bigint)",
                     {count}));
    auto writer = std::move(*ledger::Writer::Start(std::make_unique<store::PgLedgerStore>(Connect(url)), {}, clock,
                                                   &metrics));
    auto started = std::chrono::steady_clock::now();
    FundAndHold(*writer, sessions);
    std::printf("set-up: %lld users, grants and holds in %.1f s (postgresql)\n", static_cast<long long>(sessions),
                Seconds(started));
    const std::string began = std::to_string(clock.NowMs() - kElapsedMs);
    Must(admin->Exec("INSERT INTO live_sessions (user_id, hold_id, feature, rate_per_minute, instance, status, "
                     "started_at, last_seen_at) SELECT g, g, 'live_dubbing', $1, 'bench', 'active', $2, $2 "
                     "FROM generate_series(1, $3::bigint) g",
                     {std::to_string(kRate), began, count}));
    store::PgSessionStore store(Connect(url));
    const int status = Measure(sessions, *writer, store, clock, metrics);
    const auto report = ledger::Audit(*store::LoadAuditPostgres(*admin, clock.NowMs(), int64_t{1} << 40));
    std::printf("ledger verify: %s (%zu problems)\n", report.ok() ? "ok" : "FAILED", report.problems.size());
    return report.ok() ? status : 1;
}

int Main(int64_t sessions) {
    const auto dir = std::filesystem::temp_directory_path() / "beta500-checkpoint-bench";
    std::filesystem::remove_all(dir);
    Config::Database config;
    config.data_dir = dir.string();
    config.synchronous = "full";
    SystemClock clock;
    obs::Registry metrics;
    auto database = std::move(*store::Database::Open(config, clock));
    const int64_t now = clock.NowMs();
    {
        // Users and wallets in bulk (the server makes them one by one at enrollment).
        store::Connection connection(database->path(), {false, "normal", 5000});
        connection.Transaction([&] {
            auto& user = connection.Cached(
                "INSERT INTO users (id, email, role, created_at, enrolled_at) VALUES (?, ?, 'user', ?, ?)");
            auto& wallet = connection.Cached(
                "INSERT INTO accounts (id, name, user_id, created_at) VALUES (?, ?, ?, ?)");
            for (int64_t id = 1; id <= sessions; ++id) {
                user.Bind(1, id).Bind(2, "u" + std::to_string(id) + "@bench.test").Bind(3, now).Bind(4, now).Run();
                wallet.Bind(1, id).Bind(2, "user:" + std::to_string(id)).Bind(3, id).Bind(4, now).Run();
            }
        });
    }
    ledger::WriterOptions options;
    auto writer = std::move(*ledger::Writer::Start(database->NewLedgerStore(), options, clock, &metrics));
    auto started = std::chrono::steady_clock::now();
    FundAndHold(*writer, sessions);
    std::printf("set-up: %lld users, grants and holds in %.1f s\n", static_cast<long long>(sessions),
                Seconds(started));
    {
        // Sessions that started one interval ago, owned by this process.
        store::Connection connection(database->path(), {false, "normal", 5000});
        connection.Transaction([&] {
            auto& insert = connection.Cached(
                "INSERT INTO live_sessions (user_id, hold_id, feature, rate_per_minute, instance, status, "
                "started_at, last_seen_at) VALUES (?, ?, 'live_dubbing', ?, 'bench', 'active', ?, ?)");
            for (int64_t id = 1; id <= sessions; ++id) {
                insert.Bind(1, id).Bind(2, id).Bind(3, kRate).Bind(4, now - kElapsedMs)
                    .Bind(5, now - kElapsedMs).Run();
            }
        });
    }

    auto store = database->NewSessionStore();
    const int status = Measure(sessions, *writer, *store, clock, metrics);
    const auto report = ledger::Audit(*database->LoadAudit(int64_t{1} << 40));
    std::printf("ledger verify: %s (%zu problems)\n", report.ok() ? "ok" : "FAILED", report.problems.size());
    database.reset();
    std::filesystem::remove_all(dir);
    return report.ok() ? status : 1;
}

}  // namespace
}  // namespace beta500

int main(int argc, char** argv) {
    const int64_t sessions = argc > 1 ? std::stoll(argv[1]) : 100'000;
    if (argc > 3 && std::string(argv[2]) == "--postgres") {
        return beta500::MainPostgres(sessions, argv[3]);
    }
    return beta500::Main(sessions);
}
