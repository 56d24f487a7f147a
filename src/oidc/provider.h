// The OpenID Connect relying party: one Provider per configured issuer. It reads the provider's
// discovery document, builds the authorization request (code flow, PKCE S256, state, nonce),
// redeems the code at the token endpoint and verifies the ID token against the provider's keys
// (cached; refetched when they age, or at once for an unknown kid, rate-limited).
// Outbound HTTP goes through HttpClient (libcurl: timeouts, size limit, no redirects, https
// except to loopback). Blocking: call from worker threads. Thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/config.h"
#include "core/result.h"
#include "oidc/jwt.h"

namespace beta500::oidc {

struct HttpReply {
    long status = 0;
    std::string body;
};

class HttpClient {
   public:
    virtual ~HttpClient() = default;
    virtual Result<HttpReply> Get(const std::string& url) = 0;
    // POSTs an application/x-www-form-urlencoded body with HTTP Basic client authentication.
    virtual Result<HttpReply> PostForm(const std::string& url, const std::string& body,
                                       const std::string& user, const std::string& password) = 0;
};

// A response larger than this is refused.
inline constexpr size_t kResponseBytesMax = 1 << 20;

std::unique_ptr<HttpClient> MakeCurlClient(int64_t timeout_seconds);

// https://, or http:// to a loopback host (development and tests).
bool AllowedUrl(const std::string& url);
// application/x-www-form-urlencoded: every byte but the unreserved ones percent-encoded.
std::string FormEncode(std::string_view text);

// What a sign-in needs to remember between the redirect and the callback.
struct LoginSecrets {
    std::string state;
    std::string nonce;
    std::string code_verifier;
};
LoginSecrets NewLoginSecrets();

class Provider {
   public:
    // Borrows `http` and `clock`.
    Provider(Config::OidcProvider config, const Config::Oidc& settings, std::string redirect_uri,
             HttpClient& http, const Clock& clock);

    const Config::OidcProvider& config() const { return config_; }
    const std::string& redirect_uri() const { return redirect_uri_; }

    // The provider's authorization URL for this sign-in.
    Result<std::string> AuthorizationUrl(const LoginSecrets& secrets);
    // Redeems the code (with the PKCE verifier) and verifies the ID token it brings.
    // kInvalidArgument: the provider refused the code or the token failed a check (the message
    // says which, for the log); kUnavailable: the provider could not be reached.
    Result<Claims> Redeem(const std::string& code, const LoginSecrets& secrets);

   private:
    struct Metadata {
        std::string authorization_endpoint;
        std::string token_endpoint;
        std::string jwks_uri;
        int64_t fetched_at_ms = 0;
    };
    Result<Metadata> Discover();
    // The current keys; `unknown_kid` refetches them unless that happened within the refetch
    // interval.
    Result<std::shared_ptr<const KeySet>> Keys(const Metadata& metadata, bool unknown_kid);

    const Config::OidcProvider config_;
    const Config::Oidc settings_;
    const std::string redirect_uri_;
    HttpClient& http_;
    const Clock& clock_;

    // After a failed discovery, callers are answered at once for this long.
    static constexpr int64_t kFailureBackoffMs = 5000;

    mutable std::mutex mutex_;
    std::optional<Metadata> metadata_;          // GUARDED_BY(mutex_)
    int64_t discovery_failed_until_ms_ = 0;     // GUARDED_BY(mutex_)
    std::shared_ptr<const KeySet> keys_;        // GUARDED_BY(mutex_)
    int64_t keys_fetched_at_ms_ = 0;            // GUARDED_BY(mutex_)
};

// The configured providers, by name.
class Providers {
   public:
    Providers(const Config& config, HttpClient& http, const Clock& clock);
    Provider* Find(std::string_view name);
    const std::vector<std::unique_ptr<Provider>>& all() const { return providers_; }

   private:
    std::vector<std::unique_ptr<Provider>> providers_;
};

}  // namespace beta500::oidc
