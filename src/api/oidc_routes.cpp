// WebRoutes, part two: sign-in with an OpenID provider, and email verification.
#include <spdlog/spdlog.h>

#include "api/input.h"
#include "api/web_routes.h"
#include "core/crypto.h"
#include "core/log.h"
#include "identity/invitations.h"
#include "mail/mail.h"

namespace beta500::api {
using http::HttpRequest;
using http::HttpResponse;
using http::Respond;
using namespace web;

namespace {

constexpr size_t kBrowserBytes = 32;
constexpr const char* kVerifyPurpose = "verify_email";
constexpr const char* kVerifyPath = "/api/v1/auth/verify-email";
// DESIGN section 5: a verification link works for 24 hours (the mail says so).
constexpr int64_t kVerificationTtlMs = 24 * 3600 * 1000;

std::string QueryValue(const HttpRequest& request, const char* name) {
    const auto found = request.query.find(name);
    return found == request.query.end() ? "" : found->second;
}

HttpResponse SignInFailed() {
    return Page(400, "Sign-in did not work", "Start again from the <a href=\"/signin\">sign-in page</a>.");
}

// A provider's `name`, kept printable and at most kDisplayNameBytesMax bytes (cut at a UTF-8
// character boundary).
constexpr size_t kDisplayNameBytesMax = 100;
std::string DisplayName(std::string_view name) {
    std::string out;
    for (char ch : name) {
        if (static_cast<unsigned char>(ch) >= 0x20 && ch != 0x7f) {
            out.push_back(ch);
        }
    }
    if (out.size() > kDisplayNameBytesMax) {
        size_t cut = kDisplayNameBytesMax;
        while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) {
            --cut;
        }
        out.resize(cut);
    }
    return out;
}

HttpResponse SignInUnavailable() {
    return Page(503, "Sign-in is unavailable", "Try again in a moment, or sign in with an email link.");
}

}  // namespace

std::string WebRoutes::LoginCookieName() const { return sessions_.secure() ? "__Host-b5_oidc" : "b5_oidc"; }
std::string WebRoutes::VerifyCookieName() const { return sessions_.secure() ? "__Host-b5_verify" : "b5_verify"; }

void WebRoutes::OidcLogin(HttpRequest&& request, Respond respond) {
    // A client over its limit of failed sign-ins starts no new ones either.
    if (deps_.fraud != nullptr && deps_.fraud->IpThrottled(request.remote_address)) {
        respond(TooManyPage());
        return;
    }
    oidc::Provider* provider = providers_->Find(request.params.at("provider"));
    if (provider == nullptr) {
        respond(Page(404, "Unknown sign-in provider", "Choose one on the <a href=\"/signin\">sign-in page</a>."));
        return;
    }
    // The login cookie binds the sign-in to this browser; an existing one is kept, so sign-ins
    // started in two tabs both come back.
    const auto header = request.Header("cookie");
    auto browser = header ? CookieValue(*header, LoginCookieName()) : std::nullopt;
    if (!browser || !FormToken("token=" + *browser) || browser->size() != RandomToken(kBrowserBytes).size()) {
        browser = RandomToken(kBrowserBytes);
    }
    const oidc::LoginSecrets secrets = oidc::NewLoginSecrets();
    auto url = provider->AuthorizationUrl(secrets);
    if (!url) {
        spdlog::warn("msg=\"provider unavailable\" provider={} error={}", provider->config().name,
                     LogQuote(url.error().message));
        respond(SignInUnavailable());
        return;
    }
    const int64_t ttl_seconds = deps_.config.oidc.login_ttl_seconds;
    const Status stored = deps_.database.CreateOidcLogin(
        Sha256Hex(secrets.state),
        {Sha256Hex(*browser), provider->config().name, secrets.nonce, secrets.code_verifier,
         SafeReturnPath(QueryValue(request, "return"))},
        ttl_seconds * 1000);
    if (!stored) {
        respond(SignInUnavailable());
        return;
    }
    HttpResponse response{302, "text/plain; charset=utf-8", "", {}};
    response.headers.emplace_back("Location", *url);
    response.headers.emplace_back("Cache-Control", "no-store");
    response.headers.emplace_back("Set-Cookie", LoginCookieName() + "=" + *browser +
                                                    "; Path=/; HttpOnly; SameSite=Lax; Max-Age=" +
                                                    std::to_string(ttl_seconds) + (sessions_.secure() ? "; Secure" : ""));
    respond(std::move(response));
}

