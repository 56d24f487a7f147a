// The arithmetic of metered sessions, as pure functions: what a session owes for its active
// time, what to hold for the next interval, and which low-credit warnings a balance crosses.
// Thread-safe (WarningTracker locks itself).
#pragma once

#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace beta500::live {

// Credits due for `active_ms` of session time at `rate_per_minute`, rounded down over the whole
// session (so per-interval rounding never leaks a credit either way).
int64_t CreditsDue(int64_t active_ms, int64_t rate_per_minute);
// Credits that cover one interval, rounded up.
int64_t CreditsPerInterval(int64_t interval_seconds, int64_t rate_per_minute);

// Low-credit warning thresholds, percent of the user's allocation, highest first.
inline constexpr int kWarningThresholds[] = {20, 10, 5};

// How many thresholds `available` is at or below (0 to 3). An allocation of 0 warns nothing.
int WarningLevel(int64_t available, int64_t allocation);

// Remembers each user's warning level so a warning goes out once per downward crossing and is
// re-armed when a top-up lifts the balance back above a threshold. In memory: a restarted
// server may repeat the warning for a balance already below a threshold.
class WarningTracker {
   public:
    // The thresholds (percent) newly crossed on the way down, highest first; empty otherwise.
    std::vector<int> Update(int64_t user_id, int64_t available, int64_t allocation);

   private:
    std::mutex mutex_;
    std::unordered_map<int64_t, int> levels_;  // GUARDED_BY(mutex_)
};

}  // namespace beta500::live
