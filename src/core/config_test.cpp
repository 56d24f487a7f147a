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

TEST(Config, DumpRedactsPasswords) {
    Config config;
    config.database.url = "postgres://app:hunter2@db/beta";
    const std::string dump = config.Dump();
    EXPECT_EQ(dump.find("hunter2"), std::string::npos);
    EXPECT_NE(dump.find("postgres://app:REDACTED@db/beta"), std::string::npos);
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
