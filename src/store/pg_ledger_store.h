// PgLedgerStore: the ledger writer's store on PostgreSQL (ledger::LedgerStore), on its own
// connection. A batch is one transaction; the wallets it loads are locked (FOR UPDATE), and each
// kind of row a commit writes goes in one statement (COPY for the journal and the idempotency
// records, unnested arrays for the rest), so a batch of thousands of operations costs a handful
// of round trips; the batch's wallets, holds and idempotency records are read in one query
// each. The writers of several servers take turns: a batch holds one advisory lock, and one
// that finds ledger_version moved since its own last commit tells its writer to drop the
// wallets it cached and take the next ids again (CacheStale). LoadAuditPostgres gives
// `beta500 ledger verify`'s input from PostgreSQL.
#pragma once

#include <memory>
#include <unordered_map>

#include "ledger/audit.h"
#include "ledger/store.h"
#include "ledger/writer.h"
#include "store/postgres.h"

namespace beta500::store {

class PgLedgerStore final : public ledger::LedgerStore {
   public:
    // With `notify_as` (the server's instance name), every batch that changes wallets also
    // notifies kBalanceChannel, on commit, for the other servers' browsers.
    explicit PgLedgerStore(std::unique_ptr<PgConnection> connection, std::string notify_as = "")
        : db_(std::move(connection)), notify_as_(std::move(notify_as)) {}

    Status Begin() override;
    void Rollback() override;
    Result<ledger::NextIds> LoadNextIds() override;
    Result<std::optional<ledger::WalletRows>> LoadWalletByUser(int64_t user_id) override;
    Result<std::optional<ledger::WalletRows>> LoadWalletByAccount(int64_t account_id) override;
    Result<std::optional<ledger::Hold>> LoadHold(int64_t hold_id) override;
    Result<ledger::Account> LoadOrCreateSystemAccount(const std::string& name, int64_t now_ms) override;
    Result<std::optional<ledger::StoredResponse>> LoadIdempotency(const std::string& scope,
                                                                  const std::string& key) override;
    Status PrefetchIdempotency(const std::vector<std::pair<std::string, std::string>>& keys) override;
    Result<ledger::Enrollment> Enroll(const ledger::Enroll& op, int64_t now_ms) override;
    Result<std::vector<int64_t>> DueWalletAccounts(int64_t now_ms, int64_t limit) override;
    Status Commit(const ledger::Batch& batch, ledger::LedgerState& state) override;
    Result<int64_t> PurgeIdempotency(int64_t before_ms, int64_t limit) override;
    bool CacheStale() override { return stale_; }
    Status PrefetchWallets(const std::vector<int64_t>& user_ids, const std::vector<int64_t>& hold_ids) override;

   private:
    Result<std::optional<ledger::WalletRows>> LoadWallet(const char* column, int64_t key);
    Status Write(const ledger::Batch& batch, ledger::LedgerState& state);

    std::unique_ptr<PgConnection> db_;
    const std::string notify_as_;
    // The batch's prefetched idempotency records by "scope\nkey"; a key prefetched and absent
    // maps to nullopt. Cleared when a batch begins.
    std::unordered_map<std::string, std::optional<ledger::StoredResponse>> prefetched_;
    // The batch's prefetched wallets (locked) by account, the accounts of the users and the
    // holds looked up (0 or nullopt: looked up and absent). Cleared when a batch begins.
    std::unordered_map<int64_t, ledger::WalletRows> wallets_;
    std::unordered_map<int64_t, int64_t> wallet_of_user_;
    std::unordered_map<int64_t, std::optional<ledger::Hold>> holds_;
    // ledger_version as this store's last commit left it (-1: unknown), and whether the batch
    // begun found it changed by another server's writer.
    int64_t version_ = -1;
    bool stale_ = true;
};

// The channel of wallet balances changed by a commit: payloads of "<instance>" then a line
// "<user> <available> <held> <posted> <received>" per wallet.
inline constexpr const char* kBalanceChannel = "beta500_balance";
std::vector<std::string> BalancePayloads(const std::string& instance,
                                         const std::vector<ledger::WalletBalance>& balances);
std::vector<ledger::WalletBalance> ParseBalancePayload(const std::string& payload, std::string* instance);

// The audit's input (ledger/audit.h) read from PostgreSQL in one repeatable-read snapshot.
Result<ledger::AuditInput> LoadAuditPostgres(PgConnection& connection, int64_t now_ms, int64_t idempotency_ttl_ms);

}  // namespace beta500::store
