#include "live/metering.h"

#include "core/assert.h"

namespace beta500::live {

int64_t CreditsDue(int64_t active_ms, int64_t rate_per_minute) {
    B5_ASSERT(active_ms >= 0 && rate_per_minute >= 0, "negative session time or rate");
    // Whole minutes and the rest apart, so the product stays far from overflow.
    return active_ms / 60'000 * rate_per_minute + active_ms % 60'000 * rate_per_minute / 60'000;
}

int64_t CreditsPerInterval(int64_t interval_seconds, int64_t rate_per_minute) {
    return (interval_seconds * rate_per_minute + 59) / 60;
}

int WarningLevel(int64_t available, int64_t allocation) {
    if (allocation <= 0) {
        return 0;
    }
    int level = 0;
    for (int percent : kWarningThresholds) {
        // available / allocation <= percent / 100, without division (balances stay below 2^50).
        if (available * 100 <= allocation * percent) {
            ++level;
        }
    }
    return level;
}

std::vector<int> WarningTracker::Update(int64_t user_id, int64_t available, int64_t allocation) {
    const int level = WarningLevel(available, allocation);
    std::vector<int> crossed;
    std::lock_guard lock(mutex_);
    int& known = levels_[user_id];
    for (int i = known; i < level; ++i) {
        crossed.push_back(kWarningThresholds[i]);
    }
    known = level;  // lower after a top-up: the thresholds above are armed again
    if (level == 0) {
        levels_.erase(user_id);
    }
    return crossed;
}

}  // namespace beta500::live
