#include "oidc/provider.h"

#include <curl/curl.h>

#include <boost/json.hpp>

#include "core/crypto.h"

namespace beta500::oidc {
namespace json = boost::json;
namespace {

constexpr size_t kSecretBytes = 32;

class CurlClient final : public HttpClient {
   public:
    explicit CurlClient(int64_t timeout_seconds) : timeout_seconds_(timeout_seconds) {}

    Result<HttpReply> Get(const std::string& url) override { return Perform(url, nullptr, "", ""); }

    Result<HttpReply> PostForm(const std::string& url, const std::string& body, const std::string& user,
                               const std::string& password) override {
        return Perform(url, &body, user, password);
    }

   private:
    Result<HttpReply> Perform(const std::string& url, const std::string* body, const std::string& user,
                              const std::string& password) {
        if (!AllowedUrl(url)) {
            return Error{ErrorCode::kInvalidArgument, "refused a provider URL that is not https"};
        }
        CURL* curl = curl_easy_init();
        if (curl == nullptr) {
            return Error{ErrorCode::kInternal, "curl_easy_init failed"};
        }
        HttpReply reply;
        bool too_large = false;
        struct Sink {
            HttpReply& reply;
            bool& too_large;
        } sink{reply, too_large};
        curl_slist* headers = curl_slist_append(nullptr, "Accept: application/json");
        curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
        curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
        curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, static_cast<long>(timeout_seconds_));
        curl_easy_setopt(curl, CURLOPT_TIMEOUT, static_cast<long>(timeout_seconds_));
        curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
        if (body != nullptr) {
            curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->c_str());
            curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body->size()));
            // RFC 6749 section 2.3.1: the credentials are form-encoded before Basic encodes them.
            const std::string encoded_user = FormEncode(user);
            const std::string encoded_password = FormEncode(password);
            curl_easy_setopt(curl, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
            curl_easy_setopt(curl, CURLOPT_USERNAME, encoded_user.c_str());
            curl_easy_setopt(curl, CURLOPT_PASSWORD, encoded_password.c_str());
        }
        curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
        curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION,
                         +[](char* data, size_t size, size_t count, void* user_data) -> size_t {
                             auto* to = static_cast<Sink*>(user_data);
                             if (to->reply.body.size() + size * count > kResponseBytesMax) {
                                 to->too_large = true;
                                 return 0;  // aborts the transfer
                             }
                             to->reply.body.append(data, size * count);
                             return size * count;
                         });
        const CURLcode code = curl_easy_perform(curl);
        curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &reply.status);
        curl_slist_free_all(headers);
        curl_easy_cleanup(curl);
        if (too_large) {
            return Error{ErrorCode::kUnavailable, "the provider's response is too large"};
        }
        if (code != CURLE_OK) {
            return Error{ErrorCode::kUnavailable, std::string("provider unreachable: ") + curl_easy_strerror(code)};
        }
        return reply;
    }

    const int64_t timeout_seconds_;
};

std::optional<std::string> StringMember(const json::value& document, std::string_view name) {
    const auto* value = document.is_object() ? document.as_object().if_contains(name) : nullptr;
    if (value == nullptr || !value->is_string()) {
        return std::nullopt;
    }
    return std::string(value->as_string());
}

}  // namespace

bool AllowedUrl(const std::string& url) {
    if (url.rfind("https://", 0) == 0) {
        return true;
    }
    if (url.rfind("http://", 0) != 0) {
        return false;
    }
    // Plain http only to a loopback host: the authority up to the path, with no user info.
    std::string_view authority(url);
    authority.remove_prefix(7);
    authority = authority.substr(0, authority.find_first_of("/?#"));
    if (authority.find('@') != std::string_view::npos) {
        return false;
    }
    if (authority.rfind("[::1]", 0) == 0) {
        return authority.size() == 5 || authority[5] == ':';
    }
    const std::string_view host = authority.substr(0, authority.rfind(':'));
    if (host == "localhost") {
        return true;
    }
    // 127.a.b.c with four numeric parts.
    int parts = 0;
    size_t start = 0;
    while (start <= host.size()) {
        const size_t dot = host.find('.', start);
        const std::string_view part = host.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
        if (part.empty() || part.size() > 3 || part.find_first_not_of("0123456789") != std::string_view::npos) {
            return false;
        }
        if (parts == 0 && part != "127") {
            return false;
        }
        ++parts;
        if (dot == std::string_view::npos) {
            break;
        }
        start = dot + 1;
    }
    return parts == 4;
}

