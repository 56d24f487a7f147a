#include "api/web_routes.h"

#include <openssl/crypto.h>

#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <functional>

#include "api/input.h"
#include "api/views.h"
#include "core/crypto.h"
#include "core/log.h"
#include "identity/invitations.h"
#include "live/connection.h"
#include "mail/mail.h"

namespace beta500::api {
namespace json = boost::json;
using http::HttpRequest;
using http::HttpResponse;
using http::Respond;

namespace {

// Sign-in and session tokens carry 256 random bits; CSRF tokens 128.
constexpr size_t kTokenBytes = 32;
constexpr size_t kCsrfBytes = 16;
constexpr const char* kMagicLinkPurpose = "magic_link";

}  // namespace

namespace web {

std::optional<std::string> FormToken(std::string_view body) {
    constexpr std::string_view kField = "token=";
    const auto at = body.find(kField);
    if (at == std::string_view::npos || (at > 0 && body[at - 1] != '&')) {
        return std::nullopt;
    }
    std::string_view value = body.substr(at + kField.size());
    value = value.substr(0, value.find('&'));
    if (value.empty() || value.size() > 2 * kTokenBytes) {
        return std::nullopt;
    }
    for (char ch : value) {
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_') {
            return std::nullopt;
        }
    }
    return std::string(value);
}

HttpResponse Page(int status, const std::string& title, const std::string& text) {
    return HttpResponse{status, "text/html; charset=utf-8",
                        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" +
                            title + "</title></head><body><h1>" + title + "</h1><p>" + text +
                            "</p><p><a href=\"/\">Beta 500</a></p></body></html>",
                        {}};
}

HttpResponse ButtonPage(const std::string& title, const std::string& action, const std::string& token,
                        const std::string& label) {
    return HttpResponse{200, "text/html; charset=utf-8",
                        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>" + title +
                            "</title></head><body><h1>" + title + "</h1><form method=\"post\" action=\"" +
                            action + "\"><input type=\"hidden\" name=\"token\" value=\"" + token +
                            "\"><button type=\"submit\">" + label + "</button></form></body></html>",
                        {}};
}

HttpResponse Unavailable(const HttpRequest& request) {
    auto response = http::ProblemResponse(
        {503, "unavailable", "the service is unavailable; retry shortly"}, &request);
    response.headers.emplace_back("Retry-After", "1");
    return response;
}

HttpResponse TooMany(const HttpRequest& request) {
    auto response = http::ProblemResponse({429, "too_many_requests", "too many attempts; try again later"}, &request);
    response.headers.emplace_back("Retry-After", "60");
    return response;
}

HttpResponse TooManyPage() {
    HttpResponse response = Page(429, "Too many attempts", "Wait a while, then try again.");
    response.headers.emplace_back("Retry-After", "60");
    return response;
}

std::string SafeReturnPath(std::string_view path) {
    constexpr size_t kPathBytesMax = 512;
    const bool local = path.size() <= kPathBytesMax && path.starts_with('/') && !path.starts_with("//") &&
                       path.find('\\') == std::string_view::npos &&
                       std::none_of(path.begin(), path.end(), [](char ch) {
                           return static_cast<unsigned char>(ch) < 0x21 || ch == 0x7f;
                       });
    return local ? std::string(path) : "/";
}

}  // namespace web

using namespace web;

WebRoutes::WebRoutes(Deps& deps) : deps_(deps), sessions_(deps.config, deps.database) {
    std::string_view list = deps.config.session.allowed_origins;
    while (!list.empty()) {
        const size_t comma = list.find(',');
        std::string item(list.substr(0, comma));
        std::erase_if(item, [](char ch) { return ch == ' '; });
        if (!item.empty()) {
            live_origins_.push_back(OriginOf(item));
        }
        list.remove_prefix(comma == std::string_view::npos ? list.size() : comma + 1);
    }
    if (live_origins_.empty()) {
        live_origins_.push_back(sessions_.origin());
    }
    http_client_ = oidc::MakeCurlClient(deps.config.oidc.http_timeout_seconds);
    providers_ = std::make_unique<oidc::Providers>(deps.config, *http_client_, deps.clock);
}

