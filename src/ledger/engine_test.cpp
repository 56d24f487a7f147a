// Proves the ledger's rules on the pure engine: every rejection, every limit at its edge
// (minus one, equal, plus one), burn-down order, holds through their whole life, expiry of lots
// and holds, and that the books balance after each step.
#include "ledger/engine.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace beta500::ledger {
namespace {

constexpr int64_t kUser = 7;
constexpr int64_t kWalletId = 100;
constexpr int64_t kStart = 1'800'000'000'000;

class EngineTest : public ::testing::Test {
   protected:
    void SetUp() override {
        int64_t id = 1;
        for (std::string name : {std::string(kGrantsAccount), std::string(kExpiredAccount),
                                 std::string(kAdjustmentsAccount), UsageAccountName("ai_search"),
                                 UsageAccountName("live_dubbing")}) {
            state_.AddAccount(Account{id++, name, std::nullopt});
        }
        state_.AddAccount(Account{kWalletId, "user:7", kUser});
    }

    Outcome Do(const Operation& operation) {
        return engine_.Apply(operation, Context{"token:1", "key", now_});
    }
    const Account& Wallet() { return *state_.FindWallet(kUser); }
    boost::json::object Body(const Outcome& outcome) {
        return boost::json::parse(outcome.body).as_object();
    }
    int64_t HoldId(const Outcome& outcome) {
        return std::stoll(std::string(Body(outcome).at("hold").at("id").as_string()));
    }
    // The books balance: posted and pending sums are zero, lots match the wallet.
    void ExpectBalanced() {
        int64_t posted = 0;
        int64_t pending = 0;
        for (int64_t id : {1, 2, 3, 4, 5, static_cast<int>(kWalletId)}) {
            const Account* account = state_.FindAccount(id);
            posted += account->posted();
            pending += account->credits_pending - account->debits_pending;
        }
        EXPECT_EQ(posted, 0);
        EXPECT_EQ(pending, 0);
        int64_t lots = 0;
        for (const Lot& lot : state_.LotsOf(kWalletId)) {
            lots += lot.remaining;
        }
        EXPECT_EQ(lots, Wallet().posted());
        EXPECT_GE(Wallet().available(), 0);
    }

