// Proves the invitation rules without a server: email normalization, every field check at its
// edge, the CSV format (quotes, header, blank lines, row limit), and creation against a real
// database: the cap at its edge, retried creates, conflicts, revocation and the resend limit.
#include "identity/invitations.h"

#include <gtest/gtest.h>

#include <filesystem>

namespace beta500::identity {
namespace {

TEST(NormalizeEmail, TrimsAndLowers) {
    EXPECT_EQ(NormalizeEmail("  Ada@Example.COM \n"), "ada@example.com");
    EXPECT_EQ(NormalizeEmail("not an address"), "");
    EXPECT_EQ(NormalizeEmail(""), "");
}

TEST(CheckInvitation, FieldsAtTheirEdges) {
    Config config;
    const int64_t now = 1'800'000'000'000;
    auto ok = CheckInvitation("a@b.c", std::nullopt, std::nullopt, "", config, now);
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->initial_credits, 1000);
    EXPECT_EQ(*ok->expires_at_ms, now + 30LL * 24 * 3600 * 1000);
    EXPECT_TRUE(CheckInvitation("a@b.c", 0, std::nullopt, "", config, now));
    EXPECT_FALSE(CheckInvitation("a@b.c", -1, std::nullopt, "", config, now));
    EXPECT_TRUE(CheckInvitation("a@b.c", config.ledger.amount_max, std::nullopt, "", config, now));
    EXPECT_FALSE(CheckInvitation("a@b.c", config.ledger.amount_max + 1, std::nullopt, "", config, now));
    EXPECT_FALSE(CheckInvitation("a@b.c", 1, now, "", config, now));
    EXPECT_TRUE(CheckInvitation("a@b.c", 1, now + 1, "", config, now));
    EXPECT_TRUE(CheckInvitation("a@b.c", 1, std::nullopt, std::string(500, 'n'), config, now));
    auto long_note = CheckInvitation("a@b.c", 1, std::nullopt, std::string(501, 'n'), config, now);
    ASSERT_FALSE(long_note);
    EXPECT_EQ(long_note.error().message.rfind("note:", 0), 0U);
    EXPECT_EQ(CheckInvitation("nope", 1, std::nullopt, "", config, now).error().message.rfind("email:", 0), 0U);
}

TEST(ParseCsv, QuotesHeaderAndBlankLines) {
    auto rows = ParseCsv("email,initial_credits,expires_at,note\r\n"
                         "ada@example.com,50,,\"VIP, \"\"early\"\"\"\n"
                         "\n"
                         "bob@example.com\n");
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 2U);
    EXPECT_EQ((*rows)[0].line, 2U);
    EXPECT_EQ((*rows)[0].fields, (std::vector<std::string>{"ada@example.com", "50", "", "VIP, \"early\""}));
    EXPECT_EQ((*rows)[1].line, 4U);
    EXPECT_EQ((*rows)[1].fields, (std::vector<std::string>{"bob@example.com"}));
    EXPECT_FALSE(ParseCsv("a@b.c,\"unterminated\n"));
}

TEST(ParseCsv, RowLimitEdge) {
    std::string at_limit;
    for (size_t i = 0; i < kImportRowsMax; ++i) {
        at_limit += "u" + std::to_string(i) + "@example.com\n";
    }
    EXPECT_EQ(ParseCsv(at_limit)->size(), kImportRowsMax);
    EXPECT_EQ(ParseCsv("Email\n" + at_limit)->size(), kImportRowsMax);  // the header is extra
    EXPECT_FALSE(ParseCsv(at_limit + "one.more@example.com\n"));
}

class InvitationsTest : public ::testing::Test {
   protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("beta500-invitations-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        config_.database.data_dir = dir_.string();
        config_.beta.cap = 3;
        database_ = std::move(*store::Database::Open(config_.database, clock_));
        invitations_ = std::make_unique<Invitations>(config_, *database_, clock_);
    }
    void TearDown() override {
        database_.reset();
        std::filesystem::remove_all(dir_);
    }
    store::InviteOutcome Invite(const std::string& email, int64_t credits = 100) {
        auto result = invitations_->Create(email, credits, std::nullopt, "", "token:1");
        EXPECT_TRUE(result) << (result ? "" : result.error().message);
        return result ? result->outcome : store::InviteOutcome::kConflict;
    }

