// Every rule at its boundary: threshold - 1 and threshold pass, threshold + 1 hits, with the
// configured action and score; "off" never hits.
#include "fraud/rules.h"

#include <gtest/gtest.h>

namespace beta500::fraud {
namespace {

TEST(Rules, CountRulesAtTheirThresholds) {
    Config::Fraud config;
    config.accounts_per_ip_threshold = 5;
    config.accounts_per_device_threshold = 3;
    config.session_starts_threshold = 30;
    config.concurrent_sessions_threshold = 3;
    config.failed_sign_ins_per_ip_threshold = 30;
    config.sign_ins_per_account_threshold = 10;
    for (const auto& [rule, threshold] : std::vector<std::pair<Rule, int64_t>>{
             {Rule::kAccountsPerIp, 5}, {Rule::kAccountsPerDevice, 3}, {Rule::kSessionStartsPerHour, 30},
             {Rule::kConcurrentSessions, 3}, {Rule::kFailedSignInsPerIp, 30}, {Rule::kSignInsPerAccount, 10}}) {
        SCOPED_TRACE(RuleName(rule));
        const RuleSettings settings = SettingsFor(config, rule);
        EXPECT_EQ(settings.threshold, threshold);
        EXPECT_FALSE(CheckCount(rule, settings, threshold - 1, "s"));
        EXPECT_FALSE(CheckCount(rule, settings, threshold, "s"));
        const auto hit = CheckCount(rule, settings, threshold + 1, "s");
        ASSERT_TRUE(hit);
        EXPECT_EQ(hit->rule, rule);
        EXPECT_EQ(hit->action, settings.action);
        EXPECT_GT(hit->score, 0);
        EXPECT_NE(hit->evidence.find("\"observed\":" + std::to_string(threshold + 1)), std::string::npos);
    }
}

TEST(Rules, ActionsComeFromTheConfigurationAndOffNeverHits) {
    Config::Fraud config;
    config.accounts_per_ip_action = "suspend_user";
    EXPECT_EQ(SettingsFor(config, Rule::kAccountsPerIp).action, Action::kSuspendUser);
    config.accounts_per_ip_action = "block_action";
    EXPECT_EQ(SettingsFor(config, Rule::kAccountsPerIp).action, Action::kBlockAction);
    config.accounts_per_ip_action = "off";
    EXPECT_FALSE(CheckCount(Rule::kAccountsPerIp, SettingsFor(config, Rule::kAccountsPerIp), 1000, "s"));
    EXPECT_FALSE(Config::Load("", {{"BETA500_FRAUD_BURN_VELOCITY_ACTION", "shout"}}));
    EXPECT_TRUE(Config::Load("", {{"BETA500_FRAUD_BURN_VELOCITY_ACTION", "suspend_user"}}));
    EXPECT_FALSE(Config::Load("", {{"BETA500_FRAUD_SESSION_STARTS_THRESHOLD", "-1"}}));
}

TEST(Rules, BurnVelocityAgainstOwnAndCohortRates) {
    Config::Fraud config;
    config.burn_velocity_min_credits = 500;
    const RuleSettings settings = SettingsFor(config, Rule::kBurnVelocity);
    // Against the larger of the two averages, times 10: here 60 x 10 = 600.
    EXPECT_FALSE(CheckBurn(settings, 10, 599, 60, 20));
    EXPECT_FALSE(CheckBurn(settings, 10, 600, 60, 20));
    EXPECT_TRUE(CheckBurn(settings, 10, 601, 60, 20));
    EXPECT_TRUE(CheckBurn(settings, 10, 601, 20, 60));
    // Never below the minimum, however new the spender: 500 is allowed, 501 is not.
    EXPECT_FALSE(CheckBurn(settings, 10, 499, 0, 0));
    EXPECT_FALSE(CheckBurn(settings, 10, 500, 0, 0));
    const auto hit = CheckBurn(settings, 10, 501, 0, 0);
    ASSERT_TRUE(hit);
    EXPECT_NE(hit->evidence.find("\"spent\":501"), std::string::npos);
}

TEST(Rules, DisposableDomainsIncludingSubdomains) {
    const auto domains = *LoadDisposableDomains("");
    EXPECT_GT(domains.size(), 40U);
    const RuleSettings settings = SettingsFor(Config::Fraud{}, Rule::kDisposableEmail);
    EXPECT_EQ(settings.action, Action::kBlockAction);
    EXPECT_TRUE(CheckDisposable(settings, "a@mailinator.com", domains));
    EXPECT_TRUE(CheckDisposable(settings, "a@eu.mailinator.com", domains));
    EXPECT_FALSE(CheckDisposable(settings, "a@notmailinator.com", domains));
    EXPECT_FALSE(CheckDisposable(settings, "a@example.com", domains));
    EXPECT_FALSE(CheckDisposable(settings, "no-at-sign", domains));
    EXPECT_FALSE(LoadDisposableDomains("/nonexistent/list.txt"));
}

TEST(Rules, IdentityEmailMismatch) {
    const RuleSettings settings = SettingsFor(Config::Fraud{}, Rule::kIdentityEmailMismatch);
    EXPECT_FALSE(CheckMismatch(settings, "a@example.com", "a@example.com"));
    EXPECT_FALSE(CheckMismatch(settings, "a@example.com", ""));
    EXPECT_TRUE(CheckMismatch(settings, "a@example.com", "b@example.com"));
}

}  // namespace
}  // namespace beta500::fraud
