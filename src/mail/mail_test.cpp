// Proves the mail pieces that need no network: templates (variables, HTML escaping, missing
// variables, unknown templates), address checks, the RFC 5322 message, and the backoff schedule.
#include <gtest/gtest.h>

#include "mail/mail.h"

namespace beta500::mail {
namespace {

TEST(Templates, RenderWithEscaping) {
    auto mail = Render("magic_link", "ada@example.com",
                       {{"link", "https://x.test/a?b=1&c=<2>"}, {"minutes", "15"}});
    ASSERT_TRUE(mail) << mail.error().message;
    EXPECT_EQ(mail->subject, "Your Beta 500 sign-in link");
    EXPECT_NE(mail->text_body.find("https://x.test/a?b=1&c=<2>"), std::string::npos);
    EXPECT_NE(mail->html_body.find("https://x.test/a?b=1&amp;c=&lt;2&gt;"), std::string::npos);
    EXPECT_EQ(mail->html_body.find("<2>"), std::string::npos);
}

TEST(Templates, MissingVariableAndUnknownTemplate) {
    EXPECT_FALSE(Render("magic_link", "ada@example.com", {}));
    EXPECT_FALSE(Render("newsletter", "ada@example.com", {}));
    for (const char* name : {"invitation", "verification", "low_credit", "test"}) {
        EXPECT_FALSE(Render(name, "ada@example.com", {})) << name;
    }
}

TEST(Addresses, Edges) {
    EXPECT_TRUE(ValidAddress("a@b"));
    EXPECT_TRUE(ValidAddress(std::string(250, 'a') + "@b.c"));   // 254 bytes
    EXPECT_FALSE(ValidAddress(std::string(251, 'a') + "@b.c"));  // 255 bytes
    for (const char* bad : {"", "@b", "a@", "a@b@c", "a b@c", "a@b\r\nBcc: x@y", "<a@b>", "a,b@c"}) {
        EXPECT_FALSE(ValidAddress(bad)) << bad;
    }
    EXPECT_EQ(AddressOf("Beta 500 <no-reply@beta.test>"), "no-reply@beta.test");
    EXPECT_EQ(AddressOf("plain@beta.test"), "plain@beta.test");
}

TEST(Message, HeadersPartsAndCrlf) {
    Mail mail{"ada@example.com", "test", "Hi", "line one\nline two\n", "<p>hi</p>"};
    const std::string message = FormatMessage(mail, "Beta <b@beta.test>", 0, "abc@beta.test");
    EXPECT_EQ(message.rfind("Date: Thu, 01 Jan 1970 00:00:00 +0000\r\n", 0), 0U);
    EXPECT_NE(message.find("\r\nTo: <ada@example.com>\r\n"), std::string::npos);
    EXPECT_NE(message.find("\r\nMessage-ID: <abc@beta.test>\r\n"), std::string::npos);
    EXPECT_NE(message.find("line one\r\nline two\r\n"), std::string::npos);
    EXPECT_NE(message.find("Content-Type: text/html; charset=utf-8"), std::string::npos);
    EXPECT_EQ(message.find("\n\n"), std::string::npos);  // every line end is CRLF
}

TEST(Backoff, DoublesUpToTheCap) {
    EXPECT_EQ(BackoffSeconds(1, 5, 600), 5);
    EXPECT_EQ(BackoffSeconds(2, 5, 600), 10);
    EXPECT_EQ(BackoffSeconds(7, 5, 600), 320);
    EXPECT_EQ(BackoffSeconds(8, 5, 600), 600);
    EXPECT_EQ(BackoffSeconds(60, 5, 600), 600);
}

}  // namespace
}  // namespace beta500::mail
