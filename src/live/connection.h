// LiveConnection: one WebSocket of protocol v1 (docs/websocket.md), between the server's
// channel, the session manager and a dubbing stream. A connection refused after the upgrade
// (unauthenticated, not a beta user, blocked) only sends its close code.
// Thread-safe: the server's calls and the manager's callbacks may come from different threads.
#pragma once

#include <boost/json/object.hpp>

#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "http/stream.h"
#include "live/dubbing.h"
#include "live/events.h"
#include "live/manager.h"

namespace beta500::live {

class LiveConnection : public http::StreamHandler,
                       public std::enable_shared_from_this<LiveConnection> {
   public:
    // A connection that opens a dubbing stream with `options` and starts a session for
    // `user_id` when it opens; with the engine at its stream limit it closes with 1013 first.
    static std::shared_ptr<LiveConnection> ForUser(Manager& manager, DubbingEngine& engine,
                                                   int64_t user_id, StreamOptions options);
    // A connection that closes at once with `code` and `reason`.
    static std::shared_ptr<LiveConnection> Refused(Manager& manager, DubbingEngine& engine,
                                                   uint16_t code, std::string reason);

    void OnOpen(std::shared_ptr<http::Channel> channel) override;
    void OnMessage(std::string data, bool binary) override;
    void OnClose(uint16_t code) override;

    LiveConnection(Manager& manager, DubbingEngine& engine) : manager_(manager), engine_(engine) {}
    // The stream first, while the members its output uses are alive.
    ~LiveConnection() override { dubbing_.reset(); }

   private:
    void Error(const std::string& code, const std::string& detail);
    void Emit(DubbingOutput output);
    // What session.started says of the dubbing stream.
    boost::json::object Details() const;

    Manager& manager_;
    DubbingEngine& engine_;
    int64_t user_id_ = 0;
    StreamOptions options_;
    std::optional<std::pair<uint16_t, std::string>> refusal_;
    // Touched only by OnOpen, OnMessage and OnClose, which the server calls one at a time.
    std::unique_ptr<DubbingStream> dubbing_;

    std::mutex mutex_;
    std::shared_ptr<http::Channel> channel_;  // GUARDED_BY(mutex_)
    std::shared_ptr<Session> session_;        // GUARDED_BY(mutex_)
    bool closed_ = false;                     // GUARDED_BY(mutex_)
};

// BalanceStream: a browser's server-sent event stream of its user's events (balance changes,
// low-credit warnings, session ends), starting with the balance as it is.
class BalanceStream : public http::StreamHandler {
   public:
    BalanceStream(EventBus& bus, int64_t user_id, std::string initial_balance)
        : bus_(bus), user_id_(user_id), initial_(std::move(initial_balance)) {}
    void OnOpen(std::shared_ptr<http::Channel> channel) override;
    void OnMessage(std::string, bool) override {}
    void OnClose(uint16_t code) override;

   private:
    EventBus& bus_;
    const int64_t user_id_;
    const std::string initial_;
    std::mutex mutex_;
    int64_t subscription_ = 0;  // GUARDED_BY(mutex_)
};

}  // namespace beta500::live
