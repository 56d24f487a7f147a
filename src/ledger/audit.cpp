#include "ledger/audit.h"

namespace beta500::ledger {

AuditReport Audit(const AuditInput& input) {
    AuditReport report;
    report.accounts = static_cast<int64_t>(input.accounts.size());
    report.holds = static_cast<int64_t>(input.holds.size());
    report.transfers = input.transfers;
    auto problem = [&](std::string text) { report.problems.push_back(std::move(text)); };
    auto mismatch = [&](const std::string& what, const std::string& name, int64_t stored,
                        int64_t expected) {
        if (stored != expected) {
            problem(what + " of " + name + " is " + std::to_string(stored) + ", journal says " +
                    std::to_string(expected));
        }
    };

    int64_t balance_sum = 0;
    int64_t pending_sum = 0;
    for (const AccountAudit& audit : input.accounts) {
        const Account& account = audit.stored;
        mismatch("credits_posted", account.name, account.credits_posted, audit.journal_credits_posted);
        mismatch("debits_posted", account.name, account.debits_posted, audit.journal_debits_posted);
        mismatch("credits_pending", account.name, account.credits_pending, audit.journal_credits_pending);
        mismatch("debits_pending", account.name, account.debits_pending, audit.journal_debits_pending);
        balance_sum += account.posted();
        pending_sum += account.credits_pending - account.debits_pending;
        if (account.is_wallet()) {
            if (account.available() < 0) {
                problem("wallet " + account.name + " has negative available " +
                        std::to_string(account.available()));
            }
            if (audit.lots_remaining != account.posted()) {
                problem("lots of " + account.name + " hold " + std::to_string(audit.lots_remaining) +
                        ", posted balance is " + std::to_string(account.posted()));
            }
            if (audit.open_holds_remaining != account.debits_pending) {
                problem("open holds of " + account.name + " reserve " +
                        std::to_string(audit.open_holds_remaining) + ", debits_pending is " +
                        std::to_string(account.debits_pending));
            }
        }
        if (audit.lots_out_of_range > 0) {
            problem(std::to_string(audit.lots_out_of_range) + " lots of " + account.name +
                    " have a remainder out of range");
        }
    }
    if (balance_sum != 0) {
        problem("posted balances sum to " + std::to_string(balance_sum) + ", not zero");
    }
    if (pending_sum != 0) {
        problem("pending balances sum to " + std::to_string(pending_sum) + ", not zero");
    }
    for (const HoldAudit& audit : input.holds) {
        const Hold& hold = audit.stored;
        const std::string name = "hold " + std::to_string(hold.id);
        mismatch("amount", name, hold.amount, audit.journal_amount);
        mismatch("captured", name, hold.captured, audit.journal_captured);
        mismatch("released", name, hold.released, audit.journal_released);
        if (hold.remaining() < 0) {
            problem(name + " resolves more than it holds");
        }
        if (hold.status != HoldStatus::kOpen && hold.remaining() != 0) {
            problem(name + " is " + std::string(HoldStatusName(hold.status)) + " but still reserves " +
                    std::to_string(hold.remaining()));
        }
    }
    if (input.malformed_transfers > 0) {
        problem(std::to_string(input.malformed_transfers) +
                " transfers have a non-positive amount or the same account on both sides");
    }
    if (input.keyed_transfers_without_record > 0) {
        problem(std::to_string(input.keyed_transfers_without_record) +
                " keyed transfers have no idempotency record");
    }
    if (input.keys_with_several_effects > 0) {
        problem(std::to_string(input.keys_with_several_effects) +
                " idempotency keys have more than one effect");
    }
    return report;
}

}  // namespace beta500::ledger