void WebRoutes::OidcCallback(HttpRequest&& request, Respond plain_respond) {
    const std::string& name = request.params.at("provider");
    // Every answer ends the sign-in in this browser.
    Respond respond = [this, plain_respond](HttpResponse response) {
        response.headers.emplace_back("Set-Cookie", LoginCookieName() + "=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0" +
                                                        std::string(sessions_.secure() ? "; Secure" : ""));
        response.headers.emplace_back("Cache-Control", "no-store");
        plain_respond(std::move(response));
    };
    auto refuse = [&](const std::string& reason) {
        spdlog::warn("msg=\"provider sign-in refused\" provider={} reason={} request_id={}", LogQuote(name),
                     LogQuote(reason), request.request_id);
        Failed(request);
        respond(SignInFailed());
    };
    if (deps_.fraud != nullptr && deps_.fraud->IpThrottled(request.remote_address)) {
        respond(TooManyPage());
        return;
    }
    oidc::Provider* provider = providers_->Find(name);
    if (provider == nullptr) {
        respond(Page(404, "Unknown sign-in provider", "Choose one on the <a href=\"/signin\">sign-in page</a>."));
        return;
    }
    if (!QueryValue(request, "error").empty()) {
        respond(Page(400, "Sign-in was cancelled", "Start again from the <a href=\"/signin\">sign-in page</a>."));
        return;
    }
    const std::string state = QueryValue(request, "state");
    const std::string code = QueryValue(request, "code");
    if (state.empty() || code.empty()) {
        refuse("state or code missing");
        return;
    }
    // Taking the sign-in spends its state, whatever happens next: a state works once.
    auto login = deps_.database.TakeOidcLogin(Sha256Hex(state));
    if (!login) {
        respond(SignInUnavailable());
        return;
    }
    if (!*login) {
        refuse("unknown, spent or expired state");
        return;
    }
    const auto header = request.Header("cookie");
    const auto browser = header ? CookieValue(*header, LoginCookieName()) : std::nullopt;
    if (!browser || !SameSecret(Sha256Hex(*browser), (*login)->browser_hash)) {
        refuse("the state belongs to another browser");
        return;
    }
    if ((*login)->provider != name) {
        refuse("the state belongs to another provider");
        return;
    }
    auto claims = provider->Redeem(code, {state, (*login)->nonce, (*login)->code_verifier});
    if (!claims) {
        if (claims.error().code == ErrorCode::kUnavailable) {
            spdlog::warn("msg=\"provider unavailable\" provider={} error={}", LogQuote(name),
                         LogQuote(claims.error().message));
            respond(SignInUnavailable());
        } else {
            refuse(claims.error().message);
        }
        return;
    }
    OidcSignIn(ClientOf(request), *claims, provider->config().issuer, (*login)->return_to, respond);
}