WebRoutes::~WebRoutes() = default;

// Server-rendered pages until the web app exists: sign-in, and a home page showing the balance.
constexpr const char* kSignInPage = R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in to Beta 500</title></head>
<body><main>
<h1>Sign in to Beta 500</h1>
%PROVIDERS%<form id="magic"><label for="email">Email address</label>
<input id="email" name="email" type="email" autocomplete="email" required>
<button type="submit">Email me a sign-in link</button></form>
<p id="status" role="status"></p>
</main><script>
document.getElementById("magic").addEventListener("submit", async (event) => {
  event.preventDefault();
  const response = await fetch("/api/v1/auth/magic-link", {method: "POST",
    headers: {"Content-Type": "application/json"},
    body: JSON.stringify({email: document.getElementById("email").value})});
  document.getElementById("status").textContent = response.ok
    ? "If this address may sign in, a link is on its way." : "Something went wrong; try again.";
});
</script></body></html>
)html";

constexpr const char* kHomePage = R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Beta 500</title></head>
<body><main>
<h1>Beta 500</h1>
<p id="who">Loading...</p>
<p>Credits available: <strong id="credits">-</strong></p>
<button id="signout" hidden>Sign out</button>
</main><script>
(async () => {
  const me = await fetch("/api/v1/me");
  if (me.status === 401) { location.href = "/signin"; return; }
  const user = await me.json();
  document.getElementById("who").textContent = "Signed in as " + user.email;
  const credits = await (await fetch("/api/v1/me/credits")).json();
  document.getElementById("credits").textContent = credits.available;
  const button = document.getElementById("signout");
  button.hidden = false;
  button.addEventListener("click", async () => {
    await fetch("/api/v1/auth/sign-out", {method: "POST", headers: {"X-CSRF-Token": user.csrf_token}});
    location.href = "/signin";
  });
})();
</script></body></html>
)html";

