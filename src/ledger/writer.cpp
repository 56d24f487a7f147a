#include "ledger/writer.h"

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <chrono>
#include <future>
#include <map>

#include "core/assert.h"
#include "core/crypto.h"
#include "obs/metrics.h"

namespace beta500::ledger {

// Wallets cached before the state is dropped after a commit (bounds the writer's memory).
constexpr size_t kCachedAccountsMax = 262'144;
// Stale idempotency records deleted per expiry run at most (bounds the work of one run).
constexpr int64_t kIdempotencyPurgePerRun = 10'000;

struct Writer::Metrics {
    explicit Metrics(obs::Registry& metrics)
        : registry(metrics),
          batch_size(metrics.GetHistogram("beta500_ledger_batch_size", "Operations per commit.",
                                           obs::SizeBuckets())),
          commit_seconds(metrics.GetHistogram("beta500_ledger_commit_seconds",
                                               "Time to apply and commit one batch.",
                                               obs::LatencyBuckets())),
          queue_depth(metrics.GetGauge("beta500_ledger_queue_depth",
                                        "Operations waiting for the writer.")),
          commit_failures(metrics.GetCounter("beta500_ledger_commit_failures_total",
                                              "Batches whose commit failed.")) {}

    void Count(std::string_view kind, Rejection rejection) {
        // The writer thread is the only caller, so the cache needs no lock.
        auto key = std::make_pair(std::string(kind), rejection);
        auto found = operations.find(key);
        if (found == operations.end()) {
            const std::string result =
                rejection == Rejection::kNone ? "ok" : std::string(RejectionName(rejection));
            obs::Counter& counter = registry.GetCounter(
                "beta500_ledger_operations_total", "Ledger operations by kind and result.",
                {{"kind", std::string(kind)}, {"result", result}});
            found = operations.emplace(key, &counter).first;
        }
        found->second->Inc();
    }

    obs::Registry& registry;
    obs::Histogram& batch_size;
    obs::Histogram& commit_seconds;
    obs::Gauge& queue_depth;
    obs::Counter& commit_failures;
    std::map<std::pair<std::string, Rejection>, obs::Counter*> operations;
};

Result<std::unique_ptr<Writer>> Writer::Start(std::unique_ptr<LedgerStore> store,
                                              WriterOptions options, const Clock& clock,
                                              obs::Registry* metrics) {
    auto next_ids = store->LoadNextIds();
    if (!next_ids) {
        return next_ids.error();
    }
    std::unique_ptr<Writer> writer(new Writer(std::move(store), options, clock, metrics));
    writer->state_.SetNextIds(next_ids->transfer_id, next_ids->lot_id, next_ids->hold_id);
    writer->thread_ = std::thread([raw = writer.get()] { raw->Run(); });
    return writer;
}

Writer::Writer(std::unique_ptr<LedgerStore> store, WriterOptions options, const Clock& clock,
               obs::Registry* metrics)
    : store_(std::move(store)),
      options_(options),
      clock_(clock),
      metrics_(metrics ? std::make_unique<Metrics>(*metrics) : nullptr) {}

Writer::~Writer() { Stop(); }

void Writer::Submit(Request request, Callback done) {
    Rejection refused = Rejection::kNone;
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            refused = Rejection::kUnavailable;
        } else if (static_cast<int64_t>(queue_.size()) >= options_.queue_max) {
            refused = Rejection::kOverloaded;
        } else {
            queue_.push_back(Item{std::move(request), std::move(done), {}});
            if (metrics_) {
                metrics_->queue_depth.Set(static_cast<int64_t>(queue_.size()));
            }
        }
    }
    if (refused != Rejection::kNone) {
        done(Response{refused, RejectionBody(refused, refused == Rejection::kOverloaded
                                                          ? "the ledger queue is full"
                                                          : "the ledger is stopping"),
                      false});
        return;
    }
    wake_.notify_one();
}

Response Writer::Call(Request request) {
    std::promise<Response> promise;
    auto future = promise.get_future();
    Submit(std::move(request), [&promise](Response response) { promise.set_value(std::move(response)); });
    return future.get();
}

void Writer::Stop() {
    {
        std::lock_guard lock(mutex_);
        if (stopping_ && !thread_.joinable()) {
            return;
        }
        stopping_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) {
        thread_.join();
    }
}

void Writer::Run() {
    std::deque<Item> items;
    for (;;) {
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
            if (queue_.empty()) {
                return;  // stopping, and everything queued has been answered
            }
            const size_t take = std::min(queue_.size(), static_cast<size_t>(options_.batch_max));
            std::move(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(take),
                      std::back_inserter(items));
            queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(take));
            if (metrics_) {
                metrics_->queue_depth.Set(static_cast<int64_t>(queue_.size()));
            }
        }
        ProcessBatch(items);
        items.clear();
    }
}

