// In-process ledger throughput, durable (SQLite synchronous=full; PostgreSQL with fsync and
// synchronous_commit on), group commit against the per-operation design (batch_max=1: one
// transaction, one fsync, per operation), side by side.
// Usage: ledger_bench [seconds_per_case] [--group-only | --postgres URL] — prints one line per
// case and the ratios; --group-only runs the group-commit deductions alone (for profiling);
// --postgres runs both designs on PostgreSQL (each in a schema of its own) instead of SQLite.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <semaphore>
#include <string>
#include <thread>

#include <boost/json.hpp>

#include "core/assert.h"
#include "ledger/writer.h"
#include "obs/metrics.h"
#include "store/database.h"
#include "store/pg_ledger_store.h"

namespace beta500 {
namespace {

// Operations in flight at most (as many concurrent callers).
constexpr int kInFlight = 4096;
constexpr int kUsers = 64;

struct Figures {
    double operations_per_second = 0;
    int64_t operations = 0;
};

class Bench {
   public:
    // On SQLite in a temporary directory, or on PostgreSQL (`postgres_url`) in schema `name`.
    Bench(const std::string& name, int64_t batch_max, const std::string& postgres_url = "") {
        ledger::WriterOptions options;
        options.batch_max = batch_max;
        options.queue_max = kInFlight * 2;
        std::unique_ptr<ledger::LedgerStore> store;
        if (postgres_url.empty()) {
            dir_ = std::filesystem::temp_directory_path() / ("beta500-bench-" + name);
            std::filesystem::remove_all(dir_);
            Config::Database config;
            config.data_dir = dir_.string();
            config.synchronous = "full";
            database_ = std::move(*store::Database::Open(config, clock_));
            for (int i = 0; i < kUsers; ++i) {
                users_.push_back(*database_->CreateUser("u" + std::to_string(i) + "@example.com", "user"));
            }
            // As in `serve`: every spending operation asks whether its user is suspended.
            options.is_suspended = [this](int64_t user_id) { return database_->IsSuspended(user_id); };
            store = database_->NewLedgerStore();
        } else {
            auto admin = std::move(*store::PgConnection::Open(postgres_url));
            B5_ASSERT(admin->Script("DROP SCHEMA IF EXISTS " + name + " CASCADE; CREATE SCHEMA " + name), "schema");
            const std::string url = postgres_url + "&options=-csearch_path%3D" + name;
            auto setup = std::move(*store::PgConnection::Open(url));
            B5_ASSERT(store::MigratePostgres(*setup, clock_.NowMs()).has_value(), "migrations");
            for (int i = 0; i < kUsers; ++i) {
                const std::string now = std::to_string(clock_.NowMs());
                auto user = setup->Exec("INSERT INTO users (email, created_at, enrolled_at) VALUES ($1, $2, $2) "
                                        "RETURNING id",
                                        {"u" + std::to_string(i) + "@example.com", now});
                const std::string id = user->Text(0, 0);
                B5_ASSERT(setup->Exec("INSERT INTO accounts (name, user_id, created_at) VALUES ($1, $2, $3)",
                                      {"user:" + id, id, now})
                              .has_value(),
                          "wallet");
                users_.push_back(std::stoll(id));
            }
            store = std::make_unique<store::PgLedgerStore>(std::move(*store::PgConnection::Open(url)));
        }
        writer_ = std::move(*ledger::Writer::Start(std::move(store), options, clock_, &metrics_));
        for (int64_t user : users_) {
            writer_->Call({ledger::Grant{user, 1'000'000'000, {}, "bench"}, "bench", "seed" + std::to_string(user)});
        }
    }
    ~Bench() {
        writer_.reset();
        database_.reset();
        if (!dir_.empty()) {
            std::filesystem::remove_all(dir_);
        }
    }

    // Keeps kInFlight operations queued for `seconds`; `make(i)` builds the i-th request.
    template <typename Make>
    Figures Run(double seconds, Make make) {
        std::counting_semaphore<kInFlight> slots(kInFlight);
        std::atomic<int64_t> done{0};
        std::atomic<int64_t> failed{0};
        const auto start = std::chrono::steady_clock::now();
        const auto end = start + std::chrono::duration<double>(seconds);
        int64_t submitted = 0;
        while (std::chrono::steady_clock::now() < end) {
            slots.acquire();
            writer_->Submit(make(submitted++), [&](ledger::Response response) {
                if (response.rejection != ledger::Rejection::kNone) {
                    ++failed;
                }
                ++done;
                slots.release();
            });
        }
        for (int i = 0; i < kInFlight; ++i) {
            slots.acquire();
        }
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        if (failed.load() > 0) {
            std::fprintf(stderr, "warning: %lld operations rejected\n", static_cast<long long>(failed.load()));
        }
        return {static_cast<double>(done.load()) / elapsed, done.load()};
    }

    Figures Deductions(double seconds) {
        return Run(seconds, [this](int64_t i) {
            return ledger::Request{ledger::Deduct{users_[static_cast<size_t>(i % kUsers)], 1, "ai_search", ""},
                                   "bench", "d" + std::to_string(i)};
        });
    }

    // Authorize then capture (final) per pair: the capture is sent once the hold exists.
    Figures AuthorizeCapturePairs(double seconds) {
        std::atomic<int64_t> pairs{0};
        std::counting_semaphore<kInFlight> slots(kInFlight);
        const auto start = std::chrono::steady_clock::now();
        const auto end = start + std::chrono::duration<double>(seconds);
        int64_t submitted = 0;
        while (std::chrono::steady_clock::now() < end) {
            slots.acquire();
            const int64_t i = submitted++;
            writer_->Submit(
                {ledger::Authorize{users_[static_cast<size_t>(i % kUsers)], 5, 60, "live_dubbing", ""}, "bench",
                 "a" + std::to_string(i)},
                [this, i, &pairs, &slots](ledger::Response response) {
                    const auto hold = boost::json::parse(response.body).at("hold").at("id").as_string();
                    // Runs on the writer thread: queue the capture without waiting for it.
                    writer_->Submit({ledger::Capture{std::stoll(std::string(hold)), 3, true}, "bench",
                                     "c" + std::to_string(i)},
                                    [&pairs, &slots](ledger::Response) {
                                        ++pairs;
                                        slots.release();
                                    });
                });
        }
        for (int i = 0; i < kInFlight; ++i) {
            slots.acquire();
        }
        const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        return {static_cast<double>(pairs.load()) / elapsed, pairs.load()};
    }

    // The writer's own figures: batches, mean batch size, time inside ProcessBatch.
    std::string WriterSummary() {
        const std::string text = metrics_.Render();
        auto value = [&](const std::string& name) {
            const auto at = text.find("\n" + name + " ");
            return at == std::string::npos ? 0.0 : std::stod(text.substr(at + name.size() + 2));
        };
        const double batches = value("beta500_ledger_batch_size_count");
        return "batches=" + std::to_string(static_cast<int64_t>(batches)) +
               " mean_batch=" + std::to_string(value("beta500_ledger_batch_size_sum") / batches) +
               " writer_busy_seconds=" + std::to_string(value("beta500_ledger_commit_seconds_sum"));
    }

   private:
    SystemClock clock_;
    obs::Registry metrics_;
    std::filesystem::path dir_;
    std::unique_ptr<store::Database> database_;
    std::unique_ptr<ledger::Writer> writer_;
    std::vector<int64_t> users_;
};

}  // namespace
}  // namespace beta500

int main(int argc, char** argv) {
    using beta500::Bench;
    const double seconds = argc > 1 ? std::stod(argv[1]) : 5.0;
    if (argc > 2 && std::string(argv[2]) == "--group-only") {
        Bench grouped("grouped", 4096);
        std::printf("deduct,group_commit,%.0f\n", grouped.Deductions(seconds).operations_per_second);
        std::printf("%s\n", grouped.WriterSummary().c_str());
        return 0;
    }
    const std::string postgres = argc > 3 && std::string(argv[2]) == "--postgres" ? argv[3] : "";
    Bench grouped("grouped", 4096, postgres);
    Bench single("single", 1, postgres);
    std::printf("backend: %s\n", postgres.empty() ? "sqlite" : "postgresql");
    const auto grouped_deduct = grouped.Deductions(seconds);
    const auto single_deduct = single.Deductions(seconds);
    const auto grouped_pairs = grouped.AuthorizeCapturePairs(seconds);
    const auto single_pairs = single.AuthorizeCapturePairs(seconds);
    std::printf("case,design,operations,per_second\n");
    std::printf("deduct,group_commit,%lld,%.0f\n", static_cast<long long>(grouped_deduct.operations),
                grouped_deduct.operations_per_second);
    std::printf("deduct,per_operation,%lld,%.0f\n", static_cast<long long>(single_deduct.operations),
                single_deduct.operations_per_second);
    std::printf("authorize_capture_pair,group_commit,%lld,%.0f\n", static_cast<long long>(grouped_pairs.operations),
                grouped_pairs.operations_per_second);
    std::printf("authorize_capture_pair,per_operation,%lld,%.0f\n", static_cast<long long>(single_pairs.operations),
                single_pairs.operations_per_second);
    std::printf("ratio deduct: %.1fx, authorize+capture: %.1fx\n",
                grouped_deduct.operations_per_second / single_deduct.operations_per_second,
                grouped_pairs.operations_per_second / single_pairs.operations_per_second);
    return 0;
}
