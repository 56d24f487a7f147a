// Invitations: the rules that need no database (email normalization, validation of one
// invitation, the CSV import format; pure functions) and the Invitations class that applies
// them through the database.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/clock.h"
#include "core/csv.h"
#include "core/result.h"
#include "store/database.h"

namespace beta500::identity {

struct InvitationInput {
    std::string email;  // normalized
    int64_t initial_credits = 0;
    std::optional<int64_t> expires_at_ms;
    std::string note;
};

// Bounds on an invitation's text.
inline constexpr size_t kNoteBytesMax = 500;
// Rows one CSV import may hold (bounds the work of one request).
inline constexpr size_t kImportRowsMax = 1000;

// Trims spaces and lower-cases the address; empty when it is not a plausible address.
std::string NormalizeEmail(std::string_view email);

// Checks and completes one invitation: a valid email, credits within [0, ledger.amount_max]
// (default beta.initial_credits), an expiry in the future (default now + invitation_ttl_days),
// a note of at most kNoteBytesMax bytes. The error message names the field.
Result<InvitationInput> CheckInvitation(std::string_view email, std::optional<int64_t> credits,
                                        std::optional<int64_t> expires_at_ms, std::string note,
                                        const Config& config, int64_t now_ms);

// A CSV import's rows: `email[,initial_credits[,expires_at[,note]]]`, RFC 4180 quoting.
// Splits the upload into rows; a first row whose first field is "email" (any case) is a header
// and skipped. Fails on an unterminated quote or more than kImportRowsMax rows besides a header.
Result<std::vector<CsvRow>> ParseCsv(std::string_view text);

// Invitations: creates, imports and resends invitations with their mails, through the database.
// Blocking (database calls): use from worker threads. Thread-safe.
class Invitations {
   public:
    // Borrows all three; they must outlive this object.
    Invitations(const Config& config, store::Database& database, const Clock& clock)
        : config_(config), database_(database), clock_(clock) {}

    // kInvalidArgument with the field in the message when the input is not valid.
    Result<store::InviteResult> Create(std::string_view email, std::optional<int64_t> credits,
                                       std::optional<int64_t> expires_at_ms, std::string note,
                                       const std::string& inviter, const std::string& role = "user");

    struct ImportRow {
        size_t line = 0;
        std::string email;
        std::string result;  // created, unchanged, invalid, exists, already_enrolled, beta_full
        std::optional<int64_t> id;
        std::string error;
    };
    // Imports CSV rows one by one; one row's failure does not stop the others.
    Result<std::vector<ImportRow>> Import(std::string_view csv, const std::string& inviter);

    // Queues the invitation mail again (at most once a minute per invitation).
    Result<store::InvitationChange> Resend(int64_t id, const std::string& actor);

    // How long a resend must wait after the last invitation mail.
    static constexpr int64_t kResendIntervalMs = 60'000;

   private:
    Result<store::QueuedMail> InvitationMail(const std::string& email, int64_t credits,
                                             std::optional<int64_t> expires_at_ms);

    const Config& config_;
    store::Database& database_;
    const Clock& clock_;
};

}  // namespace beta500::identity
