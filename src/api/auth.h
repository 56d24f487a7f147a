// Bearer-token authentication for service and admin callers. Tokens are looked up by their
// SHA-256 in the database (off the network thread) and cached briefly in memory.
// Thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "core/thread_pool.h"
#include "http/message.h"
#include "store/database.h"

namespace beta500::api {

struct Caller {
    int64_t token_id = 0;
    std::string scope;  // "service" or "admin"
    std::string actor() const { return "token:" + std::to_string(token_id); }
};

enum class Scope { kService, kAdmin };

class Authenticator {
   public:
    Authenticator(store::Database& database, ThreadPool& blocking)
        : database_(database), blocking_(blocking) {}

    // Runs `next` with the caller when the request carries a token with `scope` (admin tokens
    // may do what service tokens may); otherwise responds 401 or 403 itself.
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

    store::Database& database_;
    ThreadPool& blocking_;
    std::mutex mutex_;
    std::unordered_map<std::string, Entry> cache_;  // GUARDED_BY(mutex_); key: token hash
};

}  // namespace beta500::api
