// LedgerState: the writer's in-memory copy of the accounts, lots and holds it has touched, and
// Batch: the changes of the operations applied since the last commit.
// The state runs ahead of the database by at most one batch; on a failed commit the writer drops
// it and reloads from the store. Not thread-safe: owned by the ledger writer thread.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ledger/types.h"

namespace beta500::ledger {

class LedgerState {
   public:
    Account* FindAccount(int64_t account_id);
    Account* FindWallet(int64_t user_id);
    Account* FindSystemAccount(std::string_view name);
    Hold* FindHold(int64_t hold_id);
    // Lots of a wallet with credits left, in burn-down order (earliest expiry, then oldest).
    // Change a lot's remainder only through TakeFromLot, which keeps LotsTotal in step.
    const std::vector<Lot>& LotsOf(int64_t account_id) { return lots_[account_id]; }
    std::vector<Lot>& MutableLotsOf(int64_t account_id) { return lots_[account_id]; }
    void TakeFromLot(Lot& lot, int64_t amount);
    // The sum of the wallet's lot remainders, kept as lots change (checked against its balance).
    int64_t LotsTotal(int64_t account_id) const;
    // Open holds of a wallet.
    const std::vector<int64_t>& OpenHoldsOf(int64_t account_id) { return open_holds_[account_id]; }
    // The earliest expiry among the wallet's open holds (INT64_MAX when none); lets the engine
    // skip the scan of open holds when none can be due.
    int64_t NextHoldExpiry(int64_t account_id) const;
    void SetNextHoldExpiry(int64_t account_id, int64_t expires_at_ms);

    bool HasAccount(int64_t account_id) const { return accounts_.contains(account_id); }
    bool HasWalletOf(int64_t user_id) const { return wallet_by_user_.contains(user_id); }
    size_t account_count() const { return accounts_.size(); }

    // Loading (from the store, or new rows created by the engine).
    void AddAccount(Account account);
    void AddLot(Lot lot);  // keeps burn-down order
    void AddHold(Hold hold);

    // After a commit: forget the given accounts' lots burned to zero and holds no longer open.
    template <typename AccountIds>
    void Prune(const AccountIds& account_ids) {
        for (int64_t account_id : account_ids) {
            PruneAccount(account_id);
        }
    }
    void Clear();

    int64_t TakeTransferId() { return next_transfer_id_++; }
    int64_t TakeLotId() { return next_lot_id_++; }
    int64_t TakeHoldId() { return next_hold_id_++; }
    void SetNextIds(int64_t transfer_id, int64_t lot_id, int64_t hold_id);

   private:
    void PruneAccount(int64_t account_id);

    std::unordered_map<int64_t, Account> accounts_;
    std::unordered_map<int64_t, int64_t> wallet_by_user_;
    std::unordered_map<std::string, int64_t> system_by_name_;
    std::unordered_map<int64_t, std::vector<Lot>> lots_;
    std::unordered_map<int64_t, Hold> holds_;
    std::unordered_map<int64_t, std::vector<int64_t>> open_holds_;
    std::unordered_map<int64_t, int64_t> lots_total_;
    std::unordered_map<int64_t, int64_t> next_hold_expiry_;
    int64_t next_transfer_id_ = 1;
    int64_t next_lot_id_ = 1;
    int64_t next_hold_id_ = 1;
};

struct IdempotencyRecord {
    std::string scope;
    std::string key;
    std::string request_hash;
    Rejection rejection = Rejection::kNone;
    std::string response;  // JSON, replayed verbatim
    int64_t created_at_ms = 0;
};

// Everything one batch changes; committed in one transaction.
struct Batch {
    std::vector<Transfer> transfers;
    std::vector<Lot> new_lots;
    std::vector<Hold> new_holds;
    std::unordered_set<int64_t> dirty_accounts;
    std::unordered_map<int64_t, int64_t> lot_remaining;  // lot id -> its remainder now
    std::unordered_set<int64_t> dirty_holds;
    // Wallets with a lot burned to zero or a hold resolved: pruned after the commit.
    std::unordered_set<int64_t> prunable_accounts;
    std::vector<IdempotencyRecord> idempotency;
    // Keys recorded in this batch, so a duplicate within the batch replays.
    std::unordered_map<std::string, size_t> idempotency_index;

};

}  // namespace beta500::ledger
