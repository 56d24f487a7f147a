// Guard: evaluates the fraud rules where they matter and applies their actions. It records the
// signals the rules count, writes a risk event per hit (raising the user's risk score), refuses
// the action for block_action, and for suspend_user suspends the user at once, which ends their
// live sessions with close code 4011. Blocking (database calls): use from worker threads.
// Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/config.h"
#include "fraud/rules.h"
#include "obs/metrics.h"
#include "store/database.h"

namespace beta500::fraud {

struct Verdict {
    bool blocked = false;    // refuse what was asked
    bool suspended = false;  // the user was suspended (implies blocked)
    std::vector<Hit> hits;
};

class Guard {
   public:
    // `end_sessions(user_id)` closes a user's live sessions with 4011 (may be empty).
    Guard(const Config& config, store::Database& database, const Clock& clock, obs::Registry& metrics,
          std::vector<std::string> disposable_domains, std::function<void(int64_t)> end_sessions);

    // Rate rules (block_action answers 429): failures from `ip`, and sign-in links for `email`.
    bool IpThrottled(const std::string& ip);
    void RecordFailure(const std::string& ip);
    // Counts the request and tells whether the address is over its limit.
    bool LinkRequestThrottled(const std::string& email);

    // Before enrolling a new person: disposable email domains.
    Verdict OnEnrollment(const std::string& email);
    // After a successful sign-in, before the session is made: accounts per IP and per device.
    Verdict OnSignIn(int64_t user_id, const std::string& ip, const std::string& device);
    // A provider identity's address against its user's.
    Verdict OnIdentity(int64_t user_id, const std::string& user_email, const std::string& identity_email);
    // Before a live session starts: starts per window.
    Verdict OnSessionStart(int64_t user_id);
    // A session start refused at the per-user cap.
    Verdict OnCapRefused(int64_t user_id);
    // Burn velocity for one user (before a charged search or recommendation), or for everyone
    // who spent in the window (the sweep, once per checkpoint interval).
    Verdict OnSpend(int64_t user_id);
    void Sweep();

   private:
    Verdict Apply(std::optional<int64_t> user_id, std::optional<Hit> hit);
    int64_t Since(int64_t window_seconds) const;
    Verdict Burn(const std::vector<store::Spend>& spenders);
    // The cohort's average weekly spend, read again when a minute old.
    Result<double> CohortWeek();
    static constexpr int64_t kCohortRefreshMs = 60'000;

    const Config::Fraud config_;
    store::Database& database_;
    const Clock& clock_;
    obs::Registry& metrics_;
    const std::vector<std::string> disposable_domains_;
    const std::function<void(int64_t)> end_sessions_;
    // When each (rule, user) last wrote a risk event: a rule that keeps hitting writes one event
    // per window, though its action applies every time.
    std::mutex cohort_mutex_;
    std::optional<int64_t> cohort_at_ms_;  // GUARDED_BY(cohort_mutex_)
    double cohort_week_ = 0;               // GUARDED_BY(cohort_mutex_)
    std::mutex recorded_mutex_;
    std::map<std::pair<int, int64_t>, int64_t> recorded_;  // GUARDED_BY(recorded_mutex_)
};

}  // namespace beta500::fraud
