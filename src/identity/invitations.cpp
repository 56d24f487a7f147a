#include "identity/invitations.h"

#include <cctype>

#include "mail/mail.h"

namespace beta500::identity {

std::string NormalizeEmail(std::string_view email) {
    while (!email.empty() && std::isspace(static_cast<unsigned char>(email.front()))) {
        email.remove_prefix(1);
    }
    while (!email.empty() && std::isspace(static_cast<unsigned char>(email.back()))) {
        email.remove_suffix(1);
    }
    std::string out(email);
    for (char& ch : out) {
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    return mail::ValidAddress(out) ? out : "";
}

Result<InvitationInput> CheckInvitation(std::string_view email, std::optional<int64_t> credits,
                                        std::optional<int64_t> expires_at_ms, std::string note,
                                        const Config& config, int64_t now_ms) {
    auto invalid = [](const std::string& message) {
        return Error{ErrorCode::kInvalidArgument, message};
    };
    InvitationInput input;
    input.email = NormalizeEmail(email);
    if (input.email.empty()) {
        return invalid("email: not a valid email address");
    }
    input.initial_credits = credits.value_or(config.beta.initial_credits);
    if (input.initial_credits < 0 || input.initial_credits > config.ledger.amount_max) {
        return invalid("initial_credits: must be between 0 and " + std::to_string(config.ledger.amount_max));
    }
    input.expires_at_ms =
        expires_at_ms.value_or(now_ms + config.beta.invitation_ttl_days * 24 * 3600 * 1000);
    if (*input.expires_at_ms <= now_ms) {
        return invalid("expires_at: must be in the future");
    }
    if (note.size() > kNoteBytesMax) {
        return invalid("note: at most " + std::to_string(kNoteBytesMax) + " bytes");
    }
    input.note = std::move(note);
    return input;
}

Result<std::vector<CsvRow>> ParseCsv(std::string_view text) {
    auto rows = SplitCsv(text, kImportRowsMax + 1);  // room for a header row
    if (!rows) {
        return rows.error();
    }
    if (!rows->empty() && !rows->front().fields.empty()) {
        std::string first = rows->front().fields[0];
        for (char& ch : first) {
            ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        }
        if (first == "email") {
            rows->erase(rows->begin());  // a header row
        }
    }
    if (rows->size() > kImportRowsMax) {
        return Error{ErrorCode::kInvalidArgument, "more than " + std::to_string(kImportRowsMax) + " rows"};
    }
    return rows;
}

Result<store::QueuedMail> Invitations::InvitationMail(const std::string& email, int64_t credits,
                                                      std::optional<int64_t> expires_at_ms) {
    auto mail = mail::Render("invitation", email,
                             {{"credits", std::to_string(credits)},
                              {"link", config_.server.public_url + "/signin"},
                              {"expires", expires_at_ms ? FormatRfc3339(*expires_at_ms) : "further notice"}});
    if (!mail) {
        return mail.error();
    }
    return store::QueuedMail{mail->template_name, mail->subject, mail->text_body, mail->html_body};
}

Result<store::InviteResult> Invitations::Create(std::string_view email, std::optional<int64_t> credits,
                                                std::optional<int64_t> expires_at_ms, std::string note,
                                                const std::string& inviter, const std::string& role) {
    if (role != "user" && role != "admin") {
        return Error{ErrorCode::kInvalidArgument, "role: must be user or admin"};
    }
    auto input = CheckInvitation(email, credits, expires_at_ms, std::move(note), config_, clock_.NowMs());
    if (!input) {
        return input.error();
    }
    auto mail = InvitationMail(input->email, input->initial_credits, input->expires_at_ms);
    if (!mail) {
        return mail.error();
    }
    return database_.CreateInvitation(
        {input->email, role, input->initial_credits, input->expires_at_ms, input->note, inviter}, *mail,
        config_.beta.cap);
}

Result<std::vector<Invitations::ImportRow>> Invitations::Import(std::string_view csv,
                                                                 const std::string& inviter) {
    auto rows = ParseCsv(csv);
    if (!rows) {
        return rows.error();
    }
    std::vector<ImportRow> report;
    for (const CsvRow& row : *rows) {
        ImportRow out{row.line, row.fields.empty() ? "" : row.fields[0], "invalid", std::nullopt, ""};
        auto field = [&](size_t index) { return index < row.fields.size() ? row.fields[index] : ""; };
        std::optional<int64_t> credits;
        std::optional<int64_t> expires_at_ms;
        if (row.fields.size() > 4) {
            out.error = "at most 4 fields: email, initial_credits, expires_at, note";
        } else if (!field(1).empty()) {
            try {
                size_t used = 0;
                credits = std::stoll(field(1), &used);
                if (used != field(1).size()) {
                    throw std::invalid_argument("trailing");
                }
            } catch (const std::exception&) {
                out.error = "initial_credits: not an integer";
            }
        }
        if (out.error.empty() && !field(2).empty()) {
            int64_t parsed = 0;
            if (ParseRfc3339(field(2), parsed)) {
                expires_at_ms = parsed;
            } else {
                out.error = "expires_at: not an RFC 3339 timestamp";
            }
        }
        if (out.error.empty()) {
            auto created = Create(field(0), credits, expires_at_ms, field(3), inviter);
            if (!created) {
                if (created.error().code != ErrorCode::kInvalidArgument) {
                    return created.error();  // storage failure: stop, the report would mislead
                }
                out.error = created.error().message;
            } else {
                static constexpr const char* kResults[] = {"created", "unchanged", "exists",
                                                           "already_enrolled", "beta_full"};
                out.result = kResults[static_cast<int>(created->outcome)];
                if (created->invitation) {
                    out.id = created->invitation->id;
                    out.email = created->invitation->email;
                }
            }
        }
        report.push_back(std::move(out));
    }
    return report;
}

Result<store::InvitationChange> Invitations::Resend(int64_t id, const std::string& actor) {
    auto invitation = database_.FindInvitation(id);
    if (!invitation) {
        return invitation.error();
    }
    if (!*invitation) {
        return store::InvitationChange::kNotFound;
    }
    auto mail = InvitationMail((*invitation)->email, (*invitation)->initial_credits,
                               (*invitation)->expires_at_ms);
    if (!mail) {
        return mail.error();
    }
    return database_.ResendInvitation(id, *mail, kResendIntervalMs, actor);
}

}  // namespace beta500::identity
