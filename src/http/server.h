// Server: the HTTP/1.1 listener (Boost.Beast, C++20 coroutines). One coroutine per connection,
// on its own strand, owns the connection's state; handlers run elsewhere and answer through
// Respond, which resumes the coroutine on its strand.
// Enforces the limits in Config::Server (body and header size, connections, idle time), gives
// every request an id (X-Request-Id in and out), logs one line per request and keeps request
// metrics. Shutdown stops accepting, lets requests in flight finish, then closes connections.
// Thread-safe: Run may be called from several threads; Shutdown from any thread.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "core/config.h"
#include "core/result.h"
#include "http/router.h"

namespace beta500::obs {
class Registry;
}

namespace beta500::http {

class Server {
   public:
    // Binds the listening socket (port 0 picks a free port). `router` and `metrics` are
    // borrowed and must outlive the server.
    static Result<std::unique_ptr<Server>> Bind(const Config::Server& config, const Router& router,
                                                obs::Registry& metrics);
    ~Server();

    // The address actually bound, e.g. 127.0.0.1:41234.
    std::string address() const;
    // Serves on `threads` threads until Shutdown completes; blocks.
    void Run(int threads);
    // Starts a graceful shutdown: returns at once; Run returns when it is done.
    void Shutdown();
    bool draining() const;

   private:
    struct Impl;
    explicit Server(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace beta500::http
