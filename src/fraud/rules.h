// Fraud rules: what each rule watches, its threshold and what a hit does. Decisions are pure
// functions of the rule's settings and what was observed, so they are deterministic and
// table-tested at threshold - 1, threshold and threshold + 1. The Guard (guard.h) gathers the
// observations and applies the actions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.h"
#include "core/result.h"

namespace beta500::fraud {

enum class Rule {
    kAccountsPerIp,          // distinct accounts signing in from one IP address in the window
    kAccountsPerDevice,      // distinct accounts signing in from one device (its cookie) in the window
    kDisposableEmail,        // enrollment from a disposable email domain
    kSessionStartsPerHour,   // live sessions a user started in the window
    kConcurrentSessions,     // live sessions refused at the per-user cap in the window
    kBurnVelocity,           // credits spent in the window against the user's and the cohort's rate
    kFailedSignInsPerIp,     // failed sign-ins and token redemptions from one IP in the window
    kSignInsPerAccount,      // sign-in links asked for one address in the window
    kIdentityEmailMismatch,  // a provider identity reporting another address than its user's
};

enum class Action {
    kFlag,         // a risk event for admins; nothing else
    kBlockAction,  // the action is refused (429 for the rate rules, 403 or close 4011 otherwise)
    kSuspendUser,  // the user is suspended at once (sessions closed with 4011)
};

struct RuleSettings {
    bool enabled = true;
    int64_t threshold = 0;       // the most allowed; observed above it is a hit
    int64_t window_seconds = 0;  // 0 for rules without a window
    Action action = Action::kFlag;
    int64_t score = 10;          // added to the user's risk score per hit
};

const char* RuleName(Rule rule);
const char* ActionName(Action action);
std::optional<Action> ParseAction(std::string_view name);

// The settings of every rule from [fraud] (defaults in config.h).
RuleSettings SettingsFor(const Config::Fraud& config, Rule rule);

struct Hit {
    Rule rule;
    Action action;
    int64_t score = 0;
    std::string evidence;  // JSON: what was observed against what
};

// A count-over-threshold rule: hit when `observed` exceeds the threshold.
std::optional<Hit> CheckCount(Rule rule, const RuleSettings& settings, int64_t observed,
                              const std::string& subject);
// Burn velocity: hit when the credits spent in the window exceed `multiplier` times the larger of
// the user's own average for such a window and the cohort's, and at least the threshold
// (`min_credits`, so small spenders are never flagged).
std::optional<Hit> CheckBurn(const RuleSettings& settings, int64_t multiplier, int64_t spent,
                             double own_average, double cohort_average);
// Disposable email: hit when the address's domain (or a parent domain) is on the list.
std::optional<Hit> CheckDisposable(const RuleSettings& settings, std::string_view email,
                                   const std::vector<std::string>& domains);
// Identity email mismatch: hit when the provider's address differs from the user's.
std::optional<Hit> CheckMismatch(const RuleSettings& settings, std::string_view user_email,
                                 std::string_view identity_email);

// The bundled list (src/fraud/disposable_domains.txt, embedded at build time).
std::string_view BundledDisposableDomains();
// The bundled list of disposable email domains, or the operator's file (one domain per line,
// "#" comments), sorted for lookups.
Result<std::vector<std::string>> LoadDisposableDomains(const std::string& path);

}  // namespace beta500::fraud
