// Proves the audit reports each broken invariant precisely and passes a consistent ledger.
#include "ledger/audit.h"

#include <gtest/gtest.h>

namespace beta500::ledger {
namespace {

AuditInput Consistent() {
    AuditInput input;
    AccountAudit grants;
    grants.stored = Account{1, "system:grants", std::nullopt, 0, 100, 0, 0};
    grants.journal_debits_posted = 100;
    AccountAudit wallet;
    wallet.stored = Account{2, "user:1", 1, 100, 0, 0, 30};
    wallet.journal_credits_posted = 100;
    wallet.journal_debits_pending = 30;
    wallet.lots_remaining = 100;
    wallet.open_holds_remaining = 30;
    AccountAudit sink;
    sink.stored = Account{3, "system:usage:x", std::nullopt, 0, 0, 30, 0};
    sink.journal_credits_pending = 30;
    input.accounts = {grants, wallet, sink};
    return input;
}

TEST(Audit, ConsistentLedgerPasses) {
    const AuditReport report = Audit(Consistent());
    EXPECT_TRUE(report.ok()) << report.problems.front();
}

TEST(Audit, ReportsEachProblem) {
    AuditInput input = Consistent();
    input.accounts[1].stored.credits_posted = 101;  // totals differ from the journal; sum not zero
    input.accounts[1].lots_remaining = 99;
    input.accounts[1].open_holds_remaining = 31;
    input.keys_with_several_effects = 1;
    const AuditReport report = Audit(input);
    ASSERT_EQ(report.problems.size(), 5U);
    EXPECT_EQ(report.problems[0], "credits_posted of user:1 is 101, journal says 100");
}

TEST(Audit, NegativeWalletAndBadHold) {
    AuditInput input = Consistent();
    input.accounts[1].stored.debits_pending = 200;
    input.accounts[1].journal_debits_pending = 200;
    input.accounts[2].stored.credits_pending = 200;
    input.accounts[2].journal_credits_pending = 200;
    input.accounts[1].open_holds_remaining = 200;
    HoldAudit hold;
    hold.stored = Hold{5, 2, "x", 10, 5, 0, HoldStatus::kCaptured, 0, 0};
    hold.journal_amount = 10;
    hold.journal_captured = 5;
    input.holds.push_back(hold);
    const AuditReport report = Audit(input);
    ASSERT_EQ(report.problems.size(), 2U);
    EXPECT_NE(report.problems[0].find("negative available -100"), std::string::npos);
    EXPECT_NE(report.problems[1].find("hold 5 is captured but still reserves 5"), std::string::npos);
}

}  // namespace
}  // namespace beta500::ledger