    std::filesystem::path dir_;
    Config config_;
    ManualClock clock_{1'800'000'000'000};
    std::unique_ptr<store::Database> database_;
    std::unique_ptr<Invitations> invitations_;
};

TEST_F(InvitationsTest, CapRetriesConflictsRevocationAndResend) {
    ASSERT_TRUE(database_->CreateUser("enrolled@example.com", "user"));  // takes one seat
    EXPECT_EQ(Invite("enrolled@example.com"), store::InviteOutcome::kAlreadyEnrolled);
    EXPECT_EQ(Invite("a@example.com"), store::InviteOutcome::kCreated);
    EXPECT_EQ(Invite("A@Example.com "), store::InviteOutcome::kUnchanged);  // a retried request
    EXPECT_EQ(Invite("a@example.com", 200), store::InviteOutcome::kConflict);
    EXPECT_EQ(Invite("b@example.com"), store::InviteOutcome::kCreated);  // seat 3 of 3
    EXPECT_EQ(Invite("c@example.com"), store::InviteOutcome::kOverCap);
    auto listed = database_->ListInvitations("open", "", std::nullopt, 10);
    ASSERT_TRUE(listed);
    ASSERT_EQ(listed->size(), 2U);
    // Revoking frees a seat; a revoked invitation cannot be revoked or resent again.
    const int64_t b = (*listed)[0].id;
    EXPECT_EQ(*database_->RevokeInvitation(b, "t"), store::InvitationChange::kDone);
    EXPECT_EQ(*database_->RevokeInvitation(b, "t"), store::InvitationChange::kNotOpen);
    EXPECT_EQ(*database_->RevokeInvitation(999, "t"), store::InvitationChange::kNotFound);
    EXPECT_EQ(*invitations_->Resend(b, "t"), store::InvitationChange::kNotOpen);
    EXPECT_EQ(Invite("c@example.com"), store::InviteOutcome::kCreated);
    // Resend at most once a minute.
    const int64_t a = (*listed)[1].id;
    EXPECT_EQ(*invitations_->Resend(a, "t"), store::InvitationChange::kTooSoon);
    clock_.Advance(Invitations::kResendIntervalMs);
    EXPECT_EQ(*invitations_->Resend(a, "t"), store::InvitationChange::kDone);
    EXPECT_EQ(*invitations_->Resend(a, "t"), store::InvitationChange::kTooSoon);
    // One invitation mail per creation and per resend.
    auto mails = database_->ListMail("pending", std::nullopt, 10);
    ASSERT_TRUE(mails);
    EXPECT_EQ(mails->size(), 4U);
    EXPECT_EQ(mails->front().template_name, "invitation");
}

TEST_F(InvitationsTest, ExpiredInvitationsFreeTheirSeats) {
    config_.beta.cap = 1;
    ASSERT_TRUE(invitations_->Create("a@example.com", 1, clock_.NowMs() + 1000, "", "t"));
    EXPECT_EQ(Invite("b@example.com"), store::InviteOutcome::kOverCap);
    clock_.Advance(1000);
    EXPECT_EQ(Invite("b@example.com"), store::InviteOutcome::kCreated);
}

TEST_F(InvitationsTest, ImportReportsEachRow) {
    auto report = invitations_->Import(
        "email,initial_credits\nada@example.com,10\nbad-address\nbob@example.com,ten\n"
        "ada@example.com,10\ncy@example.com\ndee@example.com\n",
        "token:1");
    ASSERT_TRUE(report) << report.error().message;
    ASSERT_EQ(report->size(), 6U);
    std::vector<std::string> results;
    for (const auto& row : *report) {
        results.push_back(row.result);
    }
    EXPECT_EQ(results, (std::vector<std::string>{"created", "invalid", "invalid", "unchanged",
                                                 "created", "created"}));
    EXPECT_EQ((*report)[2].error, "initial_credits: not an integer");
    EXPECT_EQ((*report)[1].line, 3U);
    auto over = invitations_->Import("eve@example.com\n", "token:1");
    EXPECT_EQ((*over)[0].result, "beta_full");
}

}  // namespace
}  // namespace beta500::identity
