// Long-lived connections a handler keeps after the HTTP exchange: WebSocket (RFC 6455) and
// server-sent events. A handler answers with HttpResponse::stream set; the server then upgrades
// (or starts the event stream), hands the handler a Channel, and reports what the client sends
// and when the connection ends. Handler code never sees Beast.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace beta500::http {

// WebSocket close codes this server sends itself (RFC 6455 section 7.4.1).
inline constexpr uint16_t kCloseNormal = 1000;
inline constexpr uint16_t kCloseGoingAway = 1001;
inline constexpr uint16_t kClosePolicy = 1008;
inline constexpr uint16_t kCloseTooBig = 1009;
inline constexpr uint16_t kCloseInternal = 1011;
inline constexpr uint16_t kCloseTryAgainLater = 1013;
// Said when the connection ended without a close frame (RFC 6455's 1006, never sent).
inline constexpr uint16_t kCloseAbnormal = 1006;

// The server's side of one open stream. Thread-safe; no call blocks.
class Channel {
   public:
    virtual ~Channel() = default;
    // Queues a message: a WebSocket text or binary message, or an event-stream chunk (see
    // SseEvent). Returns false if the stream is closing, or if the client let the outbox fill
    // up: a reader that slow is dropped (WebSocket close 1008).
    virtual bool Send(std::string data, bool binary = false) = 0;
    // Sends what is queued, then closes (a WebSocket with this code and reason, at most 123
    // bytes; an event stream just ends). Later calls do nothing.
    virtual void Close(uint16_t code, std::string reason) = 0;
};

// The handler's side. Calls for one stream never overlap; they come from a network thread, so
// keep them short.
class StreamHandler {
   public:
    virtual ~StreamHandler() = default;
    virtual void OnOpen(std::shared_ptr<Channel> channel) = 0;
    // A whole WebSocket message (never called for event streams).
    virtual void OnMessage(std::string data, bool binary) = 0;
    // The stream ended, whoever ended it: the close code received or sent, or kCloseAbnormal.
    // Called exactly once, after OnOpen.
    virtual void OnClose(uint16_t code) = 0;
};

enum class StreamKind { kWebSocket, kEventStream };

// One server-sent event: `event: <name>` and its data (one line, e.g. JSON).
std::string SseEvent(std::string_view name, std::string_view data);

}  // namespace beta500::http