void WebRoutes::Register(http::Router& router) {
    router.Add("GET", "/", [](HttpRequest&&, Respond respond) {
        respond(HttpResponse{200, "text/html; charset=utf-8", kHomePage, {}});
    });
    router.Add("GET", "/signin", [this](HttpRequest&& request, Respond respond) {
        SignInPage(std::move(request), std::move(respond));
    });
    // Handlers that read or write the database run on the blocking pool.
    using Plain = void (WebRoutes::*)(HttpRequest&&, Respond);
    for (const auto& [method, pattern, handler] :
         {std::tuple<const char*, const char*, Plain>{"POST", "/api/v1/auth/magic-link", &WebRoutes::RequestMagicLink},
          {"POST", "/api/v1/auth/magic-link/callback", &WebRoutes::RedeemMagicLink},
          {"POST", "/api/v1/auth/verify-email", &WebRoutes::RedeemVerification},
          {"GET", "/api/v1/auth/oidc/{provider}/login", &WebRoutes::OidcLogin},
          {"GET", "/api/v1/auth/oidc/{provider}/callback", &WebRoutes::OidcCallback}}) {
        router.Add(method, pattern, [this, handler](HttpRequest&& request, Respond respond) {
            auto shared = std::make_shared<HttpRequest>(std::move(request));
            deps_.blocking.Post([this, handler, shared, respond = std::move(respond)] {
                (this->*handler)(std::move(*shared), respond);
            });
        });
    }
    // Opening a mailed link only shows a button that POSTs its token: mail scanners that fetch
    // links must not spend them, and a link opened from another site must not sign the browser
    // in (login CSRF).
    for (const auto& [path, title, label] :
         {std::tuple{"/api/v1/auth/magic-link/callback", "Sign in to Beta 500", "Sign in"},
          std::tuple{"/api/v1/auth/verify-email", "Confirm your email address", "Confirm"}}) {
        router.Add("GET", path, [path, title, label](HttpRequest&& request, Respond respond) {
            const auto token = request.query.find("token");
            const auto value = FormToken("token=" + (token == request.query.end() ? "" : token->second));
            respond(value ? ButtonPage(title, path, *value, label)
                          : Page(400, "This link does not work", "Ask for a new one."));
        });
    }
    SignedIn(router, "GET", "/api/v1/me", false, &WebRoutes::Me);
    SignedIn(router, "GET", "/api/v1/me/credits", false, &WebRoutes::MyCredits);
    SignedIn(router, "GET", "/api/v1/me/credits/transactions", false, &WebRoutes::MyTransactions);
    SignedIn(router, "POST", "/api/v1/auth/sign-out", true, &WebRoutes::SignOut);
    SignedIn(router, "GET", "/api/v1/me/events", false, &WebRoutes::MyEvents);
    SignedIn(router, "POST", "/api/v1/me/email", true, &WebRoutes::ChangeEmail);
    SignedIn(router, "POST", "/api/v1/search", true, &WebRoutes::Search);
    SignedIn(router, "GET", "/api/v1/search/suggest", false, &WebRoutes::Suggest);
    SignedIn(router, "POST", "/api/v1/me/history", true, &WebRoutes::RecordHistory);
    SignedIn(router, "GET", "/api/v1/me/history", false, &WebRoutes::MyHistory);
    SignedIn(router, "GET", "/api/v1/recommendations", false, &WebRoutes::Recommendations);
    SignedIn(router, "POST", "/api/v1/recommendations/refresh", true, &WebRoutes::RefreshRecommendations);
    SignedIn(router, "GET", "/api/v1/titles/{id}", false, &WebRoutes::TitleDetail);
    router.Add("GET", "/api/v1/live/dubbing", [this](HttpRequest&& request, Respond respond) {
        LiveDubbing(std::move(request), std::move(respond));
    });
    router.Add("GET", "/api/v1/live/languages", [this](HttpRequest&& request, Respond respond) {
        if (!deps_.dubbing) {
            respond(Unavailable(request));
            return;
        }
        json::array pairs;
        for (const auto& pair : deps_.dubbing->languages()) {
            pairs.push_back(json::object{{"source", pair.source}, {"target", pair.target}, {"speech", pair.speech}});
        }
        json::array rates;
        for (const int rate : deps_.dubbing->output_rates()) {
            rates.push_back(rate);
        }
        respond(http::Json(200, json::serialize(json::object{{"engine", deps_.dubbing->name()},
                                               {"pairs", std::move(pairs)},
                                               {"output_rates", std::move(rates)}})));
    });
}

void WebRoutes::MyEvents(const store::WebSession& session, HttpRequest&& request, Respond respond) {
    if (!deps_.events) {
        respond(Unavailable(request));
        return;
    }
    auto balance = deps_.database.Balance(session.user.id);
    if (!balance) {
        respond(Unavailable(request));
        return;
    }
    HttpResponse response;
    response.stream = std::make_shared<live::BalanceStream>(
        *deps_.events, session.user.id,
        *balance ? live::BalanceEvent((*balance)->available, (*balance)->held, (*balance)->posted)
                 : live::BalanceEvent(0, 0, 0));
    response.stream_kind = http::StreamKind::kEventStream;
    respond(std::move(response));
}