void Writer::ProcessBatch(std::deque<Item>& items) {
    const auto started = std::chrono::steady_clock::now();
    const int64_t now_ms = clock_.NowMs();
    Batch batch;
    Engine engine(state_, batch, options_.limits);
    batch_failed_ = false;
    Status committed = store_->Begin();
    if (committed && store_->CacheStale()) {
        state_.Clear();
        if (auto ids = store_->LoadNextIds()) {
            state_.SetNextIds(ids->transfer_id, ids->lot_id, ids->hold_id);
        } else {
            store_->Rollback();
            committed = ids.error();
        }
    }
    if (committed) {
        std::vector<std::pair<std::string, std::string>> keys;
        keys.reserve(items.size());
        for (const Item& item : items) {
            if (!item.request.idempotency_key.empty()) {
                keys.emplace_back(item.request.actor, item.request.idempotency_key);
            }
        }
        committed = store_->PrefetchIdempotency(keys);
        if (committed) {
            std::vector<int64_t> users, holds;
            for (const Item& item : items) {
                const Requirements needs = RequirementsOf(item.request.operation);
                if (needs.user_id && !state_.HasWalletOf(*needs.user_id)) {
                    users.push_back(*needs.user_id);
                }
                if (needs.hold_id && state_.FindHold(*needs.hold_id) == nullptr) {
                    holds.push_back(*needs.hold_id);
                }
            }
            committed = store_->PrefetchWallets(users, holds);
        }
        if (!committed) {
            store_->Rollback();
        }
    }
    if (committed) {
        for (Item& item : items) {
            item.response = Process(item, engine, batch, now_ms);
        }
        if (batch_failed_) {
            store_->Rollback();
            committed = Error{ErrorCode::kUnavailable, "an operation failed halfway; batch rolled back"};
        } else {
            committed = store_->Commit(batch, state_);
        }
    }
    if (committed) {
        if (options_.on_commit) {
            std::vector<WalletBalance> changed;
            for (int64_t account_id : batch.dirty_accounts) {
                const Account* account = state_.FindAccount(account_id);
                if (account != nullptr && account->is_wallet()) {
                    changed.push_back({*account->user_id, account->available(),
                                       account->debits_pending, account->posted(),
                                       account->credits_posted});
                }
            }
            if (!changed.empty()) {
                options_.on_commit(changed);
            }
        }
        state_.Prune(batch.prunable_accounts);
        if (state_.account_count() > kCachedAccountsMax) {
            state_.Clear();
        }
    } else {
        // The state ran ahead of what is durable: drop it and answer every caller.
        spdlog::error("msg=\"ledger commit failed\" operations={} error={}", items.size(),
                      committed.error().message);
        if (metrics_) {
            metrics_->commit_failures.Inc();
        }
        state_.Clear();
        if (auto ids = store_->LoadNextIds()) {
            state_.SetNextIds(ids->transfer_id, ids->lot_id, ids->hold_id);
        }
        for (Item& item : items) {
            item.response = Response{Rejection::kUnavailable,
                                     RejectionBody(Rejection::kUnavailable, "storage failure"), false};
        }
    }
    if (metrics_) {
        metrics_->batch_size.Observe(static_cast<double>(items.size()));
        metrics_->commit_seconds.Observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
        for (const Item& item : items) {
            metrics_->Count(OperationName(item.request.operation), item.response.rejection);
        }
    }
    for (Item& item : items) {
        item.done(std::move(item.response));
    }
}

Status Writer::EnsureSystem(const std::string& name, int64_t now_ms) {
    if (state_.FindSystemAccount(name) != nullptr) {
        return Status::Ok();
    }
    auto account = store_->LoadOrCreateSystemAccount(name, now_ms);
    if (!account) {
        return account.error();
    }
    state_.AddAccount(std::move(*account));
    return Status::Ok();
}

Status Writer::EnsureWallet(std::optional<WalletRows> rows, int64_t now_ms) {
    if (!rows || state_.HasAccount(rows->account.id)) {
        return Status::Ok();
    }
    for (const Hold& hold : rows->open_holds) {
        if (Status status = EnsureSystem(UsageAccountName(hold.feature), now_ms); !status) {
            return status;
        }
    }
    state_.AddAccount(std::move(rows->account));
    for (Lot& lot : rows->lots) {
        state_.AddLot(std::move(lot));
    }
    for (Hold& hold : rows->open_holds) {
        state_.AddHold(std::move(hold));
    }
    return Status::Ok();
}

