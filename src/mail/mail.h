// Mail: the message type, its templates, and the transports that deliver it.
// Templates and message formatting are pure functions; transports are thread-compatible
// (one delivery at a time per object).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "core/config.h"
#include "core/result.h"

namespace beta500::mail {

struct Mail {
    std::string to;
    std::string template_name;
    std::string subject;
    std::string text_body;
    std::string html_body;
};

// Renders a named template ("invitation", "magic_link", "verification", "low_credit", "test")
// with `{{name}}` variables; values are HTML-escaped in the HTML part. Unknown template or a
// missing variable: kInvalidArgument.
Result<Mail> Render(const std::string& template_name, const std::string& to,
                    const std::map<std::string, std::string>& variables);

// A plausible single address: local@domain, printable, no spaces, CR or LF, at most 254 bytes.
bool ValidAddress(std::string_view address);

// The RFC 5322 message (multipart/alternative, UTF-8, CRLF line ends) for SMTP.
std::string FormatMessage(const Mail& mail, const std::string& from, int64_t now_ms,
                          const std::string& message_id);

// The bare address inside "Name <address>" (or the text itself).
std::string AddressOf(const std::string& mailbox);
// Text made safe inside HTML (& < > " ').
std::string EscapeHtml(std::string_view text);

class Transport {
   public:
    virtual ~Transport() = default;
    // Delivers one mail; an error's message says why (never containing credentials).
    virtual Status Send(const Mail& mail) = 0;
};

// Initializes libcurl once per process; call from main before any thread starts.
void GlobalInit();

// Builds the transport named by the configuration ("log" or "smtp").
std::unique_ptr<Transport> MakeTransport(const Config::Mail& config);

// The wait before retry number `attempts` (1-based): base * 2^(attempts-1), at most max.
int64_t BackoffSeconds(int64_t attempts, int64_t base_seconds, int64_t max_seconds);

}  // namespace beta500::mail