void WebRoutes::OidcSignIn(const Client& client, const oidc::Claims& claims, const std::string& issuer,
                           const std::string& return_to, Respond respond) {
    auto fail = [respond] { respond(SignInUnavailable()); };
    auto linked = deps_.database.FindUserByIdentity(issuer, claims.subject);
    if (!linked) {
        fail();
        return;
    }
    if (*linked) {
        if ((*linked)->status != "active") {
            respond(Page(403, "Your account is suspended", "Contact the beta team."));
            return;
        }
        if (deps_.fraud != nullptr &&
            deps_.fraud->OnIdentity((*linked)->id, (*linked)->email, identity::NormalizeEmail(claims.email)).blocked) {
            respond(Page(403, "Sign-in refused", "Contact the beta team."));
            return;
        }
        StartSession(client, (*linked)->id, fail, respond, return_to);
        return;
    }
    const std::string email = identity::NormalizeEmail(claims.email);
    if (email.empty()) {
        respond(Page(400, "No email address", "The provider did not share your email address. Allow it, or "
                                              "sign in with an email link."));
        return;
    }
    if (claims.email_verified) {
        SignIn(client, email, ledger::Identity{issuer, claims.subject}, fail, respond, return_to,
               DisplayName(claims.name));
        return;
    }
    // The provider does not vouch for the address: the person proves it by following a mailed
    // link, in this browser, which finishes the sign-in. Only a new enrollment is made this way:
    // an existing account is never linked to an identity whose address nobody vouched for. The
    // page (and its cookie) are the same whether or not a link was sent.
    const std::string browser = RandomToken(kBrowserBytes);
    auto allowed = deps_.database.MaySignIn(email);
    auto existing = deps_.database.FindUserByEmail(email);
    if (allowed && *allowed && existing && !*existing) {
        MailToken(email, kVerifyPurpose, "verification", kVerifyPath, kVerificationTtlMs, {},
                  {std::nullopt, issuer, claims.subject, Sha256Hex(browser)});
    }
    HttpResponse page = Page(200, "Confirm your email address",
                             "If this address may join the beta, a link to confirm it is on its way. Follow it "
                             "within 24 hours, in this browser, to finish signing in.");
    page.headers.emplace_back("Set-Cookie", VerifyCookieName() + "=" + browser +
                                                "; Path=/; HttpOnly; SameSite=Lax; Max-Age=86400" +
                                                (sessions_.secure() ? "; Secure" : ""));
    respond(std::move(page));
}

void WebRoutes::ChangeEmail(const store::WebSession& session, HttpRequest&& request, Respond respond) {
    BodyReader body(request);
    const std::string raw = body.String("email");
    if (const auto& problem = body.Finish()) {
        respond(http::ProblemResponse(*problem, &request));
        return;
    }
    const std::string email = identity::NormalizeEmail(raw);
    if (email.empty()) {
        respond(http::ProblemResponse({422, "invalid_argument", "email: not a valid address"}, &request));
        return;
    }
    // The same answer whether or not another account has the address; only a free address gets
    // the link, and the address changes when the link is followed.
    respond(http::Json(202, R"({"status":"accepted","detail":"if the address is free, a link to confirm it is on its way"})"));
    auto owner = deps_.database.FindUserByEmail(email);
    if (owner && !*owner) {
        MailToken(email, kVerifyPurpose, "verification", kVerifyPath, kVerificationTtlMs, {},
                  {session.user.id, std::nullopt, std::nullopt});
    }
}

void WebRoutes::RedeemVerification(HttpRequest&& request, Respond respond) {
    const auto cookies = request.Header("cookie");
    const std::string browser = cookies ? CookieValue(*cookies, VerifyCookieName()).value_or("") : "";
    RedeemMailedToken(request, kVerifyPurpose, respond,
                      [this, respond, browser, client = ClientOf(request)](const store::RedeemedToken& proven,
                                                                            std::function<void()> fail) {
        if (proven.binding.user_id) {
            auto changed = deps_.database.ChangeEmail(*proven.binding.user_id, proven.email);
            if (!changed) {
                fail();
            } else if (*changed == store::EmailChange::kChanged) {
                respond(Page(200, "Your address is confirmed", "Beta 500 writes to your new address from now on."));
            } else {
                respond(Page(409, "This address is taken", "Another account uses it now."));
            }
            return;
        }
        std::optional<ledger::Identity> identity;
        if (proven.binding.issuer && proven.binding.subject) {
            identity = ledger::Identity{*proven.binding.issuer, *proven.binding.subject};
            // Only the browser that signed in with the provider may finish it (someone who got
            // the mail without asking cannot link another person's identity by clicking).
            if (!proven.binding.browser_hash || browser.empty() ||
                !SameSecret(Sha256Hex(browser), *proven.binding.browser_hash)) {
                respond(Page(403, "Open this link where you signed in",
                             "This link finishes a sign-in started in another browser. Open it there, or ignore it "
                             "if you did not sign in."));
                return;
            }
            auto existing = deps_.database.FindUserByEmail(proven.email);
            if (!existing) {
                fail();
                return;
            }
            if (*existing) {
                respond(Page(409, "This address has an account",
                             "Sign in with an email link instead; an address nobody vouched for is not linked."));
                return;
            }
        }
        SignIn(client, proven.email, std::move(identity), std::move(fail), respond);
    });
}

}  // namespace beta500::api