    LedgerState state_;
    Batch batch_;
    Limits limits_{1000, 3600, 5000};
    Engine engine_{state_, batch_, limits_};
    int64_t now_ = kStart;
};

TEST_F(EngineTest, GrantThenDeduct) {
    ASSERT_EQ(Do(Grant{kUser, 100, {}, "welcome"}).rejection, Rejection::kNone);
    const Outcome deducted = Do(Deduct{kUser, 30, "ai_search", "query:1"});
    ASSERT_EQ(deducted.rejection, Rejection::kNone);
    EXPECT_EQ(Body(deducted).at("balance").at("available").as_int64(), 70);
    EXPECT_EQ(Wallet().available(), 70);
    EXPECT_EQ(batch_.transfers.size(), 2U);
    EXPECT_EQ(batch_.transfers[1].kind, TransferKind::kUsage);
    ExpectBalanced();
}

TEST_F(EngineTest, DeductAtTheEdgeOfAvailable) {
    ASSERT_EQ(Do(Grant{kUser, 50, {}, "welcome"}).rejection, Rejection::kNone);
    const Outcome short_by_one = Do(Deduct{kUser, 51, "ai_search", ""});
    ASSERT_EQ(short_by_one.rejection, Rejection::kInsufficientCredits);
    EXPECT_EQ(Body(short_by_one).at("available").as_int64(), 50);
    EXPECT_EQ(Body(short_by_one).at("code").as_string(), "insufficient_credits");
    EXPECT_EQ(Do(Deduct{kUser, 50, "ai_search", ""}).rejection, Rejection::kNone);
    EXPECT_EQ(Wallet().available(), 0);
    EXPECT_EQ(Do(Deduct{kUser, 1, "ai_search", ""}).rejection, Rejection::kInsufficientCredits);
    ExpectBalanced();
}

TEST_F(EngineTest, AmountLimits) {
    EXPECT_EQ(Do(Grant{kUser, 0, {}, "r"}).rejection, Rejection::kInvalidAmount);
    EXPECT_EQ(Do(Grant{kUser, -1, {}, "r"}).rejection, Rejection::kInvalidAmount);
    EXPECT_EQ(Do(Grant{kUser, 1001, {}, "r"}).rejection, Rejection::kAmountTooLarge);
    EXPECT_EQ(Do(Grant{kUser, 1000, {}, "r"}).rejection, Rejection::kNone);
    EXPECT_EQ(Do(Deduct{kUser, 1001, "ai_search", ""}).rejection, Rejection::kAmountTooLarge);
    EXPECT_EQ(Do(Adjust{kUser, -1001, "r"}).rejection, Rejection::kAmountTooLarge);
    EXPECT_EQ(Do(Adjust{kUser, 0, "r"}).rejection, Rejection::kInvalidAmount);
}

TEST_F(EngineTest, BalanceLimit) {
    for (int i = 0; i < 4; ++i) {
        ASSERT_EQ(Do(Grant{kUser, 1000, {}, "r"}).rejection, Rejection::kNone);
    }
    ASSERT_EQ(Do(Grant{kUser, 999, {}, "r"}).rejection, Rejection::kNone);  // 4999
    EXPECT_EQ(Do(Grant{kUser, 2, {}, "r"}).rejection, Rejection::kBalanceLimitExceeded);
    EXPECT_EQ(Do(Adjust{kUser, 2, "r"}).rejection, Rejection::kBalanceLimitExceeded);
    EXPECT_EQ(Do(Grant{kUser, 1, {}, "r"}).rejection, Rejection::kNone);  // exactly 5000
    ExpectBalanced();
}

TEST_F(EngineTest, TextLimits) {
    EXPECT_EQ(Do(Deduct{kUser, 1, "", ""}).rejection, Rejection::kInvalidFeature);
    EXPECT_EQ(Do(Deduct{kUser, 1, "AI", ""}).rejection, Rejection::kInvalidFeature);
    EXPECT_EQ(Do(Deduct{kUser, 1, std::string(65, 'a'), ""}).rejection, Rejection::kInvalidFeature);
    EXPECT_TRUE(ValidFeature(std::string(64, 'a')));
    EXPECT_EQ(Do(Deduct{kUser, 1, "ai_search", std::string(256, 'r')}).rejection,
              Rejection::kInvalidReference);
    EXPECT_EQ(Do(Deduct{kUser, 1, "ai_search", "bad\nref"}).rejection, Rejection::kInvalidReference);
    EXPECT_EQ(Do(Grant{kUser, 1, {}, ""}).rejection, Rejection::kReasonRequired);
    EXPECT_EQ(Do(Grant{kUser, 1, {}, std::string(501, 'r')}).rejection, Rejection::kInvalidReason);
    EXPECT_EQ(Do(Grant{kUser, 1, {}, std::string(500, 'r')}).rejection, Rejection::kNone);
    EXPECT_EQ(Do(Adjust{kUser, 1, ""}).rejection, Rejection::kReasonRequired);
    EXPECT_TRUE(ValidIdempotencyKey(std::string(255, 'k')));
    EXPECT_FALSE(ValidIdempotencyKey(std::string(256, 'k')));
    EXPECT_FALSE(ValidIdempotencyKey(""));
    EXPECT_FALSE(ValidIdempotencyKey("has space"));
}

TEST_F(EngineTest, UnknownUserAndHold) {
    EXPECT_EQ(Do(Grant{8, 1, {}, "r"}).rejection, Rejection::kUserNotFound);
    EXPECT_EQ(Do(Deduct{8, 1, "ai_search", ""}).rejection, Rejection::kUserNotFound);
    EXPECT_EQ(Do(Capture{999, 1, true}).rejection, Rejection::kHoldNotFound);
    EXPECT_EQ(Do(Release{999}).rejection, Rejection::kHoldNotFound);
    EXPECT_EQ(Do(Increment{999, 1}).rejection, Rejection::kHoldNotFound);
    EXPECT_TRUE(batch_.transfers.empty());
}

TEST_F(EngineTest, GrantExpiryMustBeInTheFuture) {
    EXPECT_EQ(Do(Grant{kUser, 1, now_, "r"}).rejection, Rejection::kInvalidExpiry);
    EXPECT_EQ(Do(Grant{kUser, 1, now_ + 1, "r"}).rejection, Rejection::kNone);
}

TEST_F(EngineTest, HoldTtlLimits) {
    ASSERT_EQ(Do(Grant{kUser, 100, {}, "r"}).rejection, Rejection::kNone);
    EXPECT_EQ(Do(Authorize{kUser, 10, 0, "live_dubbing", ""}).rejection, Rejection::kInvalidTtl);
    EXPECT_EQ(Do(Authorize{kUser, 10, 3601, "live_dubbing", ""}).rejection, Rejection::kInvalidTtl);
    EXPECT_EQ(Do(Authorize{kUser, 10, 3600, "live_dubbing", ""}).rejection, Rejection::kNone);
}

TEST_F(EngineTest, HoldLifecycle) {
    ASSERT_EQ(Do(Grant{kUser, 100, {}, "r"}).rejection, Rejection::kNone);
    const Outcome authorized = Do(Authorize{kUser, 60, 60, "live_dubbing", "session:1"});
    ASSERT_EQ(authorized.rejection, Rejection::kNone);
    const int64_t hold = HoldId(authorized);
    EXPECT_EQ(Wallet().available(), 40);
    EXPECT_EQ(Wallet().debits_pending, 60);
    // Another hold cannot take what the first reserves.
    EXPECT_EQ(Do(Authorize{kUser, 41, 60, "live_dubbing", ""}).rejection,
              Rejection::kInsufficientCredits);
    ASSERT_EQ(Do(Increment{hold, 20}).rejection, Rejection::kNone);
    EXPECT_EQ(Wallet().available(), 20);
    EXPECT_EQ(Do(Increment{hold, 21}).rejection, Rejection::kInsufficientCredits);
    // Partial captures, then a final one that releases the rest.
    ASSERT_EQ(Do(Capture{hold, 30, false}).rejection, Rejection::kNone);
    EXPECT_EQ(Do(Capture{hold, 51, false}).rejection, Rejection::kCaptureExceedsHold);
    EXPECT_EQ(Do(Capture{hold, 0, false}).rejection, Rejection::kInvalidAmount);
    const Outcome final_capture = Do(Capture{hold, 25, true});
    ASSERT_EQ(final_capture.rejection, Rejection::kNone);
    EXPECT_EQ(Body(final_capture).at("hold").at("status").as_string(), "captured");
    EXPECT_EQ(Wallet().posted(), 45);
    EXPECT_EQ(Wallet().available(), 45);
    EXPECT_EQ(Wallet().debits_pending, 0);
    // Each hold resolves once.
    const Outcome again = Do(Capture{hold, 1, true});
    EXPECT_EQ(again.rejection, Rejection::kHoldAlreadyResolved);
    EXPECT_EQ(Body(again).at("hold_status").as_string(), "captured");
    EXPECT_EQ(Do(Release{hold}).rejection, Rejection::kHoldAlreadyResolved);
    EXPECT_EQ(Do(Increment{hold, 1}).rejection, Rejection::kHoldAlreadyResolved);
    ExpectBalanced();
}

TEST_F(EngineTest, ReleaseAndFinalCaptureOfZero) {
    ASSERT_EQ(Do(Grant{kUser, 100, {}, "r"}).rejection, Rejection::kNone);
    const int64_t first = HoldId(Do(Authorize{kUser, 10, 60, "live_dubbing", ""}));
    const int64_t second = HoldId(Do(Authorize{kUser, 10, 60, "live_dubbing", ""}));
    ASSERT_EQ(Do(Release{first}).rejection, Rejection::kNone);
    ASSERT_EQ(Do(Capture{second, 0, true}).rejection, Rejection::kNone);
    EXPECT_EQ(Wallet().available(), 100);
    EXPECT_EQ(Wallet().posted(), 100);
    EXPECT_EQ(Do(Capture{first, 1, false}).rejection, Rejection::kHoldAlreadyResolved);
    ExpectBalanced();
}

TEST_F(EngineTest, HoldExpiresAfterItsTtl) {
    ASSERT_EQ(Do(Grant{kUser, 100, {}, "r"}).rejection, Rejection::kNone);
    const int64_t hold = HoldId(Do(Authorize{kUser, 60, 10, "live_dubbing", ""}));
    now_ += 9'999;
    ASSERT_EQ(Do(Capture{hold, 1, false}).rejection, Rejection::kNone);  // one ms before
    now_ += 1;
    EXPECT_EQ(Do(Capture{hold, 1, false}).rejection, Rejection::kHoldExpired);
    EXPECT_EQ(state_.FindHold(hold)->status, HoldStatus::kExpired);
    EXPECT_EQ(Wallet().available(), 99);
    EXPECT_EQ(Wallet().debits_pending, 0);
    ExpectBalanced();
}

TEST_F(EngineTest, BurnsEarliestExpiryFirstThenOldest) {
    ASSERT_EQ(Do(Grant{kUser, 10, {}, "never"}).rejection, Rejection::kNone);
    now_ += 1;
    ASSERT_EQ(Do(Grant{kUser, 10, now_ + 100'000, "late"}).rejection, Rejection::kNone);
    ASSERT_EQ(Do(Grant{kUser, 10, now_ + 50'000, "soon"}).rejection, Rejection::kNone);
    ASSERT_EQ(Do(Deduct{kUser, 15, "ai_search", ""}).rejection, Rejection::kNone);
    const auto& lots = state_.LotsOf(kWalletId);
    ASSERT_EQ(lots.size(), 3U);
    EXPECT_EQ(lots[0].remaining, 0);   // soon
    EXPECT_EQ(lots[1].remaining, 5);   // late
    EXPECT_EQ(lots[2].remaining, 10);  // never
    ExpectBalanced();
}

TEST_F(EngineTest, ExpiredLotsMoveOutExceptWhatHoldsReserve) {
    ASSERT_EQ(Do(Grant{kUser, 50, now_ + 1000, "trial"}).rejection, Rejection::kNone);
    ASSERT_EQ(Do(Grant{kUser, 10, {}, "bonus"}).rejection, Rejection::kNone);
    const int64_t hold = HoldId(Do(Authorize{kUser, 40, 3600, "live_dubbing", ""}));
    now_ += 1000;
    engine_.ExpireDue(*state_.FindWallet(kUser), Context{"system", "", now_});
    // 60 posted, 40 reserved: 20 may expire from the trial lot; 30 stay reserved in it.
    EXPECT_EQ(state_.FindSystemAccount(kExpiredAccount)->credits_posted, 20);
    EXPECT_EQ(Wallet().posted(), 40);
    EXPECT_EQ(Wallet().available(), 0);
    // The capture burns the expired lot first; releasing the rest lets it expire.
    ASSERT_EQ(Do(Capture{hold, 25, false}).rejection, Rejection::kNone);
    ASSERT_EQ(Do(Release{hold}).rejection, Rejection::kNone);
    engine_.ExpireDue(*state_.FindWallet(kUser), Context{"system", "", now_});
    EXPECT_EQ(state_.FindSystemAccount(kExpiredAccount)->credits_posted, 25);
    EXPECT_EQ(Wallet().posted(), 10);
    EXPECT_EQ(Wallet().available(), 10);
    ExpectBalanced();
}

TEST_F(EngineTest, SignedAdjustments) {
    ASSERT_EQ(Do(Adjust{kUser, 30, "goodwill"}).rejection, Rejection::kNone);
    EXPECT_EQ(Wallet().available(), 30);
    EXPECT_EQ(Do(Adjust{kUser, -31, "correction"}).rejection, Rejection::kInsufficientCredits);
    ASSERT_EQ(Do(Adjust{kUser, -30, "correction"}).rejection, Rejection::kNone);
    EXPECT_EQ(Wallet().available(), 0);
    EXPECT_EQ(batch_.transfers.back().reason, "correction");
    ExpectBalanced();
}

TEST_F(EngineTest, RejectionsChangeNothing) {
    ASSERT_EQ(Do(Grant{kUser, 10, {}, "r"}).rejection, Rejection::kNone);
    const size_t transfers = batch_.transfers.size();
    const Account before = Wallet();
    EXPECT_NE(Do(Deduct{kUser, 11, "ai_search", ""}).rejection, Rejection::kNone);
    EXPECT_NE(Do(Authorize{kUser, 11, 10, "ai_search", ""}).rejection, Rejection::kNone);
    EXPECT_NE(Do(Adjust{kUser, -11, "r"}).rejection, Rejection::kNone);
    EXPECT_EQ(batch_.transfers.size(), transfers);
    EXPECT_EQ(Wallet().available(), before.available());
}

TEST_F(EngineTest, MeterChargesToACumulativeTotalAndKeepsTheNextIntervalHeld) {
    ASSERT_EQ(Do(Grant{kUser, 500, {}, "r"}).rejection, Rejection::kNone);
    const int64_t hold = HoldId(Do(Authorize{kUser, 60, 90, "live_dubbing", "session:1"}));
    const Outcome first = Do(Meter{hold, 30, 60, 90, false});
    ASSERT_EQ(first.rejection, Rejection::kNone);
    EXPECT_EQ(Body(first).at("charged").as_int64(), 30);
    EXPECT_FALSE(Body(first).at("exhausted").as_bool());
    EXPECT_EQ(Body(first).at("hold").at("remaining").as_int64(), 60);  // topped back up
    EXPECT_EQ(Wallet().posted(), 470);
    EXPECT_EQ(Wallet().available(), 410);
    // The same total again charges nothing; a lower one never refunds.
    EXPECT_EQ(Body(Do(Meter{hold, 30, 60, 90, false})).at("charged").as_int64(), 0);
    EXPECT_EQ(Body(Do(Meter{hold, 10, 60, 90, false})).at("charged").as_int64(), 0);
    // A late checkpoint owes more than the hold has left: the hold grows to cover it.
    EXPECT_EQ(Body(Do(Meter{hold, 130, 60, 90, false})).at("charged").as_int64(), 100);
    EXPECT_EQ(state_.FindHold(hold)->expires_at_ms, now_ + 90'000);
    const Outcome last = Do(Meter{hold, 145, 0, 0, true});
    EXPECT_EQ(Body(last).at("charged").as_int64(), 15);
    EXPECT_EQ(Body(last).at("hold").at("status").as_string(), "captured");
    EXPECT_EQ(Wallet().posted(), 355);
    EXPECT_EQ(Wallet().available(), 355);
    EXPECT_EQ(Do(Meter{hold, 200, 0, 0, true}).rejection, Rejection::kHoldAlreadyResolved);
    ExpectBalanced();
}

TEST_F(EngineTest, MeterChargesWhatIsLeftWhenTheWalletRunsOut) {
    ASSERT_EQ(Do(Grant{kUser, 100, {}, "r"}).rejection, Rejection::kNone);
    const int64_t hold = HoldId(Do(Authorize{kUser, 60, 90, "live_dubbing", ""}));
    // 60 charged, 40 more held: exactly covered, not exhausted yet.
    const Outcome covered = Do(Meter{hold, 60, 60, 90, false});
    EXPECT_FALSE(Body(covered).at("exhausted").as_bool());
    EXPECT_EQ(Body(covered).at("hold").at("remaining").as_int64(), 40);
    // 61 due with 40 held and nothing else: 40 charged, wallet at exactly zero.
    const Outcome short_by = Do(Meter{hold, 121, 60, 90, false});
    EXPECT_EQ(Body(short_by).at("charged").as_int64(), 40);
    EXPECT_TRUE(Body(short_by).at("exhausted").as_bool());
    EXPECT_EQ(Body(short_by).at("hold").at("status").as_string(), "captured");
    EXPECT_EQ(Wallet().posted(), 0);
    EXPECT_EQ(Wallet().available(), 0);
    ExpectBalanced();
}

TEST_F(EngineTest, MeterEndsTheSessionWhenNothingIsLeftForTheNextInterval) {
    ASSERT_EQ(Do(Grant{kUser, 60, {}, "r"}).rejection, Rejection::kNone);
    const int64_t hold = HoldId(Do(Authorize{kUser, 60, 90, "live_dubbing", ""}));
    const Outcome all = Do(Meter{hold, 60, 60, 90, false});
    EXPECT_EQ(Body(all).at("charged").as_int64(), 60);
    EXPECT_TRUE(Body(all).at("exhausted").as_bool());
    EXPECT_EQ(Wallet().available(), 0);
    ExpectBalanced();
}

TEST_F(EngineTest, MeterLimits) {
    ASSERT_EQ(Do(Grant{kUser, 100, {}, "r"}).rejection, Rejection::kNone);
    const int64_t hold = HoldId(Do(Authorize{kUser, 60, 90, "live_dubbing", ""}));
    EXPECT_EQ(Do(Meter{hold, -1, 0, 90, false}).rejection, Rejection::kInvalidAmount);
    EXPECT_EQ(Do(Meter{hold, 0, -1, 90, false}).rejection, Rejection::kInvalidAmount);
    EXPECT_EQ(Do(Meter{hold, 0, 1001, 90, false}).rejection, Rejection::kAmountTooLarge);
    EXPECT_EQ(Do(Meter{hold, 0, 10, 0, false}).rejection, Rejection::kInvalidTtl);
    EXPECT_EQ(Do(Meter{hold, 0, 10, 3601, false}).rejection, Rejection::kInvalidTtl);
    EXPECT_EQ(Do(Meter{hold, 0, 10, 3600, false}).rejection, Rejection::kNone);
    EXPECT_EQ(Do(Meter{999, 0, 0, 0, true}).rejection, Rejection::kHoldNotFound);
    now_ += 3601 * 1000;
    EXPECT_EQ(Do(Meter{hold, 10, 0, 0, true}).rejection, Rejection::kHoldExpired);
    ExpectBalanced();
}

TEST(RejectionNames, AreStableAndDistinct) {
    EXPECT_EQ(static_cast<int>(Rejection::kInsufficientCredits), 40);
    EXPECT_EQ(RejectionName(Rejection::kInsufficientCredits), "insufficient_credits");
    EXPECT_EQ(RejectionName(Rejection::kIdempotencyKeyReused), "idempotency_key_reused");
    EXPECT_TRUE(IsTransient(Rejection::kOverloaded));
    EXPECT_FALSE(IsTransient(Rejection::kInsufficientCredits));
}

TEST(CanonicalRequest, DiffersWhenAnyFieldDiffers) {
    EXPECT_NE(CanonicalRequest(Deduct{1, 10, "a", ""}), CanonicalRequest(Deduct{1, 11, "a", ""}));
    EXPECT_NE(CanonicalRequest(Deduct{1, 10, "a", "b"}), CanonicalRequest(Deduct{1, 10, "ab", ""}));
    EXPECT_NE(CanonicalRequest(Capture{1, 10, true}), CanonicalRequest(Capture{1, 10, false}));
    EXPECT_EQ(CanonicalRequest(Grant{1, 5, {}, "r"}), CanonicalRequest(Grant{1, 5, {}, "r"}));
}

}  // namespace
}  // namespace beta500::ledger
