// Proves the order defaults < file < environment, rejection of unknown or mistyped settings,
// range checks, and that Dump() never shows a database password.
#include "core/config.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

namespace beta500 {
namespace {

std::string WriteTemp(const std::string& text) {
    char name[] = "/tmp/beta500-config-XXXXXX";
    const int fd = mkstemp(name);
    EXPECT_GE(fd, 0);
    close(fd);
    std::ofstream(name) << text;
    return name;
}

}  // namespace

TEST(Config, DefaultsFileThenEnvironment) {
    const std::string path = WriteTemp("[server]\nlisten = \"127.0.0.1:9000\"\nthreads = 3\n");
    auto config = Config::Load(path, {{"BETA500_SERVER_THREADS", "4"}});
    ASSERT_TRUE(config) << config.error().message;
    EXPECT_EQ(config->server.listen, "127.0.0.1:9000");
    EXPECT_EQ(config->server.threads, 4);
    EXPECT_EQ(config->ledger.batch_max, 4096);
    std::remove(path.c_str());
}

TEST(Config, RejectsUnknownAndMistyped) {
    const std::string unknown = WriteTemp("[server]\nlisen = \"x\"\n");
    EXPECT_FALSE(Config::Load(unknown, {}));
    const std::string mistyped = WriteTemp("[server]\nthreads = \"two\"\n");
    EXPECT_FALSE(Config::Load(mistyped, {}));
    EXPECT_FALSE(Config::Load("", {{"BETA500_SERVER_THREADS", "2x"}}));
    std::remove(unknown.c_str());
    std::remove(mistyped.c_str());
}

TEST(Config, RangeChecksAtTheEdge) {
    EXPECT_FALSE(Config::Load("", {{"BETA500_LEDGER_BATCH_MAX", "0"}}));
    EXPECT_TRUE(Config::Load("", {{"BETA500_LEDGER_BATCH_MAX", "1"}}));
    EXPECT_FALSE(Config::Load("", {{"BETA500_DATABASE_SYNCHRONOUS", "off"}}));
}

TEST(Config, SessionSettingsAreChecked) {
    // The hold must outlive two checkpoint intervals: 2 x 30 s is refused, one second more is not.
    EXPECT_FALSE(Config::Load("", {{"BETA500_SESSION_HOLD_TTL_SECONDS", "60"}}));
    EXPECT_TRUE(Config::Load("", {{"BETA500_SESSION_HOLD_TTL_SECONDS", "61"}}));
    EXPECT_TRUE(Config::Load("", {{"BETA500_SESSION_HOLD_TTL_SECONDS", "86400"}}));
    EXPECT_FALSE(Config::Load("", {{"BETA500_SESSION_HOLD_TTL_SECONDS", "86401"}}));
    EXPECT_FALSE(Config::Load("", {{"BETA500_SESSION_CHECKPOINT_INTERVAL_SECONDS", "0"}}));
    EXPECT_FALSE(Config::Load("", {{"BETA500_SESSION_PREAUTH_CREDITS", "1000000001"}}));
    EXPECT_TRUE(Config::Load("", {{"BETA500_SESSION_PREAUTH_CREDITS", "1000000000"}}));
    EXPECT_FALSE(Config::Load("", {{"BETA500_SERVER_WS_MESSAGE_BYTES_MAX", "0"}}));
}

TEST(Config, DubbingSettingsAreChecked) {
    const auto defaults = Config::Load("", {});
    ASSERT_TRUE(defaults);
    EXPECT_EQ(defaults->dubbing.engine, "pipeline");
    EXPECT_EQ(defaults->dubbing.streams_max, 4);
    EXPECT_TRUE(Config::Load("", {{"BETA500_DUBBING_ENGINE", "passthrough"}}));
    EXPECT_FALSE(Config::Load("", {{"BETA500_DUBBING_ENGINE", "hosted"}}));
    EXPECT_TRUE(Config::Load("", {{"BETA500_DUBBING_RECOGNIZER", "none"}}));
    EXPECT_FALSE(Config::Load("", {{"BETA500_DUBBING_TRANSLATOR", "google"}}));
    EXPECT_FALSE(Config::Load("", {{"BETA500_DUBBING_STREAMS_MAX", "0"}}));
    EXPECT_TRUE(Config::Load("", {{"BETA500_DUBBING_STREAMS_MAX", "256"}}));
    EXPECT_FALSE(Config::Load("", {{"BETA500_DUBBING_STREAMS_MAX", "257"}}));
    EXPECT_FALSE(Config::Load("", {{"BETA500_DUBBING_BACKLOG_MS", "999"}}));
    EXPECT_TRUE(Config::Load("", {{"BETA500_DUBBING_BACKLOG_MS", "1000"}}));
    EXPECT_FALSE(Config::Load("", {{"BETA500_DUBBING_SILENCE_MS", "99"}}));
    EXPECT_TRUE(Config::Load("", {{"BETA500_DUBBING_SILENCE_MS", "100"}}));
    EXPECT_TRUE(Config::Load("", {{"BETA500_DUBBING_UTTERANCE_MS_MAX", "60000"}}));
    EXPECT_FALSE(Config::Load("", {{"BETA500_DUBBING_UTTERANCE_MS_MAX", "60001"}}));
    EXPECT_FALSE(Config::Load("", {{"BETA500_DUBBING_UTTERANCE_MS_MAX", "500"}}));  // not above silence_ms
}

TEST(Config, DatabaseUrlIsSqliteOrPostgres) {
    EXPECT_TRUE(Config::Load("", {{"BETA500_DATABASE_URL", "sqlite"}}));
    EXPECT_TRUE(Config::Load("", {{"BETA500_DATABASE_URL", "postgres://app@db/beta"}}));
    EXPECT_TRUE(Config::Load("", {{"BETA500_DATABASE_URL", "postgresql:///beta?host=/run/pg"}}));
    EXPECT_FALSE(Config::Load("", {{"BETA500_DATABASE_URL", "mysql://db/beta"}}));
    EXPECT_FALSE(Config::Load("", {{"BETA500_DATABASE_URL", ""}}));
}

TEST(Config, DumpRedactsPasswords) {
    Config config;
    config.database.url = "postgres://app:hunter2@db/beta";
    const std::string dump = config.Dump();
    EXPECT_EQ(dump.find("hunter2"), std::string::npos);
    EXPECT_NE(dump.find("postgres://app:REDACTED@db/beta"), std::string::npos);
    EXPECT_EQ(RedactUrl("postgresql:///beta?host=/run/pg&password=hunter2&user=app"),
              "postgresql:///beta?host=/run/pg&password=REDACTED&user=app");
    EXPECT_EQ(RedactUrl("postgres://app@db/beta?password=hunter2"), "postgres://app@db/beta?password=REDACTED");
    EXPECT_EQ(RedactUrl("postgres://app@db/beta?nopassword=1"), "postgres://app@db/beta?nopassword=1");
    config.mail.smtp_password = "s3cret-apikey";
    EXPECT_EQ(config.Dump().find("s3cret-apikey"), std::string::npos);
    EXPECT_NE(config.Dump().find("smtp_password = \"REDACTED\""), std::string::npos);
}

TEST(Config, MailSettingsAreChecked) {
    EXPECT_FALSE(Config::Load("", {{"BETA500_MAIL_TRANSPORT", "pigeon"}}));
    EXPECT_FALSE(Config::Load("", {{"BETA500_MAIL_SMTP_URL", "http://x"}}));
    EXPECT_FALSE(Config::Load("", {{"BETA500_MAIL_SMTP_STARTTLS", "maybe"}}));
    EXPECT_TRUE(Config::Load("", {{"BETA500_MAIL_SMTP_URL", "smtps://smtp.example.com:465"}}));
    // Credentials over a relay that could be stripped of TLS are refused.
    EXPECT_FALSE(Config::Load("", {{"BETA500_MAIL_SMTP_URL", "smtp://smtp.example.com:587"},
                                   {"BETA500_MAIL_SMTP_USERNAME", "apikey"},
                                   {"BETA500_MAIL_SMTP_STARTTLS", "try"}}));
    EXPECT_TRUE(Config::Load("", {{"BETA500_MAIL_SMTP_URL", "smtp://smtp.example.com:587"},
                                  {"BETA500_MAIL_SMTP_USERNAME", "apikey"}}));
    EXPECT_TRUE(Config::Load("", {{"BETA500_MAIL_SMTP_URL", "smtp://127.0.0.1:2525"},
                                  {"BETA500_MAIL_SMTP_USERNAME", "dev"},
                                  {"BETA500_MAIL_SMTP_STARTTLS", "none"}}));
    EXPECT_FALSE(Config::Load("", {{"BETA500_MAIL_SMTP_URL", "smtp://localhost.example.com:25"},
                                   {"BETA500_MAIL_SMTP_USERNAME", "dev"},
                                   {"BETA500_MAIL_SMTP_STARTTLS", "none"}}));
}

}  // namespace beta500

