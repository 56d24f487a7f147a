// LedgerStore: the storage the ledger writer reads and commits through. Implemented by the
// SQLite store (src/store); tests may implement it in memory to inject faults.
// Used from the writer thread only, except where a method says otherwise.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "ledger/state.h"
#include "ledger/types.h"

namespace beta500::ledger {

struct WalletRows {
    Account account;
    std::vector<Lot> lots;         // remaining > 0
    std::vector<Hold> open_holds;  // status open
};

struct NextIds {
    int64_t transfer_id = 1;
    int64_t lot_id = 1;
    int64_t hold_id = 1;
};

struct StoredResponse {
    std::string request_hash;
    Rejection rejection = Rejection::kNone;
    std::string body;
};

// What the store did for an Enroll operation: see LedgerStore::Enroll.
struct Enrollment {
    Rejection rejection = Rejection::kNone;  // kNotInvited when there is no open invitation
    int64_t user_id = 0;
    bool created = false;         // false: the user existed already (no grant)
    int64_t invitation_id = 0;    // when created
    int64_t initial_credits = 0;  // when created: the grant to post
};

// A batch runs inside one write transaction: Begin, then the loads and Commit (or Rollback),
// so the batch's reads take the database's locks once, not once per operation.
class LedgerStore {
   public:
    virtual ~LedgerStore() = default;

    virtual Status Begin() = 0;
    virtual void Rollback() = 0;

    virtual Result<NextIds> LoadNextIds() = 0;
    virtual Result<std::optional<WalletRows>> LoadWalletByUser(int64_t user_id) = 0;
    virtual Result<std::optional<WalletRows>> LoadWalletByAccount(int64_t account_id) = 0;
    virtual Result<std::optional<Hold>> LoadHold(int64_t hold_id) = 0;
    // Finds a system account, creating it if it does not exist (inside the batch's transaction).
    virtual Result<Account> LoadOrCreateSystemAccount(const std::string& name, int64_t now_ms) = 0;
    virtual Result<std::optional<StoredResponse>> LoadIdempotency(const std::string& scope,
                                                                  const std::string& key) = 0;
    // A hint after Begin: the batch's (scope, key) pairs, which a store where every lookup is a
    // round trip may load in one go for LoadIdempotency. Does nothing by default.
    virtual Status PrefetchIdempotency(const std::vector<std::pair<std::string, std::string>>& keys) {
        (void)keys;
        return Status::Ok();
    }
    // A hint after Begin: the wallets (by user) and holds the batch's operations need that the
    // writer has not cached, which such a store may load, and lock, in one go for
    // LoadWalletByUser, LoadWalletByAccount and LoadHold. Does nothing by default.
    virtual Status PrefetchWallets(const std::vector<int64_t>& user_ids, const std::vector<int64_t>& hold_ids) {
        (void)user_ids;
        (void)hold_ids;
        return Status::Ok();
    }
    // After Begin: whether another writer (another server on the same database) may have
    // committed since this store's last commit. The writer then drops its cached wallets and
    // takes the next ids again. A store with one writer says no.
    virtual bool CacheStale() { return false; }
    // Inside the batch: finds the user linked to the identity or with this email, or creates
    // the user and wallet and consumes the open invitation; links the identity to the user
    // (all rolled back with the batch if the commit fails).
    virtual Result<Enrollment> Enroll(const ledger::Enroll& op, int64_t now_ms) = 0;
    // Wallets with a lot or an open hold past its time, at most `limit`.
    virtual Result<std::vector<int64_t>> DueWalletAccounts(int64_t now_ms, int64_t limit) = 0;
    // Writes the batch (new rows, and the current state of dirty rows) and commits; on failure
    // the transaction is rolled back.
    virtual Status Commit(const Batch& batch, LedgerState& state) = 0;
    // Deletes up to `limit` idempotency records created before `before_ms`; returns how many.
    virtual Result<int64_t> PurgeIdempotency(int64_t before_ms, int64_t limit) = 0;
};

}  // namespace beta500::ledger
