// Writer: the one ledger writer of a process. Callers Submit operations to a bounded queue; a
// single thread drains it, applies up to batch_max operations and commits them in one
// transaction (group commit, as LevelDB's write path), then answers every caller.
// A rejected operation never fails its batch; a failed commit answers every operation of the
// batch `unavailable` and reloads the state from the store.
// Thread-safe: Submit and Call may be called from any thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "core/result.h"
#include "ledger/engine.h"
#include "ledger/store.h"

namespace beta500::obs {
class Registry;
}

namespace beta500::ledger {

struct Request {
    Operation operation;
    // Who asks, e.g. "token:7": recorded on transfers, and the scope of the idempotency key.
    std::string actor;
    std::string idempotency_key;  // required for every operation but ExpireDue
};

struct Response {
    Rejection rejection = Rejection::kNone;
    std::string body;       // JSON
    bool replayed = false;  // answered from the idempotency record
};

// A wallet's balance right after a commit that changed it.
struct WalletBalance {
    int64_t user_id = 0;
    int64_t available = 0;
    int64_t held = 0;
    int64_t posted = 0;
    int64_t received = 0;  // every credit ever put in: grants and positive adjustments
};

struct WriterOptions {
    // Whether a user is suspended (thread-safe, cheap: asked once per spending operation).
    // Deductions, new holds and increments of a suspended user's wallet are refused.
    std::function<bool(int64_t user_id)> is_suspended;
    // Runs on the writer thread after each durable commit with the wallets it changed (keep it
    // short: it delays the next batch).
    std::function<void(const std::vector<WalletBalance>&)> on_commit;
    int64_t queue_max = 65536;
    int64_t batch_max = 4096;
    int64_t idempotency_ttl_ms = 7LL * 24 * 3600 * 1000;
    Limits limits;
};

class Writer {
   public:
    // Runs on the writer thread after the operation's batch is durable; keep it short.
    using Callback = std::function<void(Response)>;

    // `clock` and `metrics` are borrowed and must outlive the writer; `metrics` may be null.
    static Result<std::unique_ptr<Writer>> Start(std::unique_ptr<LedgerStore> store,
                                                 WriterOptions options, const Clock& clock,
                                                 obs::Registry* metrics);
    ~Writer();
    Writer(const Writer&) = delete;
    Writer& operator=(const Writer&) = delete;

    // Queues the request. When the queue is full, `done` runs at once on the calling thread
    // with `overloaded`.
    void Submit(Request request, Callback done);
    // Submits and waits for the answer (for the CLI, tests and benchmarks).
    Response Call(Request request);
    // Answers what is queued, then stops the thread. Later submissions get `unavailable`.
    void Stop();


   private:
    struct Item {
        Request request;
        Callback done;
        Response response;
    };
    struct Metrics;

    Writer(std::unique_ptr<LedgerStore> store, WriterOptions options, const Clock& clock,
           obs::Registry* metrics);
    void Run();
    void ProcessBatch(std::deque<Item>& items);
    Response Process(Item& item, Engine& engine, Batch& batch, int64_t now_ms);
    Status EnsureWallet(std::optional<WalletRows> rows, int64_t now_ms);
    Status EnsureSystem(const std::string& name, int64_t now_ms);
    Status LoadRequirements(const Operation& operation, int64_t now_ms);
    Response ExpireDue(int64_t limit, Engine& engine, int64_t now_ms);
    bool Suspended(const Operation& operation);
    // The outcome of an enrollment, and whether it wrote anything (only then it is recorded).
    Result<std::pair<Outcome, bool>> Enroll(const ledger::Enroll& op, Engine& engine,
                                            const Context& context);

    std::unique_ptr<LedgerStore> store_;
    const WriterOptions options_;
    const Clock& clock_;
    std::unique_ptr<Metrics> metrics_;

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Item> queue_;  // GUARDED_BY(mutex_)
    bool stopping_ = false;   // GUARDED_BY(mutex_)

    // Owned by the writer thread.
    LedgerState state_;
    // Set when an operation failed after the store wrote rows for it (an enrollment): the whole
    // batch is rolled back rather than committing half an operation.
    bool batch_failed_ = false;
    std::thread thread_;
};

}  // namespace beta500::ledger