namespace beta500 {

TEST(Config, OidcProvidersFromTheFileWithTheSecretFromTheEnvironment) {
    const std::string path = WriteTemp(
        "[oidc]\njwks_refetch_seconds = 30\n\n"
        "[[oidc.providers]]\nname = \"google\"\ndisplay_name = \"Google\"\n"
        "issuer = \"https://accounts.google.com\"\nclient_id = \"id-1\"\n\n"
        "[[oidc.providers]]\nname = \"corp-sso\"\nissuer = \"https://sso.example.com/realms/x\"\n"
        "client_id = \"id-2\"\nclient_secret = \"in-file\"\n");
    auto config = Config::Load(path, {{"BETA500_OIDC_GOOGLE_CLIENT_SECRET", "from-env"}});
    ASSERT_TRUE(config) << config.error().message;
    ASSERT_EQ(config->oidc.providers.size(), 2U);
    EXPECT_EQ(config->oidc.providers[0].client_secret, "from-env");
    EXPECT_EQ(config->oidc.providers[1].client_secret, "in-file");
    EXPECT_EQ(config->oidc.providers[1].scopes, "openid email profile");
    EXPECT_EQ(config->oidc.jwks_refetch_seconds, 30);
    // Secrets never show in the dump.
    const std::string dump = config->Dump();
    EXPECT_EQ(dump.find("from-env"), std::string::npos);
    EXPECT_EQ(dump.find("in-file"), std::string::npos);
    EXPECT_NE(dump.find("name = \"corp-sso\""), std::string::npos);
    // Without the environment, the first provider has no secret: refused.
    EXPECT_FALSE(Config::Load(path, {}));
    std::remove(path.c_str());
}

TEST(Config, OidcProvidersAreChecked) {
    auto load = [](const std::string& provider) {
        const std::string path = WriteTemp("[[oidc.providers]]\n" + provider);
        auto config = Config::Load(path, {});
        std::remove(path.c_str());
        return static_cast<bool>(config);
    };
    const std::string rest = "client_id = \"c\"\nclient_secret = \"s\"\n";
    EXPECT_TRUE(load("name = \"a-1\"\nissuer = \"https://id.example\"\n" + rest));
    EXPECT_TRUE(load("name = \"local\"\nissuer = \"http://127.0.0.1:9000\"\n" + rest));
    EXPECT_FALSE(load("name = \"Google\"\nissuer = \"https://id.example\"\n" + rest));  // upper case
    EXPECT_FALSE(load("name = \"" + std::string(33, 'a') + "\"\nissuer = \"https://id.example\"\n" + rest));
    EXPECT_TRUE(load("name = \"" + std::string(32, 'a') + "\"\nissuer = \"https://id.example\"\n" + rest));
    EXPECT_FALSE(load("name = \"a\"\nissuer = \"http://id.example\"\n" + rest));  // not https
    EXPECT_FALSE(load("name = \"a\"\nissuer = \"https://id.example\"\nclient_id = \"c\"\n"));
    EXPECT_FALSE(load("name = \"a\"\nissuer = \"https://id.example\"\nscopes = \"email\"\n" + rest));
    EXPECT_FALSE(load("name = \"a\"\nissuer = \"https://id.example\"\ncolour = \"red\"\n" + rest));
    EXPECT_FALSE(Config::Load("", {{"BETA500_OIDC_CLOCK_SKEW_SECONDS", "301"}}));
    EXPECT_TRUE(Config::Load("", {{"BETA500_OIDC_CLOCK_SKEW_SECONDS", "300"}}));
}

}  // namespace beta500