void WebRoutes::LiveDubbing(HttpRequest&& request, Respond respond) {
    if (!deps_.live || !deps_.dubbing) {
        respond(Unavailable(request));
        return;
    }
    // Browsers always send Origin on a WebSocket: a page of another site is refused before the
    // upgrade, whatever credentials ride along.
    if (const auto origin = request.Header("origin");
        origin && std::find(live_origins_.begin(), live_origins_.end(), OriginOf(std::string(*origin))) ==
                      live_origins_.end()) {
        respond(http::ProblemResponse({403, "forbidden_origin", "this origin may not open live sessions"},
                                      &request));
        return;
    }
    // What the session asks of the dubbing engine; refused after the upgrade, before any check
    // that costs a database read, with a close reason naming the problem.
    live::StreamOptions options;
    auto param = [&](const char* name, std::string& out) {
        if (const auto found = request.query.find(name); found != request.query.end()) {
            out = found->second;
        }
    };
    param("source", options.source);
    param("target", options.target);
    std::string input = "speech";
    std::string rate = std::to_string(options.output_rate);
    param("input", input);
    param("output_rate", rate);
    options.speech = input != "text";
    const auto parsed_rate = ParseId(rate);
    options.output_rate = parsed_rate && *parsed_rate <= 192000 ? static_cast<int>(*parsed_rate) : 0;
    std::optional<std::string> unsupported = live::Unsupported(*deps_.dubbing, options);
    if (input != "speech" && input != "text") {
        unsupported = "unsupported_input";
    }
    if (unsupported) {
        HttpResponse response;
        response.stream = live::LiveConnection::Refused(*deps_.live, *deps_.dubbing, live::kCloseUnsupported,
                                                        *unsupported + "; see GET /api/v1/live/languages");
        respond(std::move(response));
        return;
    }
    auto shared = std::make_shared<HttpRequest>(std::move(request));
    deps_.blocking.Post([this, shared, options = std::move(options), respond = std::move(respond)] {
        const HttpRequest& req = *shared;
        auto refuse = [&](uint16_t code, const char* reason) {
            HttpResponse response;
            response.stream = live::LiveConnection::Refused(*deps_.live, *deps_.dubbing, code, reason);
            respond(std::move(response));
        };
        std::optional<store::User> user;
        constexpr std::string_view kBearer = "Bearer ";
        if (const auto authorization = req.Header("authorization")) {
            // A service acting for a user: its token, and the user by id.
            auto token = authorization->substr(0, kBearer.size()) == kBearer
                             ? deps_.database.FindApiToken(authorization->substr(kBearer.size()))
                             : Result<std::optional<store::ApiToken>>(std::nullopt);
            const auto user_param = req.query.find("user_id");
            const auto user_id = user_param == req.query.end() ? std::nullopt : ParseId(user_param->second);
            if (!token) {
                refuse(http::kCloseInternal, "unavailable; try again");
                return;
            }
            if (!*token || !user_id) {
                refuse(live::kCloseUnauthenticated, "unauthenticated");
                return;
            }
            auto found = deps_.database.FindUser(*user_id);
            if (!found) {
                refuse(http::kCloseInternal, "unavailable; try again");
                return;
            }
            if (!*found) {
                refuse(live::kCloseNotBetaUser, "not a beta user");
                return;
            }
            user = std::move(*found);
        } else {
            auto found = sessions_.Find(req);
            if (!found) {
                refuse(http::kCloseInternal, "unavailable; try again");
                return;
            }
            if (*found) {
                user = (*found)->user;
            }
            if (!user) {
                refuse(live::kCloseUnauthenticated, "unauthenticated");
                return;
            }
        }
        if (user->status != "active") {
            refuse(live::kCloseBlocked, "blocked");
            return;
        }
        if (!user->enrolled_at_ms) {
            refuse(live::kCloseNotBetaUser, "not a beta user");
            return;
        }
        if (deps_.fraud != nullptr) {
            const bool at_cap = deps_.live->AtCap(user->id);
            const fraud::Verdict verdict =
                at_cap ? deps_.fraud->OnCapRefused(user->id) : deps_.fraud->OnSessionStart(user->id);
            if (verdict.blocked) {
                refuse(live::kCloseBlocked, "fraud_blocked");
                return;
            }
        }
        HttpResponse response;
        response.stream = live::LiveConnection::ForUser(*deps_.live, *deps_.dubbing, user->id, options);
        respond(std::move(response));
    });
}

void WebRoutes::SignInPage(HttpRequest&&, Respond respond) {
    std::string buttons;
    for (const auto& provider : providers_->all()) {
        const std::string label = mail::EscapeHtml(
            provider->config().display_name.empty() ? provider->config().name : provider->config().display_name);
        buttons += "<p><a class=\"provider\" href=\"/api/v1/auth/oidc/" + provider->config().name +
                   "/login\">Sign in with " + label + "</a></p>\n";
    }
    std::string page = kSignInPage;
    page.replace(page.find("%PROVIDERS%"), 11, buttons);
    respond(HttpResponse{200, "text/html; charset=utf-8", std::move(page), {}});
}

