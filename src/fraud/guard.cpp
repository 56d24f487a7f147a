#include "fraud/guard.h"

#include <spdlog/spdlog.h>

#include "core/crypto.h"
#include "core/log.h"

namespace beta500::fraud {
namespace {

constexpr int64_t kWeekMs = 7 * 24 * 3600 * 1000LL;

void Merge(Verdict& into, Verdict&& one) {
    into.blocked = into.blocked || one.blocked;
    into.suspended = into.suspended || one.suspended;
    into.hits.insert(into.hits.end(), std::make_move_iterator(one.hits.begin()), std::make_move_iterator(one.hits.end()));
}

}  // namespace

Guard::Guard(const Config& config, store::Database& database, const Clock& clock, obs::Registry& metrics,
             std::vector<std::string> disposable_domains, std::function<void(int64_t)> end_sessions)
    : config_(config.fraud),
      database_(database),
      clock_(clock),
      metrics_(metrics),
      disposable_domains_(std::move(disposable_domains)),
      end_sessions_(std::move(end_sessions)) {}

int64_t Guard::Since(int64_t window_seconds) const { return clock_.NowMs() - window_seconds * 1000; }

Verdict Guard::Apply(std::optional<int64_t> user_id, std::optional<Hit> hit) {
    Verdict verdict;
    if (!hit) {
        return verdict;
    }
    metrics_.GetCounter("beta500_fraud_hits_total", "Fraud rule hits.", {{"rule", RuleName(hit->rule)}}).Inc();
    bool record = true;
    if (user_id) {
        const int64_t now_ms = clock_.NowMs();
        const int64_t window_ms = std::max<int64_t>(SettingsFor(config_, hit->rule).window_seconds, 60) * 1000;
        std::lock_guard lock(recorded_mutex_);
        auto [it, added] = recorded_.try_emplace({static_cast<int>(hit->rule), *user_id}, now_ms);
        record = added || now_ms - it->second >= window_ms;
        if (record) {
            it->second = now_ms;
        }
    }
    if (record) {
        spdlog::warn("msg=\"fraud rule hit\" rule={} action={} user_id={} evidence={}", RuleName(hit->rule),
                     ActionName(hit->action), user_id ? std::to_string(*user_id) : "-", LogQuote(hit->evidence));
        if (auto recorded = database_.RecordRiskEvent(user_id, RuleName(hit->rule), ActionName(hit->action),
                                                      hit->score, hit->evidence);
            !recorded) {
            spdlog::error("msg=\"risk event not recorded\" error={}", LogQuote(recorded.error().message));
        }
    }
    verdict.blocked = hit->action != Action::kFlag;
    if (hit->action == Action::kSuspendUser && user_id) {
        if (auto changed = database_.SetUserStatus(*user_id, "suspended", "system:fraud"); !changed) {
            spdlog::error("msg=\"fraud suspension failed\" user_id={} error={}", *user_id,
                          LogQuote(changed.error().message));
        }
        verdict.suspended = true;
    }
    if (verdict.blocked && user_id && end_sessions_ && hit->rule == Rule::kBurnVelocity) {
        end_sessions_(*user_id);  // spending too fast: the sessions that spend stop now
    } else if (verdict.suspended && user_id && end_sessions_) {
        end_sessions_(*user_id);
    }
    verdict.hits.push_back(std::move(*hit));
    return verdict;
}

bool Guard::IpThrottled(const std::string& ip) {
    const RuleSettings settings = SettingsFor(config_, Rule::kFailedSignInsPerIp);
    if (!settings.enabled || settings.action == Action::kFlag) {
        return false;
    }
    auto failures = database_.CountSignals("failure_ip", ip, Since(settings.window_seconds));
    return failures && *failures > settings.threshold;
}

void Guard::RecordFailure(const std::string& ip) {
    const RuleSettings settings = SettingsFor(config_, Rule::kFailedSignInsPerIp);
    if (!settings.enabled || !database_.AddSignal("failure_ip", ip, std::nullopt, settings.window_seconds * 1000)) {
        return;
    }
    auto failures = database_.CountSignals("failure_ip", ip, Since(settings.window_seconds));
    // One risk event when the limit is first passed, not one per further failure.
    if (failures && *failures == settings.threshold + 1) {
        Apply(std::nullopt, CheckCount(Rule::kFailedSignInsPerIp, settings, *failures, "ip " + ip));
    }
}

bool Guard::LinkRequestThrottled(const std::string& email) {
    const RuleSettings settings = SettingsFor(config_, Rule::kSignInsPerAccount);
    const std::string key = Sha256Hex(email);  // addresses are not kept in the signals
    if (!settings.enabled || !database_.AddSignal("link_request", key, std::nullopt, settings.window_seconds * 1000)) {
        return false;
    }
    auto requests = database_.CountSignals("link_request", key, Since(settings.window_seconds));
    if (!requests || *requests <= settings.threshold) {
        return false;
    }
    if (*requests == settings.threshold + 1) {
        Apply(std::nullopt, CheckCount(Rule::kSignInsPerAccount, settings, *requests, "address " + key.substr(0, 16)));
    }
    return settings.action != Action::kFlag;
}

Verdict Guard::OnEnrollment(const std::string& email) {
    return Apply(std::nullopt, CheckDisposable(SettingsFor(config_, Rule::kDisposableEmail), email, disposable_domains_));
}

Verdict Guard::OnSignIn(int64_t user_id, const std::string& ip, const std::string& device) {
    Verdict verdict;
    for (const auto& [rule, kind, key] : {std::tuple{Rule::kAccountsPerIp, "sign_in_ip", ip},
                                          std::tuple{Rule::kAccountsPerDevice, "sign_in_device", device}}) {
        const RuleSettings settings = SettingsFor(config_, rule);
        if (!settings.enabled || key.empty() ||
            !database_.AddSignal(kind, key, user_id, settings.window_seconds * 1000)) {
            continue;
        }
        auto accounts = database_.CountSignalUsers(kind, key, Since(settings.window_seconds));
        if (!accounts) {
            continue;
        }
        Merge(verdict, Apply(user_id, CheckCount(rule, settings, *accounts,
                                                 std::string(rule == Rule::kAccountsPerIp ? "ip " : "device ") + key)));
    }
    return verdict;
}

Verdict Guard::OnIdentity(int64_t user_id, const std::string& user_email, const std::string& identity_email) {
    return Apply(user_id, CheckMismatch(SettingsFor(config_, Rule::kIdentityEmailMismatch), user_email, identity_email));
}

Verdict Guard::OnSessionStart(int64_t user_id) {
    const RuleSettings settings = SettingsFor(config_, Rule::kSessionStartsPerHour);
    if (!settings.enabled) {
        return {};
    }
    // The sessions already started in the window, plus this one.
    auto starts = database_.CountSessionStarts(user_id, Since(settings.window_seconds));
    if (!starts) {
        return {};
    }
    return Apply(user_id, CheckCount(Rule::kSessionStartsPerHour, settings, *starts + 1, "user " + std::to_string(user_id)));
}

Verdict Guard::OnCapRefused(int64_t user_id) {
    const RuleSettings settings = SettingsFor(config_, Rule::kConcurrentSessions);
    const std::string key = std::to_string(user_id);
    if (!settings.enabled || !database_.AddSignal("cap_refused", key, user_id, settings.window_seconds * 1000)) {
        return {};
    }
    auto refusals = database_.CountSignals("cap_refused", key, Since(settings.window_seconds));
    if (!refusals || *refusals != settings.threshold + 1) {
        return {};  // one event when the limit is first passed
    }
    return Apply(user_id, CheckCount(Rule::kConcurrentSessions, settings, *refusals, "user " + key));
}

Verdict Guard::Burn(const std::vector<store::Spend>& spenders) {
    const RuleSettings settings = SettingsFor(config_, Rule::kBurnVelocity);
    Verdict verdict;
    if (!settings.enabled || spenders.empty()) {
        return verdict;
    }
    auto cohort_week = CohortWeek();
    if (!cohort_week) {
        spdlog::error("msg=\"burn rule skipped: cohort spend unreadable\" error={}",
                      LogQuote(cohort_week.error().message));
        return verdict;
    }
    // Averages per window: a week's spend spread over the week's windows.
    const double windows_per_week = static_cast<double>(kWeekMs) / static_cast<double>(settings.window_seconds * 1000);
    for (const store::Spend& spend : spenders) {
        const double own = static_cast<double>(spend.in_week - spend.in_window) / windows_per_week;
        Merge(verdict, Apply(spend.user_id, CheckBurn(settings, config_.burn_velocity_multiplier, spend.in_window,
                                                      own, *cohort_week / windows_per_week)));
    }
    return verdict;
}

Result<double> Guard::CohortWeek() {
    const int64_t now_ms = clock_.NowMs();
    std::lock_guard lock(cohort_mutex_);
    // Everyone's week moves slowly: a charged call reads the figure at most once a minute.
    if (!cohort_at_ms_ || now_ms - *cohort_at_ms_ >= kCohortRefreshMs) {
        auto fresh = database_.CohortWeeklySpend(now_ms - kWeekMs);
        if (!fresh) {
            return fresh.error();
        }
        cohort_week_ = *fresh;
        cohort_at_ms_ = now_ms;
    }
    return cohort_week_;
}

Verdict Guard::OnSpend(int64_t user_id) {
    const RuleSettings settings = SettingsFor(config_, Rule::kBurnVelocity);
    if (!settings.enabled) {
        return {};
    }
    auto spenders = database_.RecentSpenders(Since(settings.window_seconds), clock_.NowMs() - kWeekMs, user_id);
    return spenders ? Burn(*spenders) : Verdict{};
}

void Guard::Sweep() {
    // Signals older than every rule's window count for nothing: they go.
    int64_t longest = 0;
    for (Rule rule : {Rule::kAccountsPerIp, Rule::kAccountsPerDevice, Rule::kSessionStartsPerHour,
                      Rule::kConcurrentSessions, Rule::kFailedSignInsPerIp, Rule::kSignInsPerAccount}) {
        longest = std::max(longest, SettingsFor(config_, rule).window_seconds);
    }
    if (Status purged = database_.PurgeSignals(Since(longest)); !purged) {
        spdlog::warn("msg=\"fraud signals not purged\" error={}", LogQuote(purged.error().message));
    }
    const RuleSettings settings = SettingsFor(config_, Rule::kBurnVelocity);
    if (!settings.enabled) {
        return;
    }
    auto spenders = database_.RecentSpenders(Since(settings.window_seconds), clock_.NowMs() - kWeekMs, std::nullopt);
    if (!spenders) {
        spdlog::warn("msg=\"fraud sweep failed\" error={}", LogQuote(spenders.error().message));
        return;
    }
    Burn(*spenders);
}

}  // namespace beta500::fraud
