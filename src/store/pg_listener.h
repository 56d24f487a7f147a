// PgListener: PostgreSQL notifications (LISTEN) handed to handlers by channel, so that what one
// server does reaches the others: balance events for browsers connected anywhere, an admin's
// termination of a session another server holds, a suspension. Its own thread and connection;
// a lost connection is taken up again every second, and `on_connect` runs after each (re)connect,
// so state that notifications keep current can be read again after a gap.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <string>
#include <thread>

namespace beta500::store {

class PgListener {
   public:
    using Handler = std::function<void(const std::string& payload)>;
    PgListener(std::string url, std::map<std::string, Handler> handlers, std::function<void()> on_connect);
    ~PgListener();
    PgListener(const PgListener&) = delete;
    PgListener& operator=(const PgListener&) = delete;

   private:
    void Run();

    const std::string url_;
    const std::map<std::string, Handler> handlers_;
    const std::function<void()> on_connect_;
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

}  // namespace beta500::store
