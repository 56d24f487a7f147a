// Authentication. Service and admin callers send bearer tokens, looked up by their SHA-256 in
// the database (off the network thread) and cached briefly in memory. People's browsers send
// the session cookie; a mutation over a cookie also needs the session's CSRF token and, when
// the browser sends one, our Origin. An admin's cookie session may use the admin API.
// Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/config.h"
#include "core/thread_pool.h"
#include "http/message.h"
#include "store/database.h"

namespace beta500::api {

struct Caller {
    int64_t token_id = 0;
    std::string scope;  // "service" or "admin"
    std::optional<int64_t> user_id;  // an admin signed in with the session cookie
    std::string actor() const {
        return user_id ? "user:" + std::to_string(*user_id) : "token:" + std::to_string(token_id);
    }
};

// The value of cookie `name` in a Cookie header, if present.
std::optional<std::string> CookieValue(std::string_view header, std::string_view name);
// scheme://host[:port] as browsers send it in Origin: lower case, no default port.
std::string OriginOf(const std::string& url);
// Constant-time comparison of secrets.
bool SameSecret(std::string_view a, std::string_view b);

// Web sessions as the cookie carries them.
class CookieSessions {
   public:
    CookieSessions(const Config& config, store::Database& database);
    // "__Host-b5_session" (with Secure) when the public URL is https, "b5_session" without
    // Secure for http:// development.
    std::string CookieName() const { return secure_ ? "__Host-b5_session" : "b5_session"; }
    bool secure() const { return secure_; }
    const std::string& origin() const { return origin_; }
    // The live web session the request's cookie names, if any (blocking).
    Result<std::optional<store::WebSession>> Find(const http::HttpRequest& request) const;
    // Cookies ride along on cross-site requests, so a mutation must prove it comes from our
    // pages: an Origin, when sent, equal to ours (`forbidden_origin`) and the session's CSRF
    // token in X-CSRF-Token (`csrf_failed`).
    std::optional<http::Problem> CheckMutation(const http::HttpRequest& request,
                                               const store::WebSession& session) const;

   private:
    const Config& config_;
    store::Database& database_;
    const std::string origin_;
    const bool secure_;
};

enum class Scope { kService, kAdmin };

class Authenticator {
   public:
    Authenticator(const Config& config, store::Database& database, ThreadPool& blocking)
        : database_(database), blocking_(blocking), sessions_(config, database) {}

    // Runs `next` with the caller when the request carries a token with `scope` (admin tokens
    // may do what service tokens may), or, for kAdmin without an Authorization header, the
    // session cookie of an active admin (with the CSRF checks on anything but GET); otherwise
    // responds 401 or 403 itself.
    void Require(Scope scope, http::HttpRequest&& request, http::Respond respond,
                 std::function<void(Caller, http::HttpRequest&&, http::Respond)> next);

   private:
    // How long a looked-up token stays cached (bounds how long a revoked token keeps working).
    static constexpr auto kCacheTtl = std::chrono::seconds(30);
    // Cached tokens at most; the cache is emptied when full.
    static constexpr size_t kCacheEntriesMax = 10'000;

    struct Entry {
        store::ApiToken token;
        std::chrono::steady_clock::time_point expires;
    };

    // The cookie path of Require (on the blocking pool).
    void RequireAdminSession(Scope scope, http::HttpRequest&& request, http::Respond respond,
                             std::function<void(Caller, http::HttpRequest&&, http::Respond)> next);

    store::Database& database_;
    ThreadPool& blocking_;
    const CookieSessions sessions_;
    std::mutex mutex_;
    std::unordered_map<std::string, Entry> cache_;  // GUARDED_BY(mutex_); key: token hash
};

}  // namespace beta500::api
