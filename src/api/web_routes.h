// WebRoutes: the routes a person's browser uses: sign-in with a magic link or an OpenID provider
// (with enrollment on first sign-in), email verification, the session cookie, CSRF and Origin
// checks on cookie-authenticated mutations, sign-out, and /me. Handlers run on the blocking pool
// (the static pages and the links' button pages answer at once, on the network thread);
// enrollment goes through the ledger writer. web_routes.cpp holds the session and magic-link
// routes, oidc_routes.cpp the provider sign-in and verification. Thread-safe after Register.
#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <unordered_map>
#include <optional>
#include <string>
#include <vector>

#include "api/api.h"
#include "api/auth.h"
#include <boost/json.hpp>
#include "http/message.h"
#include "oidc/provider.h"

namespace beta500::api {

// Who is signing in, for the fraud rules: the peer's address and the browser's device cookie.
struct Client {
    std::string ip;
    std::string device;  // empty when the browser has no device cookie yet
};

class WebRoutes {
   public:
    explicit WebRoutes(Deps& deps);
    ~WebRoutes();
    void Register(http::Router& router);

   private:
    using Handler = void (WebRoutes::*)(const store::WebSession&, http::HttpRequest&&, http::Respond);
    // A route for a signed-in person; `mutation` adds the CSRF token and Origin checks.
    void SignedIn(http::Router& router, const char* method, const char* pattern, bool mutation,
                  Handler handler);

    void RequestMagicLink(http::HttpRequest&& request, http::Respond respond);
    void RedeemMagicLink(http::HttpRequest&& request, http::Respond respond);
    // Signs in the person with this proven address (and provider identity, if any): an
    // existing user, or an enrollment through the ledger writer; answers with the session
    // cookie and a redirect to `return_to`, or a page saying why not. Calls `fail` on our errors.
    // `display_name` (a provider's `name`) names a new user, or one without a name.
    void SignIn(const Client& client, const std::string& email, std::optional<ledger::Identity> identity,
                std::function<void()> fail, http::Respond respond, std::string return_to = "/",
                std::string display_name = "");
    // Checks the fraud rules for a sign-in, creates the session and answers with its cookie (and
    // a device cookie if the browser has none); calls `fail` if it cannot.
    void StartSession(const Client& client, int64_t user_id, const std::function<void()>& fail,
                      const http::Respond& respond, const std::string& return_to = "/");
    Client ClientOf(const http::HttpRequest& request) const;
    std::string DeviceCookieName() const;
    // A failed sign-in or token redemption, for the fraud rules.
    void Failed(const http::HttpRequest& request);
    void SignInPage(http::HttpRequest&& request, http::Respond respond);

    // OpenID Connect (oidc_routes.cpp).
    void OidcLogin(http::HttpRequest&& request, http::Respond respond);
    void OidcCallback(http::HttpRequest&& request, http::Respond respond);
    // After the provider vouched for the identity: sign in or enroll, or ask to verify the address.
    void OidcSignIn(const Client& client, const oidc::Claims& claims, const std::string& issuer,
                    const std::string& return_to, http::Respond respond);
    std::string LoginCookieName() const;
    std::string VerifyCookieName() const;
    // Email verification: a new address for a signed-in user, and the mailed link's redemption.
    void ChangeEmail(const store::WebSession& session, http::HttpRequest&& request, http::Respond respond);
    void RedeemVerification(http::HttpRequest&& request, http::Respond respond);
    // Catalog features (ai_routes.cpp).
    void Charge(const store::WebSession& session, const http::HttpRequest& request, int64_t amount,
                const char* feature, const std::string& what, boost::json::object body, http::Respond respond);
    void Search(const store::WebSession& session, http::HttpRequest&& request, http::Respond respond);
    void Suggest(const store::WebSession& session, http::HttpRequest&& request, http::Respond respond);
    void RecordHistory(const store::WebSession& session, http::HttpRequest&& request, http::Respond respond);
    void MyHistory(const store::WebSession& session, http::HttpRequest&& request, http::Respond respond);
    void Recommendations(const store::WebSession& session, http::HttpRequest&& request, http::Respond respond);
    void RefreshRecommendations(const store::WebSession& session, http::HttpRequest&& request,
                                http::Respond respond);
    void TitleDetail(const store::WebSession& session, http::HttpRequest&& request, http::Respond respond);
    // The title, or nothing with the answer (404, 503) already given.
    std::optional<catalog::Title> TitleOr404(std::optional<int64_t> id, const http::HttpRequest& request,
                                             const http::Respond& respond);

    // Mailed single-use tokens (sign-in links and verification links): MailToken stores the
    // token's hash with its binding and queues the mail whose link is public_url + path +
    // ?token=; RedeemMailedToken spends the token a link's button POSTed (Origin checked) and
    // calls `redeemed` with it and a `fail` that gives it back and answers 503.
    void MailToken(const std::string& email, const char* purpose, const char* template_name, const char* path,
                   int64_t ttl_ms, std::map<std::string, std::string> variables,
                   const store::TokenBinding& binding = {});
    void RedeemMailedToken(const http::HttpRequest& request, const char* purpose, const http::Respond& respond,
                           const std::function<void(const store::RedeemedToken&, std::function<void()>)>& redeemed);
    void Me(const store::WebSession& session, http::HttpRequest&& request, http::Respond respond);
    void MyCredits(const store::WebSession& session, http::HttpRequest&& request, http::Respond respond);
    void MyTransactions(const store::WebSession& session, http::HttpRequest&& request,
                        http::Respond respond);
    void SignOut(const store::WebSession& session, http::HttpRequest&& request, http::Respond respond);
    void MyEvents(const store::WebSession& session, http::HttpRequest&& request, http::Respond respond);
    // The live-dubbing WebSocket: a session cookie from an allowed Origin, or a service token
    // naming the user. Refusals after the upgrade are close codes (docs/websocket.md).
    void LiveDubbing(http::HttpRequest&& request, http::Respond respond);

    Deps& deps_;
    const CookieSessions sessions_;
    std::unique_ptr<oidc::HttpClient> http_client_;
    std::unique_ptr<oidc::Providers> providers_;
    std::vector<std::string> live_origins_;  // pages that may open a live session
    // Each person's last recommendations (as answered), read for free until they refresh.
};

// Helpers shared by web_routes.cpp and oidc_routes.cpp.
namespace web {
// A server-rendered page with a title and a paragraph (both trusted text).
http::HttpResponse Page(int status, const std::string& title, const std::string& text);
// 503 problem with Retry-After.
http::HttpResponse Unavailable(const http::HttpRequest& request);
// The `token` field of a form body, if it is base64url of at most 64 characters.
std::optional<std::string> FormToken(std::string_view body);
// The page a mailed link opens: one button that POSTs the token to `action` (so mail scanners
// that fetch links spend nothing, and other sites cannot redeem it).
http::HttpResponse ButtonPage(const std::string& title, const std::string& action,
                              const std::string& token, const std::string& label);
// 429 with Retry-After, as a problem (API) or a page (browser forms).
http::HttpResponse TooMany(const http::HttpRequest& request);
http::HttpResponse TooManyPage();
// A local path to return to after sign-in: "/..." but never "//" or "/\" (another site), else "/".
std::string SafeReturnPath(std::string_view path);
}  // namespace web

}  // namespace beta500::api
