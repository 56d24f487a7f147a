#include "fraud/rules.h"

#include <algorithm>
#include <boost/json.hpp>
#include <fstream>
#include <sstream>

namespace beta500::fraud {
namespace json = boost::json;

namespace {

RuleSettings Make(int64_t threshold, int64_t window_seconds, const std::string& action, int64_t score) {
    RuleSettings settings;
    settings.enabled = action != "off";
    settings.threshold = threshold;
    settings.window_seconds = window_seconds;
    settings.action = ParseAction(action).value_or(Action::kFlag);
    settings.score = score;
    return settings;
}

}  // namespace

const char* RuleName(Rule rule) {
    switch (rule) {
        case Rule::kAccountsPerIp: return "accounts_per_ip";
        case Rule::kAccountsPerDevice: return "accounts_per_device";
        case Rule::kDisposableEmail: return "disposable_email";
        case Rule::kSessionStartsPerHour: return "session_starts";
        case Rule::kConcurrentSessions: return "concurrent_sessions";
        case Rule::kBurnVelocity: return "burn_velocity";
        case Rule::kFailedSignInsPerIp: return "failed_sign_ins_per_ip";
        case Rule::kSignInsPerAccount: return "sign_ins_per_account";
        case Rule::kIdentityEmailMismatch: return "identity_email_mismatch";
    }
    return "unknown";
}

const char* ActionName(Action action) {
    switch (action) {
        case Action::kFlag: return "flag";
        case Action::kBlockAction: return "block_action";
        case Action::kSuspendUser: return "suspend_user";
    }
    return "flag";
}

std::optional<Action> ParseAction(std::string_view name) {
    if (name == "flag") {
        return Action::kFlag;
    }
    if (name == "block_action") {
        return Action::kBlockAction;
    }
    if (name == "suspend_user") {
        return Action::kSuspendUser;
    }
    return std::nullopt;
}

RuleSettings SettingsFor(const Config::Fraud& c, Rule rule) {
    switch (rule) {
        case Rule::kAccountsPerIp:
            return Make(c.accounts_per_ip_threshold, c.accounts_per_ip_window_seconds, c.accounts_per_ip_action, 20);
        case Rule::kAccountsPerDevice:
            return Make(c.accounts_per_device_threshold, c.accounts_per_device_window_seconds,
                        c.accounts_per_device_action, 20);
        case Rule::kDisposableEmail: return Make(0, 0, c.disposable_email_action, 30);
        case Rule::kSessionStartsPerHour:
            return Make(c.session_starts_threshold, c.session_starts_window_seconds, c.session_starts_action, 20);
        case Rule::kConcurrentSessions:
            return Make(c.concurrent_sessions_threshold, c.concurrent_sessions_window_seconds,
                        c.concurrent_sessions_action, 10);
        case Rule::kBurnVelocity:
            return Make(c.burn_velocity_min_credits, c.burn_velocity_window_seconds, c.burn_velocity_action, 30);
        case Rule::kFailedSignInsPerIp:
            return Make(c.failed_sign_ins_per_ip_threshold, c.failed_sign_ins_per_ip_window_seconds,
                        c.failed_sign_ins_per_ip_action, 10);
        case Rule::kSignInsPerAccount:
            return Make(c.sign_ins_per_account_threshold, c.sign_ins_per_account_window_seconds,
                        c.sign_ins_per_account_action, 5);
        case Rule::kIdentityEmailMismatch: return Make(0, 0, c.identity_email_mismatch_action, 20);
    }
    return {};
}

std::optional<Hit> CheckCount(Rule rule, const RuleSettings& settings, int64_t observed, const std::string& subject) {
    if (!settings.enabled || observed <= settings.threshold) {
        return std::nullopt;
    }
    return Hit{rule, settings.action, settings.score,
               json::serialize(json::object{{"subject", subject},
                                            {"observed", observed},
                                            {"threshold", settings.threshold},
                                            {"window_seconds", settings.window_seconds}})};
}

std::optional<Hit> CheckBurn(const RuleSettings& settings, int64_t multiplier, int64_t spent, double own_average,
                             double cohort_average) {
    const double baseline = std::max(own_average, cohort_average);
    const double limit = static_cast<double>(multiplier) * baseline;
    if (!settings.enabled || spent <= settings.threshold || static_cast<double>(spent) <= limit) {
        return std::nullopt;
    }
    return Hit{Rule::kBurnVelocity, settings.action, settings.score,
               json::serialize(json::object{{"spent", spent},
                                            {"window_seconds", settings.window_seconds},
                                            {"own_average", own_average},
                                            {"cohort_average", cohort_average},
                                            {"multiplier", multiplier},
                                            {"min_credits", settings.threshold}})};
}

std::optional<Hit> CheckDisposable(const RuleSettings& settings, std::string_view email,
                                   const std::vector<std::string>& domains) {
    const size_t at = email.rfind('@');
    if (!settings.enabled || at == std::string_view::npos) {
        return std::nullopt;
    }
    std::string_view domain = email.substr(at + 1);
    while (!domain.empty()) {
        if (std::binary_search(domains.begin(), domains.end(), domain)) {
            return Hit{Rule::kDisposableEmail, settings.action, settings.score,
                       json::serialize(json::object{{"domain", std::string(domain)}})};
        }
        const size_t dot = domain.find('.');
        if (dot == std::string_view::npos) {
            break;
        }
        domain.remove_prefix(dot + 1);  // a subdomain of a listed domain counts too
    }
    return std::nullopt;
}

std::optional<Hit> CheckMismatch(const RuleSettings& settings, std::string_view user_email,
                                 std::string_view identity_email) {
    if (!settings.enabled || identity_email.empty() || user_email == identity_email) {
        return std::nullopt;
    }
    return Hit{Rule::kIdentityEmailMismatch, settings.action, settings.score,
               json::serialize(json::object{{"user_email", std::string(user_email)},
                                            {"identity_email", std::string(identity_email)}})};
}

Result<std::vector<std::string>> LoadDisposableDomains(const std::string& path) {
    std::string text;
    if (path.empty()) {
        text = std::string(BundledDisposableDomains());
    } else {
        std::ifstream file(path);
        if (!file) {
            return Error{ErrorCode::kInvalidArgument, "fraud.disposable_domains_file: cannot read " + path};
        }
        std::stringstream buffer;
        buffer << file.rdbuf();
        text = buffer.str();
    }
    std::vector<std::string> domains;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
        line = line.substr(0, line.find('#'));
        std::erase_if(line, [](unsigned char ch) { return std::isspace(ch); });
        std::transform(line.begin(), line.end(), line.begin(), [](unsigned char ch) { return std::tolower(ch); });
        if (!line.empty()) {
            domains.push_back(line);
        }
    }
    std::sort(domains.begin(), domains.end());
    domains.erase(std::unique(domains.begin(), domains.end()), domains.end());
    return domains;
}

}  // namespace beta500::fraud
