// SqliteLedgerStore: LedgerStore on SQLite, over the writer's own connection.
// Used from the ledger writer thread only.
#pragma once

#include <array>

#include <memory>

#include "ledger/audit.h"
#include "ledger/store.h"
#include "store/sqlite.h"

namespace beta500::store {

class SqliteLedgerStore final : public ledger::LedgerStore {
   public:
    explicit SqliteLedgerStore(std::unique_ptr<Connection> connection)
        : connection_(std::move(connection)) {}

    Status Begin() override;
    void Rollback() override;
    Result<ledger::NextIds> LoadNextIds() override;
    Result<std::optional<ledger::WalletRows>> LoadWalletByUser(int64_t user_id) override;
    Result<std::optional<ledger::WalletRows>> LoadWalletByAccount(int64_t account_id) override;
    Result<std::optional<ledger::Hold>> LoadHold(int64_t hold_id) override;
    Result<ledger::Account> LoadOrCreateSystemAccount(const std::string& name, int64_t now_ms) override;
    Result<std::optional<ledger::StoredResponse>> LoadIdempotency(const std::string& scope,
                                                                  const std::string& key) override;
    Result<ledger::Enrollment> Enroll(const ledger::Enroll& op, int64_t now_ms) override;
    Result<std::vector<int64_t>> DueWalletAccounts(int64_t now_ms, int64_t limit) override;
    Status Commit(const ledger::Batch& batch, ledger::LedgerState& state) override;
    Result<int64_t> PurgeIdempotency(int64_t before_ms, int64_t limit) override;

   private:
    // Rows per multi-row INSERT (13 columns x 64 rows stays under SQLite's 32,766 parameters).
    static constexpr size_t kRowsPerInsert = 64;

    std::optional<ledger::WalletRows> LoadWallet(const char* where, int64_t key);
    template <typename Row, typename BindRow>
    void InsertRows(const std::vector<Row>& rows, const char* insert_prefix, int columns,
                    BindRow bind_row);
    std::unique_ptr<Connection> connection_;
};

// Row readers shared by the store's queries.
ledger::Account ReadAccount(const SqlStatement& row, int first_column);
ledger::Hold ReadHold(const SqlStatement& row, int first_column);
ledger::Lot ReadLot(const SqlStatement& row, int first_column);
inline constexpr const char* kAccountColumns =
    "id, name, user_id, credits_posted, debits_posted, credits_pending, debits_pending";
inline constexpr const char* kHoldColumns =
    "id, account_id, feature, amount, captured, released, status, expires_at, created_at";
inline constexpr const char* kLotColumns = "id, account_id, amount, remaining, expires_at, created_at";

// The audit's view of an account from its stored row and its sums: over the journal (credits
// posted, debits posted, credits pending, debits pending) and over its lots and open holds (lots
// remaining, lots out of range, open holds remaining). Shared by both backends' audits.
ledger::AccountAudit AccountAuditOf(ledger::Account stored, const std::array<int64_t, 4>& journal,
                                    const std::array<int64_t, 3>& sums);
// The same for a hold, from the journal's hold, capture and release sums.
ledger::HoldAudit HoldAuditOf(ledger::Hold stored, const std::array<int64_t, 3>& journal);

}  // namespace beta500::store