Status Writer::LoadRequirements(const Operation& operation, int64_t now_ms) {
    Requirements needs = RequirementsOf(operation);
    for (const std::string& name : needs.system_accounts) {
        if (Status status = EnsureSystem(name, now_ms); !status) {
            return status;
        }
    }
    if (needs.user_id && !state_.HasWalletOf(*needs.user_id)) {
        auto rows = store_->LoadWalletByUser(*needs.user_id);
        if (!rows) {
            return rows.error();
        }
        if (Status status = EnsureWallet(std::move(*rows), now_ms); !status) {
            return status;
        }
    }
    if (needs.hold_id && state_.FindHold(*needs.hold_id) == nullptr) {
        auto hold = store_->LoadHold(*needs.hold_id);
        if (!hold) {
            return hold.error();
        }
        if (!*hold) {
            return Status::Ok();
        }
        if (!state_.HasAccount((*hold)->account_id)) {
            auto rows = store_->LoadWalletByAccount((*hold)->account_id);
            if (!rows) {
                return rows.error();
            }
            if (Status status = EnsureWallet(std::move(*rows), now_ms); !status) {
                return status;
            }
        }
        if (state_.FindHold(*needs.hold_id) == nullptr) {
            // A resolved hold is not among the wallet's open holds: load it for its status.
            if (Status status = EnsureSystem(UsageAccountName((*hold)->feature), now_ms); !status) {
                return status;
            }
            state_.AddHold(std::move(**hold));
        }
    }
    return Status::Ok();
}

Response Writer::ExpireDue(int64_t limit, Engine& engine, int64_t now_ms) {
    // Keys past their retention go first (a bounded DELETE inside the batch's transaction).
    if (!store_->PurgeIdempotency(now_ms - options_.idempotency_ttl_ms, kIdempotencyPurgePerRun)) {
        return {Rejection::kUnavailable, RejectionBody(Rejection::kUnavailable, "storage failure"), false};
    }
    auto due = store_->DueWalletAccounts(now_ms, limit);
    if (!due) {
        return {Rejection::kUnavailable, RejectionBody(Rejection::kUnavailable, "storage failure"), false};
    }
    if (Status status = EnsureSystem(std::string(kExpiredAccount), now_ms); !status) {
        return {Rejection::kUnavailable, RejectionBody(Rejection::kUnavailable, "storage failure"), false};
    }
    for (int64_t account_id : *due) {
        if (!state_.HasAccount(account_id)) {
            auto rows = store_->LoadWalletByAccount(account_id);
            if (!rows || !EnsureWallet(std::move(*rows), now_ms)) {
                return {Rejection::kUnavailable,
                        RejectionBody(Rejection::kUnavailable, "storage failure"), false};
            }
        }
        if (Account* wallet = state_.FindAccount(account_id)) {
            engine.ExpireDue(*wallet, {"system", "", now_ms});
        }
    }
    return {Rejection::kNone,
            boost::json::serialize(boost::json::object{{"wallets", due->size()}}), false};
}

Result<std::pair<Outcome, bool>> Writer::Enroll(const ledger::Enroll& op, Engine& engine,
                                                 const Context& context) {
    auto enrollment = store_->Enroll(op, context.now_ms);
    if (!enrollment) {
        batch_failed_ = true;  // the store may have written part of the enrollment
        return enrollment.error();
    }
    if (enrollment->rejection != Rejection::kNone) {
        return std::make_pair(
            Outcome{enrollment->rejection,
                    RejectionBody(enrollment->rejection, "there is no open invitation for this email")},
            false);
    }
    boost::json::object body{{"user_id", std::to_string(enrollment->user_id)},
                             {"enrolled", enrollment->created}};
    if (!enrollment->created) {
        return std::make_pair(Outcome{Rejection::kNone, boost::json::serialize(body)}, false);
    }
    // From here the user, wallet and consumed invitation are written: a failure must undo them
    // with the whole batch, never leave a user without the grant.
    auto rows = store_->LoadWalletByUser(enrollment->user_id);
    if (!rows || !EnsureWallet(std::move(*rows), context.now_ms)) {
        batch_failed_ = true;
        return Error{ErrorCode::kUnavailable, "could not load the new wallet"};
    }
    body["invitation_id"] = std::to_string(enrollment->invitation_id);
    if (enrollment->initial_credits > 0) {
        const Outcome grant = engine.Apply(
            Grant{enrollment->user_id, enrollment->initial_credits, std::nullopt,
                  "enrollment, invitation " + std::to_string(enrollment->invitation_id)},
            context);
        if (grant.rejection != Rejection::kNone) {
            // The invitation's credits break a limit in force now (a lower amount_max since it was
            // made, or above the wallet balance limit): the person cannot enroll until an admin
            // replaces the invitation.
            spdlog::error("msg=\"enrollment grant refused\" invitation_id={} code={}",
                          enrollment->invitation_id, RejectionName(grant.rejection));
            batch_failed_ = true;
            return Error{ErrorCode::kFailedPrecondition, "the invitation's grant is refused"};
        }
        body["grant"] = boost::json::parse(grant.body);
    }
    return std::make_pair(Outcome{Rejection::kNone, boost::json::serialize(body)}, true);
}

