#include "api/auth.h"

#include <openssl/crypto.h>

#include "core/crypto.h"

namespace beta500::api {

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

bool SameSecret(std::string_view a, std::string_view b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

CookieSessions::CookieSessions(const Config& config, store::Database& database)
    : config_(config),
      database_(database),
      origin_(OriginOf(config.server.public_url)),
      secure_(config.server.public_url.rfind("https://", 0) == 0) {}

Result<std::optional<store::WebSession>> CookieSessions::Find(const http::HttpRequest& request) const {
    const auto header = request.Header("cookie");
    const auto token = header ? CookieValue(*header, CookieName()) : std::nullopt;
    if (!token) {
        return std::optional<store::WebSession>();
    }
    return database_.FindSession(Sha256Hex(*token), config_.auth.session_idle_seconds * 1000,
                                 config_.auth.session_absolute_seconds * 1000);
}

std::optional<http::Problem> CookieSessions::CheckMutation(const http::HttpRequest& request,
                                                           const store::WebSession& session) const {
    const auto origin = request.Header("origin");
    if (origin && *origin != origin_) {
        return http::Problem{403, "forbidden_origin", "cross-origin requests are refused"};
    }
    const auto csrf = request.Header("x-csrf-token");
    if (!csrf || !SameSecret(*csrf, session.csrf_token)) {
        return http::Problem{403, "csrf_failed", "the X-CSRF-Token header is missing or wrong"};
    }
    return std::nullopt;
}

namespace {

http::HttpResponse Unavailable(const http::HttpRequest& request) {
    auto response = http::ProblemResponse(
        {503, "unavailable", "the database is unavailable; retry shortly"}, &request);
    response.headers.emplace_back("Retry-After", "1");
    return response;
}

http::HttpResponse Unauthenticated(const http::HttpRequest& request) {
    // One answer for a missing, malformed or unknown token: nothing to learn by probing.
    auto response = http::ProblemResponse(
        {401, "unauthenticated", "a valid bearer token is required"}, &request);
    response.headers.emplace_back("WWW-Authenticate", "Bearer");
    return response;
}

void Decide(Scope scope, const std::optional<store::ApiToken>& token, http::HttpRequest&& request,
            http::Respond respond,
            const std::function<void(Caller, http::HttpRequest&&, http::Respond)>& next) {
    if (!token) {
        respond(Unauthenticated(request));
        return;
    }
    if (scope == Scope::kAdmin && token->scope != "admin") {
        respond(http::ProblemResponse(
            {403, "forbidden", "this operation needs a token with the admin scope"}, &request));
        return;
    }
    next(Caller{token->id, token->scope}, std::move(request), std::move(respond));
}

}  // namespace

void Authenticator::Require(Scope scope, http::HttpRequest&& request, http::Respond respond,
                            std::function<void(Caller, http::HttpRequest&&, http::Respond)> next) {
    const auto header = request.Header("authorization");
    constexpr std::string_view kPrefix = "Bearer ";
    if (!header && request.Header("cookie")) {
        RequireAdminSession(scope, std::move(request), std::move(respond), std::move(next));
        return;
    }
    if (!header || header->size() <= kPrefix.size() || header->substr(0, kPrefix.size()) != kPrefix) {
        respond(Unauthenticated(request));
        return;
    }
    const std::string hash = Sha256Hex(header->substr(kPrefix.size()));
    const auto now = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(mutex_);
        auto found = cache_.find(hash);
        if (found != cache_.end() && found->second.expires > now) {
            Decide(scope, found->second.token, std::move(request), std::move(respond), next);
            return;
        }
    }
    const std::string token(header->substr(kPrefix.size()));
    blocking_.Post([this, scope, token, hash, request = std::move(request),
                    respond = std::move(respond), next = std::move(next)]() mutable {
        auto found = database_.FindApiToken(token);
        if (!found) {
            respond(Unavailable(request));
            return;
        }
        if (*found) {
            // Only known tokens are cached, so a token created a moment ago works at once.
            std::lock_guard lock(mutex_);
            if (cache_.size() >= kCacheEntriesMax) {
                cache_.clear();
            }
            cache_[hash] = Entry{**found, std::chrono::steady_clock::now() + kCacheTtl};
        }
        Decide(scope, *found, std::move(request), std::move(respond), next);
    });
}

void Authenticator::RequireAdminSession(Scope scope, http::HttpRequest&& request, http::Respond respond,
                                        std::function<void(Caller, http::HttpRequest&&, http::Respond)> next) {
    if (scope != Scope::kAdmin) {
        respond(Unauthenticated(request));  // the service API is for other backends' tokens
        return;
    }
    blocking_.Post([this, request = std::move(request), respond = std::move(respond),
                    next = std::move(next)]() mutable {
        auto found = sessions_.Find(request);
        if (!found) {
            respond(Unavailable(request));
            return;
        }
        const auto& session = *found;
        if (!session || session->user.status != "active") {
            respond(Unauthenticated(request));
            return;
        }
        if (session->user.role != "admin") {
            respond(http::ProblemResponse(
                {403, "forbidden", "this operation needs an admin"}, &request));
            return;
        }
        if (request.method != "GET" && request.method != "HEAD") {
            if (const auto problem = sessions_.CheckMutation(request, *session)) {
                respond(http::ProblemResponse(*problem, &request));
                return;
            }
        }
        next(Caller{0, "admin", session->user.id}, std::move(request),
             std::move(respond));
    });
}

}  // namespace beta500::api
