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

// scheme://host[:port] as browsers send it in Origin: lower case, no default port.
std::string OriginOf(const std::string& url) {
    const auto scheme = url.find("://");
    const auto path = url.find('/', scheme + 3);
    std::string origin = path == std::string::npos ? url : url.substr(0, path);
    for (char& ch : origin) {
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    if (origin.rfind("http://", 0) == 0 && origin.ends_with(":80")) {
        origin.resize(origin.size() - 3);
    } else if (origin.rfind("https://", 0) == 0 && origin.ends_with(":443")) {
        origin.resize(origin.size() - 4);
    }
    return origin;
}

// The sign-in token of a form body `token=...` (tokens are base64url: nothing to decode).
std::optional<std::string> FormToken(std::string_view body) {
    constexpr std::string_view kField = "token=";
    const auto at = body.find(kField);
    if (at == std::string_view::npos || (at > 0 && body[at - 1] != '&')) {
        return std::nullopt;
    }
    std::string_view value = body.substr(at + kField.size());
    value = value.substr(0, value.find('&'));
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

HttpResponse Unavailable(const HttpRequest& request) {
    auto response = http::ProblemResponse(
        {503, "unavailable", "the service is unavailable; retry shortly"}, &request);
    response.headers.emplace_back("Retry-After", "1");
    return response;
}

bool SameSecret(const std::string& a, const std::string& b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::optional<std::string> CookieValue(std::string_view header, std::string_view name) {
    while (!header.empty()) {
        const auto end = header.find(';');
        std::string_view pair = header.substr(0, end);
        while (!pair.empty() && pair.front() == ' ') {
            pair.remove_prefix(1);
        }
        const auto equals = pair.find('=');
        if (equals != std::string_view::npos && pair.substr(0, equals) == name) {
            return std::string(pair.substr(equals + 1));
        }
        if (end == std::string_view::npos) {
            break;
        }
        header.remove_prefix(end + 1);
    }
    return std::nullopt;
}

WebRoutes::WebRoutes(Deps& deps)
    : deps_(deps),
      origin_(OriginOf(deps.config.server.public_url)),
      secure_(deps.config.server.public_url.rfind("https://", 0) == 0) {
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
        live_origins_.push_back(origin_);
    }
}

std::string WebRoutes::CookieName() const { return secure_ ? "__Host-b5_session" : "b5_session"; }

// Server-rendered pages until the web app exists: sign-in, and a home page showing the balance.
constexpr const char* kSignInPage = R"html(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in to Beta 500</title></head>
<body><main>
<h1>Sign in to Beta 500</h1>
<form id="magic"><label for="email">Email address</label>
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
    router.Add("GET", "/signin", [](HttpRequest&&, Respond respond) {
        respond(HttpResponse{200, "text/html; charset=utf-8", kSignInPage, {}});
    });
    router.Add("POST", "/api/v1/auth/magic-link", [this](HttpRequest&& request, Respond respond) {
        auto shared = std::make_shared<HttpRequest>(std::move(request));
        deps_.blocking.Post([this, shared, respond = std::move(respond)] {
            RequestMagicLink(std::move(*shared), respond);
        });
    });
    // Opening the mailed link only shows a button: mail scanners that fetch links must not spend
    // them, and a link opened from another site must not sign the browser in (login CSRF).
    router.Add("GET", "/api/v1/auth/magic-link/callback", [](HttpRequest&& request, Respond respond) {
        const auto token = request.query.find("token");
        const std::string value = token == request.query.end() ? "" : token->second;
        if (!FormToken("token=" + value) || value.empty() || value.size() > 2 * kTokenBytes) {
            respond(Page(400, "This sign-in link does not work", "Ask for a new link."));
            return;
        }
        respond(HttpResponse{
            200, "text/html; charset=utf-8",
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Sign in to Beta "
            "500</title></head><body><h1>Sign in to Beta 500</h1><form method=\"post\" "
            "action=\"/api/v1/auth/magic-link/callback\"><input type=\"hidden\" name=\"token\" value=\"" +
                value + "\"><button type=\"submit\">Sign in</button></form></body></html>",
            {}});
    });
    router.Add("POST", "/api/v1/auth/magic-link/callback", [this](HttpRequest&& request, Respond respond) {
        auto shared = std::make_shared<HttpRequest>(std::move(request));
        deps_.blocking.Post([this, shared, respond = std::move(respond)] {
            RedeemMagicLink(std::move(*shared), respond);
        });
    });
    SignedIn(router, "GET", "/api/v1/me", false, &WebRoutes::Me);
    SignedIn(router, "GET", "/api/v1/me/credits", false, &WebRoutes::MyCredits);
    SignedIn(router, "GET", "/api/v1/me/credits/transactions", false, &WebRoutes::MyTransactions);
    SignedIn(router, "POST", "/api/v1/auth/sign-out", true, &WebRoutes::SignOut);
    SignedIn(router, "GET", "/api/v1/me/events", false, &WebRoutes::MyEvents);
    router.Add("GET", "/api/v1/live/dubbing", [this](HttpRequest&& request, Respond respond) {
        LiveDubbing(std::move(request), std::move(respond));
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
    if (!deps_.live) {
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
    auto shared = std::make_shared<HttpRequest>(std::move(request));
    deps_.blocking.Post([this, shared, respond = std::move(respond)] {
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
            auto found = SessionOf(req);
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
        HttpResponse response;
        response.stream = live::LiveConnection::ForUser(*deps_.live, *deps_.dubbing, user->id);
        respond(std::move(response));
    });
}

Result<std::optional<store::WebSession>> WebRoutes::SessionOf(const HttpRequest& request) {
    const auto header = request.Header("cookie");
    const auto token = header ? CookieValue(*header, CookieName()) : std::nullopt;
    if (!token) {
        return std::optional<store::WebSession>();
    }
    return deps_.database.FindSession(Sha256Hex(*token), deps_.config.auth.session_idle_seconds * 1000,
                                      deps_.config.auth.session_absolute_seconds * 1000);
}

void WebRoutes::SignedIn(http::Router& router, const char* method, const char* pattern, bool mutation,
                         Handler handler) {
    router.Add(method, pattern, [this, mutation, handler](HttpRequest&& request, Respond respond) {
        auto shared = std::make_shared<HttpRequest>(std::move(request));
        deps_.blocking.Post([this, mutation, handler, shared, respond = std::move(respond)] {
            HttpRequest& req = *shared;
            auto found = SessionOf(req);
            if (!found) {
                respond(Unavailable(req));
                return;
            }
            std::optional<store::WebSession>& session = *found;
            if (!session || session->user.status != "active") {
                respond(http::ProblemResponse({401, "unauthenticated", "sign in first"}, &req));
                return;
            }
            if (mutation) {
                // Cookies ride along on cross-site requests: the page must prove it is ours.
                const auto origin = req.Header("origin");
                if (origin && *origin != origin_) {
                    respond(http::ProblemResponse(
                        {403, "forbidden_origin", "cross-origin requests are refused"}, &req));
                    return;
                }
                const auto csrf = req.Header("x-csrf-token");
                if (!csrf || !SameSecret(std::string(*csrf), session->csrf_token)) {
                    respond(http::ProblemResponse(
                        {403, "csrf_failed", "the X-CSRF-Token header is missing or wrong"}, &req));
                    return;
                }
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
    const std::string token = RandomToken(kTokenBytes);
    auto mail = mail::Render(
        "magic_link", email,
        {{"link", deps_.config.server.public_url + "/api/v1/auth/magic-link/callback?token=" + token},
         {"minutes", std::to_string(std::max<int64_t>(1, deps_.config.auth.magic_link_ttl_seconds / 60))}});
    if (!mail) {
        spdlog::error("msg=\"sign-in mail not rendered\" error={}", LogQuote(mail.error().message));
        return;
    }
    auto created = deps_.database.CreateSignInToken(
        email, kMagicLinkPurpose, Sha256Hex(token), deps_.config.auth.magic_link_ttl_seconds * 1000,
        deps_.config.auth.sign_in_resend_seconds * 1000,
        {mail->template_name, mail->subject, mail->text_body, mail->html_body});
    if (!created) {
        spdlog::warn("msg=\"sign-in link not sent\" error={}", LogQuote(created.error().message));
    } else if (*created && deps_.mail != nullptr) {
        deps_.mail->Poke();
    }
}

void WebRoutes::RedeemMagicLink(HttpRequest&& request, Respond respond) {
    const auto origin = request.Header("origin");
    if (origin && *origin != origin_) {
        respond(Page(403, "This sign-in did not come from Beta 500", "Open the link from your mail."));
        return;
    }
    const auto token = FormToken(request.body);
    if (!token || token->empty() || token->size() > 2 * kTokenBytes) {
        respond(Page(400, "This sign-in link does not work", "Ask for a new link."));
        return;
    }
    const std::string token_hash = Sha256Hex(*token);
    auto email = deps_.database.RedeemSignInToken(token_hash, kMagicLinkPurpose);
    if (!email) {
        respond(Page(503, "Sign-in is unavailable", "Try the link again in a moment."));
        return;
    }
    if (!*email) {
        respond(Page(400, "This sign-in link does not work",
                     "It was used already or has expired. Ask for a new link."));
        return;
    }
    // A failure on our side gives the link back, so the person can simply try again.
    auto fail = [this, token_hash, respond] {
        if (!deps_.database.UnredeemSignInToken(token_hash)) {
            spdlog::warn("msg=\"sign-in link could not be given back\"");
        }
        respond(Page(503, "Sign-in is unavailable", "Try the link again in a moment."));
    };
    auto user = deps_.database.FindUserByEmail(**email);
    if (!user) {
        fail();
        return;
    }
    if (*user) {
        if ((*user)->status != "active") {
            respond(Page(403, "Your account is suspended", "Contact the beta team."));
            return;
        }
        // Following the mailed link proves the address.
        if (!(*user)->email_verified && !deps_.database.MarkEmailVerified((*user)->id)) {
            fail();
            return;
        }
        StartSession((*user)->id, fail, respond);
        return;
    }
    // First sign-in: enrollment (user, wallet, invitation, grant) is one ledger transaction.
    deps_.writer.Submit(
        // The key holds the address's hash: an address may be 254 bytes, a key at most 255.
        ledger::Request{ledger::Enroll{**email}, "system:enrollment", "enroll:" + Sha256Hex(**email)},
        [this, fail, respond](ledger::Response answer) {
            deps_.blocking.Post([this, fail, respond, answer = std::move(answer)] {
                if (answer.rejection == ledger::Rejection::kNotInvited) {
                    respond(Page(403, "You are not on the beta list",
                                 "This address has no open invitation to the Beta 500 beta."));
                } else if (answer.rejection != ledger::Rejection::kNone) {
                    fail();
                } else {
                    const auto body = json::parse(answer.body);
                    StartSession(std::stoll(std::string(body.at("user_id").as_string())), fail, respond);
                }
            });
        });
}

void WebRoutes::StartSession(int64_t user_id, const std::function<void()>& fail, const Respond& respond) {
    // A new session token at every sign-in (no fixation of an older one).
    const std::string token = RandomToken(kTokenBytes);
    auto created = deps_.database.CreateSession(user_id, Sha256Hex(token), RandomToken(kCsrfBytes));
    if (!created) {
        fail();
        return;
    }
    HttpResponse response{303, "text/plain; charset=utf-8", "signed in", {}};
    response.headers.emplace_back("Location", "/");
    response.headers.emplace_back(
        "Set-Cookie", CookieName() + "=" + token + "; Path=/; HttpOnly; SameSite=Lax; Max-Age=" +
                          std::to_string(deps_.config.auth.session_absolute_seconds) +
                          (secure_ ? "; Secure" : ""));
    respond(std::move(response));
}

void WebRoutes::Me(const store::WebSession& session, HttpRequest&&, Respond respond) {
    const store::User& user = session.user;
    respond(http::Json(200, json::serialize(json::object{
                                {"id", std::to_string(user.id)},
                                {"email", user.email},
                                {"email_verified", user.email_verified},
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
    response.headers.emplace_back("Set-Cookie", CookieName() + "=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0" +
                                                    std::string(secure_ ? "; Secure" : ""));
    respond(std::move(response));
}

}  // namespace beta500::api