std::string FormEncode(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char ch : text) {
        if (std::isalnum(ch) || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
            out.push_back(static_cast<char>(ch));
        } else {
            out.push_back('%');
            out.push_back(kHex[ch >> 4]);
            out.push_back(kHex[ch & 0xF]);
        }
    }
    return out;
}

std::unique_ptr<HttpClient> MakeCurlClient(int64_t timeout_seconds) {
    return std::make_unique<CurlClient>(timeout_seconds);
}

LoginSecrets NewLoginSecrets() {
    return {RandomToken(kSecretBytes), RandomToken(kSecretBytes), RandomToken(kSecretBytes)};
}

Provider::Provider(Config::OidcProvider config, const Config::Oidc& settings, std::string redirect_uri,
                   HttpClient& http, const Clock& clock)
    : config_(std::move(config)),
      settings_(settings),
      redirect_uri_(std::move(redirect_uri)),
      http_(http),
      clock_(clock) {}

Result<Provider::Metadata> Provider::Discover() {
    const int64_t now_ms = clock_.NowMs();
    {
        // The fetch runs without the lock: a slow provider must not hold every caller.
        std::lock_guard lock(mutex_);
        if (metadata_ && now_ms - metadata_->fetched_at_ms < settings_.jwks_max_age_seconds * 1000) {
            return *metadata_;
        }
        if (now_ms < discovery_failed_until_ms_) {
            return Error{ErrorCode::kUnavailable, "the provider's discovery failed a moment ago"};
        }
    }
    std::string url = config_.issuer;
    if (url.ends_with('/')) {
        url.pop_back();
    }
    auto reply = http_.Get(url + "/.well-known/openid-configuration");
    if (!reply) {
        std::lock_guard lock(mutex_);
        discovery_failed_until_ms_ = now_ms + kFailureBackoffMs;
        return reply.error();
    }
    boost::system::error_code error;
    const json::value document = json::parse(reply->body, error);
    Metadata metadata;
    metadata.authorization_endpoint = StringMember(document, "authorization_endpoint").value_or("");
    metadata.token_endpoint = StringMember(document, "token_endpoint").value_or("");
    metadata.jwks_uri = StringMember(document, "jwks_uri").value_or("");
    metadata.fetched_at_ms = now_ms;
    // OpenID Connect Discovery 4.3: the document must name exactly the issuer it was fetched for.
    std::lock_guard lock(mutex_);
    if (reply->status != 200 || error || StringMember(document, "issuer") != config_.issuer ||
        !AllowedUrl(metadata.authorization_endpoint) || !AllowedUrl(metadata.token_endpoint) ||
        !AllowedUrl(metadata.jwks_uri)) {
        discovery_failed_until_ms_ = now_ms + kFailureBackoffMs;
        return Error{ErrorCode::kUnavailable, "the provider's discovery document is unusable"};
    }
    metadata_ = metadata;
    return metadata;
}