void WebRoutes::SignedIn(http::Router& router, const char* method, const char* pattern, bool mutation,
                         Handler handler) {
    router.Add(method, pattern, [this, mutation, handler](HttpRequest&& request, Respond respond) {
        auto shared = std::make_shared<HttpRequest>(std::move(request));
        deps_.blocking.Post([this, mutation, handler, shared, respond = std::move(respond)] {
            HttpRequest& req = *shared;
            auto found = sessions_.Find(req);
            if (!found) {
                respond(Unavailable(req));
                return;
            }
            std::optional<store::WebSession>& session = *found;
            if (!session || session->user.status != "active") {
                respond(http::ProblemResponse({401, "unauthenticated", "sign in first"}, &req));
                return;
            }
            if (const auto problem = mutation ? sessions_.CheckMutation(req, *session) : std::nullopt) {
                respond(http::ProblemResponse(*problem, &req));
                return;
            }
            (this->*handler)(*session, std::move(req), respond);
        });
    });
}

void WebRoutes::RequestMagicLink(HttpRequest&& request, Respond respond) {
    BodyReader body(request);
    const std::string email = identity::NormalizeEmail(body.String("email"));
    if (const auto& problem = body.Finish()) {
        respond(http::ProblemResponse(*problem, &request));
        return;
    }
    // Per address and per client, whether or not the address is known: no enumeration.
    if (deps_.fraud != nullptr && (deps_.fraud->IpThrottled(request.remote_address) ||
                                   (!email.empty() && deps_.fraud->LinkRequestThrottled(email)))) {
        respond(TooMany(request));
        return;
    }
    // The same answer, at once, whether or not the address may sign in: neither the body nor
    // the time taken tells who is on the list. The work happens after the answer.
    respond(http::Json(
        202, R"({"status":"accepted","detail":"if this address may sign in, a link is on its way"})"));
    if (email.empty()) {
        return;
    }
    auto allowed = deps_.database.MaySignIn(email);
    if (!allowed || !*allowed) {
        if (!allowed) {
            spdlog::warn("msg=\"sign-in link not sent\" error={}", LogQuote(allowed.error().message));
        }
        return;
    }
    MailToken(email, kMagicLinkPurpose, "magic_link", "/api/v1/auth/magic-link/callback",
              deps_.config.auth.magic_link_ttl_seconds * 1000,
              {{"minutes", std::to_string(std::max<int64_t>(1, deps_.config.auth.magic_link_ttl_seconds / 60))}});
}

void WebRoutes::MailToken(const std::string& email, const char* purpose, const char* template_name,
                          const char* path, int64_t ttl_ms, std::map<std::string, std::string> variables,
                          const store::TokenBinding& binding) {
    const std::string token = RandomToken(kTokenBytes);
    variables["link"] = deps_.config.server.public_url + path + "?token=" + token;
    auto mail = mail::Render(template_name, email, variables);
    if (!mail) {
        spdlog::error("msg=\"mail not rendered\" template={} error={}", template_name, LogQuote(mail.error().message));
        return;
    }
    auto created = deps_.database.CreateSignInToken(
        email, purpose, Sha256Hex(token), ttl_ms, deps_.config.auth.sign_in_resend_seconds * 1000,
        {mail->template_name, mail->subject, mail->text_body, mail->html_body}, binding);
    if (!created) {
        spdlog::warn("msg=\"link not sent\" template={} error={}", template_name, LogQuote(created.error().message));
    } else if (*created && deps_.mail != nullptr) {
        deps_.mail->Poke();
    }
}

void WebRoutes::RedeemMagicLink(HttpRequest&& request, Respond respond) {
    RedeemMailedToken(request, kMagicLinkPurpose, respond,
                      [this, respond, client = ClientOf(request)](const store::RedeemedToken& token,
                                                                   std::function<void()> fail) {
                          SignIn(client, token.email, std::nullopt, std::move(fail), respond);
                      });
}

