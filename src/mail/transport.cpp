#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <cstring>
#include <ctime>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/log.h"
#include "mail/mail.h"

namespace beta500::mail {
namespace {

// CRLF line ends for SMTP; bare LF in a body becomes CRLF.
std::string Crlf(std::string_view text) {
    std::string out;
    out.reserve(text.size() + text.size() / 32);
    for (size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) {
            out += '\r';
        }
        out += text[i];
    }
    return out;
}

std::string RfcDate(int64_t now_ms) {
    const std::time_t seconds = static_cast<std::time_t>(now_ms / 1000);
    std::tm parts{};
    gmtime_r(&seconds, &parts);
    char buffer[64];
    std::strftime(buffer, sizeof buffer, "%a, %d %b %Y %H:%M:%S +0000", &parts);
    return buffer;
}

class LogTransport final : public Transport {
   public:
    Status Send(const Mail& mail) override {
        // Development only: the body holds sign-in links, which is the point of this transport.
        spdlog::info("msg=mail transport=log to={} template={} subject={} text={}",
                     LogQuote(mail.to), mail.template_name, LogQuote(mail.subject),
                     LogQuote(mail.text_body));
        return Status::Ok();
    }
};

class SmtpTransport final : public Transport {
   public:
    explicit SmtpTransport(Config::Mail config) : config_(std::move(config)) {}

    Status Send(const Mail& mail) override {
        const std::string message =
            FormatMessage(mail, config_.from, SystemClock().NowMs(),
                          RandomToken(16) + "@" + DomainOf(AddressOf(config_.from)));
        CURL* curl = curl_easy_init();
        if (curl == nullptr) {
            return Error{ErrorCode::kInternal, "curl_easy_init failed"};
        }
        struct Source {
            const std::string& text;
            size_t offset = 0;
        } source{message};
        const std::string from = "<" + AddressOf(config_.from) + ">";
        curl_slist* recipients = curl_slist_append(nullptr, ("<" + mail.to + ">").c_str());
        curl_easy_setopt(curl, CURLOPT_URL, config_.smtp_url.c_str());
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, static_cast<long>(config_.timeout_seconds));
        curl_easy_setopt(curl, CURLOPT_TIMEOUT, static_cast<long>(config_.timeout_seconds));
        curl_easy_setopt(curl, CURLOPT_USE_SSL, config_.smtp_starttls == "required" ? CURLUSESSL_ALL
                                                : config_.smtp_starttls == "try"    ? CURLUSESSL_TRY
                                                                                    : CURLUSESSL_NONE);
        if (!config_.smtp_username.empty()) {
            curl_easy_setopt(curl, CURLOPT_USERNAME, config_.smtp_username.c_str());
            curl_easy_setopt(curl, CURLOPT_PASSWORD, config_.smtp_password.c_str());
        }
        curl_easy_setopt(curl, CURLOPT_MAIL_FROM, from.c_str());
        curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, recipients);
        curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(curl, CURLOPT_READDATA, &source);
        curl_easy_setopt(curl, CURLOPT_READFUNCTION,
                         +[](char* buffer, size_t size, size_t count, void* data) -> size_t {
                             auto* from_source = static_cast<Source*>(data);
                             const size_t n = std::min(size * count,
                                                       from_source->text.size() - from_source->offset);
                             std::memcpy(buffer, from_source->text.data() + from_source->offset, n);
                             from_source->offset += n;
                             return n;
                         });
        char error_buffer[CURL_ERROR_SIZE] = {};
        curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
        const CURLcode code = curl_easy_perform(curl);
        curl_slist_free_all(recipients);
        curl_easy_cleanup(curl);
        if (code != CURLE_OK) {
            // curl's messages name the host and the SMTP reply, never the credentials.
            return Error{ErrorCode::kUnavailable,
                         std::string(curl_easy_strerror(code)) + (error_buffer[0] ? ": " : "") + error_buffer};
        }
        return Status::Ok();
    }

   private:
    static std::string DomainOf(const std::string& address) {
        const auto at = address.find('@');
        return at == std::string::npos ? "localhost" : address.substr(at + 1);
    }

    const Config::Mail config_;
};

}  // namespace

std::string AddressOf(const std::string& mailbox) {
    const auto open = mailbox.rfind('<');
    const auto close = mailbox.rfind('>');
    if (open != std::string::npos && close != std::string::npos && close > open) {
        return mailbox.substr(open + 1, close - open - 1);
    }
    return mailbox;
}

std::string FormatMessage(const Mail& mail, const std::string& from, int64_t now_ms,
                          const std::string& message_id) {
    const std::string boundary = "=_beta500_" + message_id.substr(0, message_id.find('@'));
    std::string out;
    out += "Date: " + RfcDate(now_ms) + "\r\n";
    out += "From: " + from + "\r\n";
    out += "To: <" + mail.to + ">\r\n";
    out += "Subject: " + mail.subject + "\r\n";
    out += "Message-ID: <" + message_id + ">\r\n";
    out += "MIME-Version: 1.0\r\n";
    out += "Content-Type: multipart/alternative; boundary=\"" + boundary + "\"\r\n\r\n";
    out += "--" + boundary + "\r\nContent-Type: text/plain; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\n" + Crlf(mail.text_body) + "\r\n";
    out += "--" + boundary + "\r\nContent-Type: text/html; charset=utf-8\r\n"
           "Content-Transfer-Encoding: 8bit\r\n\r\n" + Crlf(mail.html_body) + "\r\n";
    out += "--" + boundary + "--\r\n";
    return out;
}

void GlobalInit() { curl_global_init(CURL_GLOBAL_DEFAULT); }

std::unique_ptr<Transport> MakeTransport(const Config::Mail& config) {
    if (config.transport == "smtp") {
        return std::make_unique<SmtpTransport>(config);
    }
    return std::make_unique<LogTransport>();
}

int64_t BackoffSeconds(int64_t attempts, int64_t base_seconds, int64_t max_seconds) {
    int64_t wait = base_seconds;
    for (int64_t i = 1; i < attempts && wait < max_seconds; ++i) {
        wait *= 2;
    }
    return std::min(wait, max_seconds);
}

}  // namespace beta500::mail
