// Usage analytics over a 90-day range of a 1,000,000-row journal (500 users, three features,
// grants, usage and captures spread over the days): by day from the daily sums the ledger keeps
// (usage_daily), side by side in the same run with the same range read from the journal itself
// (by hour, on its covering index) and, as the naive baseline, from a table scan.
// Usage: analytics_bench [ROWS]. Bounded: about a minute at 1,000,000 rows.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <vector>

#include "core/clock.h"
#include "store/database.h"
#include "store/sqlite.h"

using namespace beta500;
using Steady = std::chrono::steady_clock;

namespace {

constexpr int64_t kDayMs = 86'400'000;
constexpr int kUsers = 500;
constexpr int kRuns = 5;

double Median(std::vector<double> samples) {
    std::sort(samples.begin(), samples.end());
    return samples[samples.size() / 2];
}

double TimeUsage(store::Database& database, int64_t from, int64_t to, int64_t bucket, int64_t& spent) {
    std::vector<double> samples;
    for (int run = 0; run < kRuns; ++run) {
        const auto started = Steady::now();
        auto report = database.Usage(from, to, bucket);
        samples.push_back(std::chrono::duration<double, std::milli>(Steady::now() - started).count());
        if (!report) {
            std::fprintf(stderr, "usage failed: %s\n", report.error().message.c_str());
            std::exit(1);
        }
        spent = report->spent;
    }
    return Median(samples);
}

}  // namespace

int main(int argc, char** argv) {
    const int64_t rows = argc > 1 ? std::stoll(argv[1]) : 1'000'000;
    const auto dir = std::filesystem::temp_directory_path() / ("beta500-analytics-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    ManualClock clock(1'795'392'000'000);  // 2026-11-23T00:00:00Z
    Config::Database config;
    config.data_dir = dir.string();
    config.synchronous = "normal";
    auto database = std::move(*store::Database::Open(config, clock));
    for (int u = 0; u < kUsers; ++u) {
        (void)database->CreateUser("u" + std::to_string(u) + "@bench.test", "user");
    }
    const int64_t from = clock.NowMs() - 90 * kDayMs;
    const int64_t to = clock.NowMs();
    {
        store::Connection connection((dir / "beta500.sqlite3").string(), store::Connection::Options{false, "off", 5000});
        connection.Exec("BEGIN");
        static const char* const kFeatures[] = {"ai_search", "ai_recommendations", "live_dubbing"};
        for (const char* feature : kFeatures) {
            connection.Cached("INSERT INTO accounts (name, created_at) VALUES (?, ?)")
                .Bind(1, std::string("system:usage:") + feature).Bind(2, from).Run();
        }
        connection.Exec("INSERT INTO accounts (name, created_at) VALUES ('system:grants', 0)");
        const int64_t grants = connection.LastInsertRowId();
        const int64_t usage_base = grants - 3;
        std::mt19937 random(3);
        std::uniform_int_distribution<int64_t> when(from, to - 1);
        auto& insert = connection.Cached(
            "INSERT INTO transfers (debit_account_id, credit_account_id, amount, kind, feature, actor, created_at) "
            "VALUES (?, ?, ?, ?, ?, 'bench', ?)");
        for (int64_t i = 0; i < rows; ++i) {
            const int64_t wallet = 1 + static_cast<int64_t>(random() % kUsers);  // user accounts come first
            const int64_t at = when(random);
            const int pick = static_cast<int>(random() % 100);
            if (pick < 2) {
                insert.Bind(1, grants).Bind(2, wallet).Bind(3, int64_t{1000}).Bind(4, "grant").Bind(5, "").Bind(6, at);
            } else {
                const int feature = pick % 3;
                insert.Bind(1, wallet).Bind(2, usage_base + feature).Bind(3, 1 + static_cast<int64_t>(random() % 20))
                    .Bind(4, feature == 2 ? "capture" : "usage").Bind(5, kFeatures[feature]).Bind(6, at);
            }
            insert.Run();
        }
        // What the ledger's commits keep as they write (here: filled at once, as the migration does).
        connection.Exec("INSERT INTO usage_daily (day_ms, account_id, kind, feature, amount, operations) "
                        "SELECT created_at - created_at % 86400000, debit_account_id, kind, feature, SUM(amount), "
                        "COUNT(*) FROM transfers GROUP BY 1, 2, 3, 4");
        connection.Exec("COMMIT");
        connection.Exec("ANALYZE");
    }
    int64_t spent = 0, journal_spent = 0, scan_spent = 0, spent_30_days = 0;
    const double by_day = TimeUsage(*database, from, to, kDayMs, spent);
    const double journal = TimeUsage(*database, from, to, kDayMs / 24, journal_spent);
    const double by_hour = TimeUsage(*database, to - 30 * kDayMs, to, kDayMs / 24, spent_30_days);
    {
        store::Connection connection((dir / "beta500.sqlite3").string(), store::Connection::Options{false, "normal", 5000});
        connection.Exec("DROP INDEX transfers_by_time");
    }
    const double scan = TimeUsage(*database, from, to, kDayMs / 24, scan_spent);
    const bool same = spent == journal_spent && spent == scan_spent;
    std::printf("usage analytics over %lld journal rows, 90 days: by day from the daily sums %.1f ms; from the "
                "journal on its covering index %.1f ms (%.1fx); by table scan %.1f ms (%.1fx); 30 days by hour "
                "from the journal %.1f ms (medians of %d)%s\n",
                static_cast<long long>(rows), by_day, journal, journal / by_day, scan, scan / by_day, by_hour, kRuns,
                same ? "" : " MISMATCH");
    database.reset();
    std::filesystem::remove_all(dir);
    return same ? 0 : 1;
}