void WebRoutes::RedeemMailedToken(const HttpRequest& request, const char* purpose, const Respond& respond,
                                  const std::function<void(const store::RedeemedToken&, std::function<void()>)>& redeemed) {
    const auto origin = request.Header("origin");
    if (origin && *origin != sessions_.origin()) {
        respond(Page(403, "This link did not come from Beta 500", "Open the link from your mail."));
        return;
    }
    if (deps_.fraud != nullptr && deps_.fraud->IpThrottled(request.remote_address)) {
        respond(TooManyPage());
        return;
    }
    const auto token = FormToken(request.body);
    if (!token) {
        Failed(request);
        respond(Page(400, "This link does not work", "Ask for a new one."));
        return;
    }
    const std::string token_hash = Sha256Hex(*token);
    auto found = deps_.database.RedeemSignInToken(token_hash, purpose);
    if (!found) {
        respond(Page(503, "Beta 500 is unavailable", "Try the link again in a moment."));
        return;
    }
    if (!*found) {
        Failed(request);
        respond(Page(400, "This link does not work", "It was used already or has expired. Ask for a new one."));
        return;
    }
    // A failure on our side gives the link back, so the person can simply try again.
    redeemed(**found, [this, token_hash, respond] {
        if (!deps_.database.UnredeemSignInToken(token_hash)) {
            spdlog::warn("msg=\"link could not be given back\"");
        }
        respond(Page(503, "Beta 500 is unavailable", "Try the link again in a moment."));
    });
}

Client WebRoutes::ClientOf(const HttpRequest& request) const {
    const auto header = request.Header("cookie");
    auto device = header ? CookieValue(*header, DeviceCookieName()) : std::nullopt;
    if (device && !FormToken("token=" + *device)) {
        device.reset();
    }
    return Client{request.remote_address, device.value_or("")};
}

std::string WebRoutes::DeviceCookieName() const { return sessions_.secure() ? "__Host-b5_device" : "b5_device"; }

void WebRoutes::Failed(const HttpRequest& request) {
    if (deps_.fraud != nullptr) {
        deps_.fraud->RecordFailure(request.remote_address);
    }
}

void WebRoutes::SignIn(const Client& client, const std::string& email, std::optional<ledger::Identity> identity,
                       std::function<void()> fail, Respond respond, std::string return_to, std::string display_name) {
    auto user = deps_.database.FindUserByEmail(email);
    if (!user) {
        fail();
        return;
    }
    if (*user && (*user)->status != "active") {
        respond(Page(403, "Your account is suspended", "Contact the beta team."));
        return;
    }
    if (*user && !identity) {
        // Following the mailed link proves the address.
        if (!(*user)->email_verified && !deps_.database.MarkEmailVerified((*user)->id)) {
            fail();
            return;
        }
        StartSession(client, (*user)->id, fail, respond, return_to);
        return;
    }
    if (!*user && deps_.fraud != nullptr && deps_.fraud->OnEnrollment(email).blocked) {
        respond(Page(403, "Sign-up refused", "This address cannot join the beta. Contact the beta team."));
        return;
    }
    // First sign-in, or a new identity to link: enrollment (user, wallet, invitation, grant,
    // identity) is one ledger transaction. Each attempt has a key of its own: the writer runs
    // enrollments one at a time and the store finds a user already made, so concurrent first
    // sign-ins still make one user and one grant, while an address that changes hands (after
    // its user moved to another) is never answered with an earlier enrollment's user.
    const std::string key = "enroll:" + RandomToken(kTokenBytes);
    deps_.writer.Submit(
        ledger::Request{ledger::Enroll{email, std::move(identity), std::move(display_name)}, "system:enrollment", key},
        [this, client, fail = std::move(fail), respond = std::move(respond),
         return_to = std::move(return_to)](ledger::Response answer) {
            deps_.blocking.Post([this, client, fail, respond, return_to, answer = std::move(answer)] {
                if (answer.rejection == ledger::Rejection::kNotInvited) {
                    respond(Page(403, "You are not on the beta list",
                                 "This address has no open invitation to the Beta 500 beta."));
                } else if (answer.rejection != ledger::Rejection::kNone) {
                    fail();
                } else {
                    const auto body = json::parse(answer.body);
                    StartSession(client, std::stoll(std::string(body.at("user_id").as_string())), fail, respond,
                                 return_to);
                }
            });
        });
}

