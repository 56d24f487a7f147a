#include "api/auth.h"

#include "core/crypto.h"

namespace beta500::api {
namespace {

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
            auto response = http::ProblemResponse(
                {503, "unavailable", "the database is unavailable; retry shortly"}, &request);
            response.headers.emplace_back("Retry-After", "1");
            respond(std::move(response));
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

}  // namespace beta500::api