bool Writer::Suspended(const Operation& operation) {
    if (!options_.is_suspended) {
        return false;
    }
    std::optional<int64_t> user_id;
    if (const auto* deduct = std::get_if<Deduct>(&operation)) {
        user_id = deduct->user_id;
    } else if (const auto* authorize = std::get_if<Authorize>(&operation)) {
        user_id = authorize->user_id;
    } else if (const auto* increment = std::get_if<Increment>(&operation)) {
        if (const Hold* hold = state_.FindHold(increment->hold_id)) {
            if (const Account* wallet = state_.FindAccount(hold->account_id)) {
                user_id = wallet->user_id;
            }
        }
    }
    // Captures and releases settle what was already held, so they go through.
    return user_id && options_.is_suspended(*user_id);
}

Response Writer::Process(Item& item, Engine& engine, Batch& batch, int64_t now_ms) {
    const Request& request = item.request;
    if (const auto* expire = std::get_if<ledger::ExpireDue>(&request.operation)) {
        return ExpireDue(expire->limit, engine, now_ms);
    }
    if (!ValidIdempotencyKey(request.idempotency_key)) {
        return {Rejection::kInvalidIdempotencyKey,
                RejectionBody(Rejection::kInvalidIdempotencyKey,
                              "an idempotency key of 1 to 255 printable characters is required"),
                false};
    }
    const std::string request_hash = Sha256Hex(CanonicalRequest(request.operation));
    auto replay = [&](const std::string& stored_hash, Rejection rejection,
                      const std::string& body) -> Response {
        if (stored_hash != request_hash) {
            return {Rejection::kIdempotencyKeyReused,
                    RejectionBody(Rejection::kIdempotencyKeyReused,
                                  "this idempotency key was used with a different request"),
                    false};
        }
        return {rejection, body, true};
    };
    const std::string index_key = request.actor + '\n' + request.idempotency_key;
    if (auto found = batch.idempotency_index.find(index_key); found != batch.idempotency_index.end()) {
        const IdempotencyRecord& record = batch.idempotency[found->second];
        return replay(record.request_hash, record.rejection, record.response);
    }
    auto stored = store_->LoadIdempotency(request.actor, request.idempotency_key);
    if (!stored) {
        return {Rejection::kUnavailable, RejectionBody(Rejection::kUnavailable, "storage failure"), false};
    }
    if (*stored) {
        return replay((*stored)->request_hash, (*stored)->rejection, (*stored)->body);
    }
    if (Status status = LoadRequirements(request.operation, now_ms); !status) {
        return {Rejection::kUnavailable, RejectionBody(Rejection::kUnavailable, "storage failure"), false};
    }
    const Context context{request.actor, request.idempotency_key, now_ms};
    Outcome outcome;
    if (const auto* enroll = std::get_if<ledger::Enroll>(&request.operation)) {
        auto enrolled = Enroll(*enroll, engine, context);
        if (!enrolled) {
            return {Rejection::kUnavailable, RejectionBody(Rejection::kUnavailable, "storage failure"), false};
        }
        if (!enrolled->second) {
            // Nothing was written (not invited, or already a user): nothing to replay later.
            return {enrolled->first.rejection, std::move(enrolled->first.body), false};
        }
        outcome = std::move(enrolled->first);
    } else if (Suspended(request.operation)) {
        outcome = Outcome{Rejection::kUserSuspended,
                          RejectionBody(Rejection::kUserSuspended, "the user is suspended")};
    } else {
        outcome = engine.Apply(request.operation, context);
    }
    B5_ASSERT(!IsTransient(outcome.rejection), "the engine never answers a transient rejection");
    batch.idempotency_index.emplace(index_key, batch.idempotency.size());
    batch.idempotency.push_back(IdempotencyRecord{request.actor, request.idempotency_key,
                                                  request_hash, outcome.rejection, outcome.body,
                                                  now_ms});
    return {outcome.rejection, std::move(outcome.body), false};
}

}  // namespace beta500::ledger
