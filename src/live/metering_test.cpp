// The charging arithmetic and the warning thresholds at their edges.
#include "live/metering.h"

#include <gtest/gtest.h>

namespace beta500::live {
namespace {

TEST(CreditsDue, RoundsDownOverTheWholeSession) {
    EXPECT_EQ(CreditsDue(0, 60), 0);
    EXPECT_EQ(CreditsDue(999, 60), 0);      // one credit per second at 60/min
    EXPECT_EQ(CreditsDue(1000, 60), 1);
    EXPECT_EQ(CreditsDue(59'999, 60), 59);
    EXPECT_EQ(CreditsDue(60'000, 60), 60);
    EXPECT_EQ(CreditsDue(30'000, 7), 3);    // 3.5 rounds down
    EXPECT_EQ(CreditsDue(60'000, 7), 7);    // ... and the half comes back a minute later
    // Interval by interval, the sum of increments equals the whole: nothing leaks.
    int64_t charged = 0;
    for (int64_t t = 0; t <= 600'000; t += 30'000) {
        charged += CreditsDue(t, 7) - charged;
    }
    EXPECT_EQ(charged, 70);
    // No overflow at the extremes the config allows.
    EXPECT_EQ(CreditsDue(int64_t{86400} * 1000 * 365, 1'000'000'000),
              int64_t{86400} * 365 * 1'000'000'000 / 60);
}

TEST(CreditsPerInterval, RoundsUp) {
    EXPECT_EQ(CreditsPerInterval(30, 60), 30);
    EXPECT_EQ(CreditsPerInterval(30, 7), 4);
    EXPECT_EQ(CreditsPerInterval(1, 60), 1);
    EXPECT_EQ(CreditsPerInterval(1, 1), 1);
}

TEST(WarningLevel, ThresholdsAtTheirEdges) {
    EXPECT_EQ(WarningLevel(201, 1000), 0);
    EXPECT_EQ(WarningLevel(200, 1000), 1);  // exactly 20 %
    EXPECT_EQ(WarningLevel(101, 1000), 1);
    EXPECT_EQ(WarningLevel(100, 1000), 2);  // exactly 10 %
    EXPECT_EQ(WarningLevel(51, 1000), 2);
    EXPECT_EQ(WarningLevel(50, 1000), 3);   // exactly 5 %
    EXPECT_EQ(WarningLevel(0, 1000), 3);
    EXPECT_EQ(WarningLevel(0, 0), 0);       // nothing allocated: nothing to warn about
}

TEST(WarningTracker, OncePerDownwardCrossingAndReArmedByATopUp) {
    WarningTracker tracker;
    EXPECT_TRUE(tracker.Update(1, 500, 1000).empty());
    EXPECT_EQ(tracker.Update(1, 200, 1000), std::vector<int>({20}));
    EXPECT_TRUE(tracker.Update(1, 150, 1000).empty());  // still below 20 %: no repeat
    EXPECT_EQ(tracker.Update(1, 40, 1000), std::vector<int>({10, 5}));  // two at once
    EXPECT_TRUE(tracker.Update(1, 0, 1000).empty());
    // A top-up to 30 % of the new allocation re-arms all three.
    EXPECT_TRUE(tracker.Update(1, 600, 2000).empty());
    EXPECT_EQ(tracker.Update(1, 400, 2000), std::vector<int>({20}));
    // Users are tracked apart.
    EXPECT_EQ(tracker.Update(2, 10, 1000), std::vector<int>({20, 10, 5}));
}

}  // namespace
}  // namespace beta500::live
