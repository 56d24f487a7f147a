// WebRoutes: the routes a person's browser uses: magic-link sign-in (with enrollment on first
// sign-in), the session cookie, CSRF and Origin checks on cookie-authenticated mutations,
// sign-out, and /me. Handlers run on the blocking pool (the static pages and the link's button
// page answer at once, on the network thread); enrollment goes through the ledger writer.
// Thread-safe after Register.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "api/api.h"
#include "http/message.h"

namespace beta500::api {

class WebRoutes {
   public:
    explicit WebRoutes(Deps& deps);
    void Register(http::Router& router);

    // The session cookie's name: "__Host-b5_session" (with Secure) when the public URL is https,
    // "b5_session" without Secure for http:// development.
    std::string CookieName() const;

   private:
    // The web session the request's cookie names, if it is live (blocking).
    Result<std::optional<store::WebSession>> SessionOf(const http::HttpRequest& request);
    using Handler = void (WebRoutes::*)(const store::WebSession&, http::HttpRequest&&, http::Respond);
    // A route for a signed-in person; `mutation` adds the CSRF token and Origin checks.
    void SignedIn(http::Router& router, const char* method, const char* pattern, bool mutation,
                  Handler handler);

    void RequestMagicLink(http::HttpRequest&& request, http::Respond respond);
    void RedeemMagicLink(http::HttpRequest&& request, http::Respond respond);
    // Creates the session and answers with its cookie; calls `fail` if it cannot.
    void StartSession(int64_t user_id, const std::function<void()>& fail, const http::Respond& respond);
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
    const std::string origin_;  // scheme://host[:port] of server.public_url
    std::vector<std::string> live_origins_;  // pages that may open a live session
    const bool secure_;
};

// The value of cookie `name` in a Cookie header, if present.
std::optional<std::string> CookieValue(std::string_view header, std::string_view name);

}  // namespace beta500::api
