#include <algorithm>
#include <array>

#include "mail/mail.h"

namespace beta500::mail {
namespace {

struct Template {
    const char* name;
    const char* subject;
    const char* text;
    const char* html;
};

// Each template: subject, text part and HTML part, with {{variables}}.
constexpr std::array<Template, 5> kTemplates = {{
    {"invitation", "You are invited to the Beta 500 beta",
     "Hello,\n\nYou are invited to the Beta 500 beta, with {{credits}} credits to start.\n"
     "Sign in with this address here: {{link}}\n\nThe invitation is valid until {{expires}}.\n",
     "<p>Hello,</p><p>You are invited to the Beta 500 beta, with {{credits}} credits to "
     "start.</p><p><a href=\"{{link}}\">Sign in</a> with this address.</p><p>The invitation is "
     "valid until {{expires}}.</p>"},
    {"magic_link", "Your Beta 500 sign-in link",
     "Hello,\n\nUse this link to sign in to Beta 500: {{link}}\n\nIt works once and expires in "
     "{{minutes}} minutes. If you did not ask for it, ignore this mail.\n",
     "<p>Hello,</p><p><a href=\"{{link}}\">Sign in to Beta 500</a>.</p><p>The link works once "
     "and expires in {{minutes}} minutes. If you did not ask for it, ignore this mail.</p>"},
    {"verification", "Confirm your email address for Beta 500",
     "Hello,\n\nConfirm your address for Beta 500: {{link}}\n\nThe link expires in 24 hours.\n",
     "<p>Hello,</p><p><a href=\"{{link}}\">Confirm your address</a> for Beta 500.</p><p>The "
     "link expires in 24 hours.</p>"},
    {"low_credit", "Your Beta 500 credits are running low",
     "Hello,\n\nYou have {{available}} credits left ({{percent}} % of your allocation).\n"
     "Ask for more here: {{link}}\n",
     "<p>Hello,</p><p>You have {{available}} credits left ({{percent}} % of your "
     "allocation).</p><p><a href=\"{{link}}\">Ask for more credits</a>.</p>"},
    {"test", "Beta 500 test mail",
     "This is a test mail from Beta 500, sent at {{sent_at}}.\n",
     "<p>This is a test mail from Beta 500, sent at {{sent_at}}.</p>"},
}};


Result<std::string> Fill(std::string_view text, const std::map<std::string, std::string>& variables,
                         bool html) {
    std::string out;
    size_t at = 0;
    while (at < text.size()) {
        const size_t open = text.find("{{", at);
        if (open == std::string_view::npos) {
            out += text.substr(at);
            break;
        }
        const size_t close = text.find("}}", open);
        out += text.substr(at, open - at);
        const std::string name(text.substr(open + 2, close - open - 2));
        const auto found = variables.find(name);
        if (found == variables.end()) {
            return Error{ErrorCode::kInvalidArgument, "template variable " + name + " is missing"};
        }
        out += html ? EscapeHtml(found->second) : found->second;
        at = close + 2;
    }
    return out;
}

}  // namespace

std::string EscapeHtml(std::string_view text) {
    std::string out;
    for (char ch : text) {
        switch (ch) {
            case '&': out += "&amp;"; break;
            case '<': out += "&lt;"; break;
            case '>': out += "&gt;"; break;
            case '"': out += "&quot;"; break;
            case '\'': out += "&#39;"; break;
            default: out.push_back(ch);
        }
    }
    return out;
}

bool ValidAddress(std::string_view address) {
    constexpr size_t kAddressBytesMax = 254;  // RFC 5321 path limit less the angle brackets
    const size_t at = address.find('@');
    if (address.size() > kAddressBytesMax || at == std::string_view::npos || at == 0 ||
        at + 1 >= address.size() || address.find('@', at + 1) != std::string_view::npos) {
        return false;
    }
    return std::all_of(address.begin(), address.end(), [](char ch) {
        return ch > 0x20 && ch < 0x7F && ch != '<' && ch != '>' && ch != '(' && ch != ')' &&
               ch != ',' && ch != ';' && ch != '"' && ch != '\\';
    });
}

Result<Mail> Render(const std::string& template_name, const std::string& to,
                    const std::map<std::string, std::string>& variables) {
    if (!ValidAddress(to)) {
        return Error{ErrorCode::kInvalidArgument, "not a valid email address"};
    }
    for (const Template& entry : kTemplates) {
        if (template_name != entry.name) {
            continue;
        }
        auto text = Fill(entry.text, variables, false);
        auto html = Fill(entry.html, variables, true);
        if (!text) {
            return text.error();
        }
        if (!html) {
            return html.error();
        }
        return Mail{to, template_name, entry.subject, std::move(*text),
                    "<!doctype html><html><body>" + *html + "</body></html>"};
    }
    return Error{ErrorCode::kInvalidArgument, "unknown mail template " + template_name};
}

}  // namespace beta500::mail