Result<std::shared_ptr<const KeySet>> Provider::Keys(const Metadata& metadata, bool unknown_kid) {
    const int64_t now_ms = clock_.NowMs();
    {
        std::lock_guard lock(mutex_);
        const int64_t age_ms = now_ms - keys_fetched_at_ms_;
        const bool stale = keys_ == nullptr || age_ms >= settings_.jwks_max_age_seconds * 1000;
        const bool may_refetch = age_ms >= settings_.jwks_refetch_seconds * 1000;
        if (!stale && !(unknown_kid && may_refetch)) {
            return keys_;
        }
        // Claimed before the fetch (which runs without the lock): one refetch per interval.
        keys_fetched_at_ms_ = now_ms;
    }
    auto reply = http_.Get(metadata.jwks_uri);
    if (!reply || reply->status != 200) {
        return Error{ErrorCode::kUnavailable, "the provider's keys could not be fetched"};
    }
    auto parsed = KeySet::Parse(reply->body);
    if (!parsed) {
        return Error{ErrorCode::kUnavailable, parsed.error().message};
    }
    std::lock_guard lock(mutex_);
    keys_ = std::make_shared<const KeySet>(std::move(*parsed));
    return keys_;
}

Result<std::string> Provider::AuthorizationUrl(const LoginSecrets& secrets) {
    auto metadata = Discover();
    if (!metadata) {
        return metadata.error();
    }
    const std::string& endpoint = metadata->authorization_endpoint;
    return endpoint + (endpoint.find('?') == std::string::npos ? "?" : "&") +
           "response_type=code&client_id=" + FormEncode(config_.client_id) +
           "&redirect_uri=" + FormEncode(redirect_uri_) + "&scope=" + FormEncode(config_.scopes) +
           "&state=" + secrets.state + "&nonce=" + secrets.nonce +
           "&code_challenge=" + Base64UrlEncode(Sha256(secrets.code_verifier)) +
           "&code_challenge_method=S256";
}

Result<Claims> Provider::Redeem(const std::string& code, const LoginSecrets& secrets) {
    auto metadata = Discover();
    if (!metadata) {
        return metadata.error();
    }
    auto reply = http_.PostForm(metadata->token_endpoint,
                                "grant_type=authorization_code&code=" + FormEncode(code) +
                                    "&redirect_uri=" + FormEncode(redirect_uri_) +
                                    "&code_verifier=" + secrets.code_verifier,
                                config_.client_id, config_.client_secret);
    if (!reply) {
        return reply.error();
    }
    boost::system::error_code error;
    const json::value document = json::parse(reply->body, error);
    if (reply->status >= 500) {
        return Error{ErrorCode::kUnavailable, "the token endpoint failed with " + std::to_string(reply->status)};
    }
    const auto id_token = StringMember(document, "id_token");
    if (reply->status != 200 || error || !id_token) {
        // invalid_grant: a replayed or foreign code, or a PKCE verifier that does not match.
        return Error{ErrorCode::kInvalidArgument,
                     "the provider refused the code: " + StringMember(document, "error").value_or("no id_token")};
    }
    const Expectations expect{config_.issuer, config_.client_id, secrets.nonce, clock_.NowMs() / 1000,
                              settings_.clock_skew_seconds, settings_.token_max_age_seconds};
    bool refetched = false;
    while (true) {
        auto keys = Keys(*metadata, refetched);
        if (!keys) {
            return keys.error();
        }
        Verdict verdict = Verify(*id_token, **keys, expect);
        if (verdict.refusal == Refusal::kUnknownKey && !refetched) {
            refetched = true;  // the provider may have rotated its keys: look once more
            continue;
        }
        if (verdict.refusal != Refusal::kNone) {
            return Error{ErrorCode::kInvalidArgument, "ID token refused: " + verdict.reason};
        }
        return verdict.claims;
    }
}

Providers::Providers(const Config& config, HttpClient& http, const Clock& clock) {
    for (const auto& provider : config.oidc.providers) {
        providers_.push_back(std::make_unique<Provider>(
            provider, config.oidc,
            config.server.public_url + "/api/v1/auth/oidc/" + provider.name + "/callback", http, clock));
    }
}

Provider* Providers::Find(std::string_view name) {
    for (auto& provider : providers_) {
        if (provider->config().name == name) {
            return provider.get();
        }
    }
    return nullptr;
}

}  // namespace beta500::oidc