void WebRoutes::StartSession(const Client& client, int64_t user_id, const std::function<void()>& fail,
                             const Respond& respond, const std::string& return_to) {
    if (deps_.fraud != nullptr) {
        const fraud::Verdict verdict = deps_.fraud->OnSignIn(user_id, client.ip, client.device);
        if (verdict.blocked) {
            respond(verdict.suspended ? Page(403, "Your account is suspended", "Contact the beta team.")
                                      : Page(403, "Sign-in refused", "Sign-ins from here are paused. Contact the beta team."));
            return;
        }
    }
    // A new session token at every sign-in (no fixation of an older one).
    const std::string token = RandomToken(kTokenBytes);
    auto created = deps_.database.CreateSession(user_id, Sha256Hex(token), RandomToken(kCsrfBytes));
    if (!created) {
        fail();
        return;
    }
    HttpResponse response{303, "text/plain; charset=utf-8", "signed in", {}};
    response.headers.emplace_back("Location", SafeReturnPath(return_to));
    response.headers.emplace_back(
        "Set-Cookie", sessions_.CookieName() + "=" + token + "; Path=/; HttpOnly; SameSite=Lax; Max-Age=" +
                          std::to_string(deps_.config.auth.session_absolute_seconds) +
                          (sessions_.secure() ? "; Secure" : ""));
    if (client.device.empty()) {
        // The device cookie tells the fraud rules which accounts share a browser.
        response.headers.emplace_back("Set-Cookie", DeviceCookieName() + "=" + RandomToken(kCsrfBytes) +
                                                        "; Path=/; HttpOnly; SameSite=Lax; Max-Age=63072000" +
                                                        (sessions_.secure() ? "; Secure" : ""));
    }
    respond(std::move(response));
}

void WebRoutes::Me(const store::WebSession& session, HttpRequest&&, Respond respond) {
    const store::User& user = session.user;
    respond(http::Json(200, json::serialize(json::object{
                                {"id", std::to_string(user.id)},
                                {"email", user.email},
                                {"email_verified", user.email_verified},
                                {"display_name", user.display_name},
                                {"role", user.role},
                                {"status", user.status},
                                {"enrolled_at", OptionalTime(user.enrolled_at_ms)},
                                {"csrf_token", session.csrf_token}})));
}

void WebRoutes::MyCredits(const store::WebSession& session, HttpRequest&& request, Respond respond) {
    auto balance = deps_.database.Balance(session.user.id);
    if (!balance || !*balance) {
        respond(Unavailable(request));
        return;
    }
    respond(http::Json(200, json::serialize(BalanceJson(**balance))));
}

void WebRoutes::MyTransactions(const store::WebSession& session, HttpRequest&& request, Respond respond) {
    store::TransferFilter filter;
    if (auto problem = ReadTransferQuery(request, filter, false)) {
        respond(http::ProblemResponse(*problem, &request));
        return;
    }
    filter.user_id = session.user.id;
    auto transfers = deps_.database.Transfers(filter);
    if (!transfers) {
        respond(Unavailable(request));
        return;
    }
    respond(http::Json(200, TransfersPage(*transfers, filter.limit)));
}

void WebRoutes::SignOut(const store::WebSession& session, HttpRequest&& request, Respond respond) {
    if (!deps_.database.RevokeSession(session.id)) {
        respond(Unavailable(request));
        return;
    }
    HttpResponse response{204, "text/plain", "", {}};
    response.headers.emplace_back("Set-Cookie", sessions_.CookieName() + "=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0" +
                                                    std::string(sessions_.secure() ? "; Secure" : ""));
    respond(std::move(response));
}

}  // namespace beta500::api
