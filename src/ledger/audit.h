// Audit: the ledger's invariants checked over everything stored (for `beta500 ledger verify`
// and tests). The store gathers the figures; this file decides what is wrong. Pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ledger/types.h"

namespace beta500::ledger {

struct AccountAudit {
    Account stored;
    // The same totals recomputed from the journal.
    int64_t journal_credits_posted = 0;
    int64_t journal_debits_posted = 0;
    int64_t journal_credits_pending = 0;
    int64_t journal_debits_pending = 0;
    int64_t lots_remaining = 0;         // sum over the wallet's lots
    int64_t lots_out_of_range = 0;      // lots with remaining < 0 or > amount
    int64_t open_holds_remaining = 0;   // sum of what open holds still reserve
};

struct HoldAudit {
    Hold stored;
    int64_t journal_amount = 0;  // hold transfers (authorize and increments)
    int64_t journal_captured = 0;
    int64_t journal_released = 0;
};

struct AuditInput {
    std::vector<AccountAudit> accounts;
    std::vector<HoldAudit> holds;
    int64_t transfers = 0;
    int64_t malformed_transfers = 0;  // amount <= 0 or debit == credit
    // Transfers carrying an idempotency key younger than the retention with no stored record.
    int64_t keyed_transfers_without_record = 0;
    // Idempotency keys whose transfers were written by more than one operation.
    int64_t keys_with_several_effects = 0;
};

struct AuditReport {
    std::vector<std::string> problems;
    int64_t accounts = 0;
    int64_t holds = 0;
    int64_t transfers = 0;
    bool ok() const { return problems.empty(); }
};

AuditReport Audit(const AuditInput& input);

}  // namespace beta500::ledger
