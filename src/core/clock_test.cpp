// Proves RFC 3339 formatting and parsing agree, and that malformed timestamps are rejected.
#include "core/clock.h"

#include <gtest/gtest.h>

namespace beta500 {

TEST(Rfc3339, RoundTrips) {
    int64_t parsed = 0;
    ASSERT_TRUE(ParseRfc3339(FormatRfc3339(1'795'874'202'123), parsed));
    EXPECT_EQ(parsed, 1'795'874'202'123);
    EXPECT_EQ(FormatRfc3339(0), "1970-01-01T00:00:00.000Z");
}

TEST(Rfc3339, AppliesOffsets) {
    int64_t utc = 0;
    int64_t offset = 0;
    ASSERT_TRUE(ParseRfc3339("2026-11-28T12:00:00Z", utc));
    ASSERT_TRUE(ParseRfc3339("2026-11-28T13:30:00+01:30", offset));
    EXPECT_EQ(utc, offset);
}

TEST(Rfc3339, RejectsMalformed) {
    int64_t out = 0;
    for (const char* bad : {"", "2026-11-28", "2026-11-28T12:00:00", "2026-13-01T00:00:00Z",
                            "2026-11-28T12:00:00Zjunk", "2026-11-28 12:00:00Z",
                            "2026-11-28T12:00:00.Z"}) {
        EXPECT_FALSE(ParseRfc3339(bad, out)) << bad;
    }
}

}  // namespace beta500
