#include "http/server.h"

#include <spdlog/spdlog.h>

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/url.hpp>
#include <array>
#include <chrono>
#include <deque>
#include <optional>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "core/crypto.h"
#include "core/log.h"
#include "obs/metrics.h"

namespace beta500::http {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
// A client-supplied request id longer than this, or with other characters, is replaced.
constexpr size_t kRequestIdBytesMax = 64;
// Extra room given to Beast's own header check (see Serve).
constexpr int64_t kHeaderLimitSlackBytes = 1024;
// How often a draining server checks whether its connections have finished.
constexpr auto kDrainPollInterval = std::chrono::milliseconds(20);

bool ValidRequestId(std::string_view id) {
    if (id.empty() || id.size() > kRequestIdBytesMax) {
        return false;
    }
    for (char ch : id) {
        if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_' && ch != '.') {
            return false;
        }
    }
    return true;
}

std::string Lower(std::string_view text) {
    std::string out(text);
    for (char& ch : out) {
        ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    }
    return out;
}

// How often an idle event stream sends a comment, so proxies keep it and dead peers show.
constexpr auto kEventStreamKeepAlive = std::chrono::seconds(15);
// Time allowed for a WebSocket opening or closing handshake.
constexpr auto kWebSocketHandshakeTimeout = std::chrono::seconds(10);

// The server's side of one stream: a bounded outbox under a mutex, drained by a writer coroutine
// on the connection's strand, which a timer wakes.
class StreamChannel : public Channel, public std::enable_shared_from_this<StreamChannel> {
   public:
    struct Message {
        std::string data;
        bool binary = false;
    };
    using Executor = asio::any_io_executor;

    StreamChannel(Executor executor, size_t outbox_max)
        : executor_(executor), wake_(executor), outbox_max_(outbox_max) {}

    bool Send(std::string data, bool binary) override {
        {
            std::lock_guard lock(mutex_);
            if (closing_) {
                return false;
            }
            if (outbox_.size() >= outbox_max_) {
                // The client does not read: it could not take a close frame either, so the
                // connection is cut.
                closing_ = true;
                close_code_ = kClosePolicy;
                outbox_.clear();
                asio::post(executor_, [self = shared_from_this()] {
                    if (self->cut) {
                        self->cut();
                    }
                });
                return false;
            }
            outbox_.push_back({std::move(data), binary});
        }
        Wake();
        return true;
    }

    void Close(uint16_t code, std::string reason) override {
        {
            std::lock_guard lock(mutex_);
            if (closing_) {
                return;
            }
            closing_ = true;
            close_code_ = code;
            close_reason_ = std::move(reason);
        }
        Wake();
    }

    // Writer side (on the strand). The next message, or nothing when the outbox is empty.
    std::optional<Message> Next() {
        std::lock_guard lock(mutex_);
        if (outbox_.empty()) {
            return std::nullopt;
        }
        Message message = std::move(outbox_.front());
        outbox_.pop_front();
        return message;
    }
    bool closing() const {
        std::lock_guard lock(mutex_);
        return closing_;
    }
    uint16_t close_code() const {
        std::lock_guard lock(mutex_);
        return close_code_;
    }
    std::string close_reason() const {
        std::lock_guard lock(mutex_);
        return close_reason_;
    }
    // The read side saw the end: nothing more is sent.
    void Ended() {
        {
            std::lock_guard lock(mutex_);
            closing_ = true;
            outbox_.clear();
        }
        Wake();
    }
    // Waits until woken or `timeout` passes; returns whether it timed out.
    asio::awaitable<bool> Wait(std::chrono::steady_clock::duration timeout) {
        wake_.expires_after(timeout);
        auto [error] = co_await wake_.async_wait(kAwait);
        co_return !error;
    }
    // Cuts the connection (set by the server; runs on the strand).
    std::function<void()> cut;

   private:
    void Wake() {
        asio::post(executor_, [self = shared_from_this()] { self->wake_.cancel(); });
    }

    Executor executor_;
    asio::steady_timer wake_;  // strand only
    const size_t outbox_max_;
    mutable std::mutex mutex_;
    std::deque<Message> outbox_;  // GUARDED_BY(mutex_)
    bool closing_ = false;        // GUARDED_BY(mutex_)
    uint16_t close_code_ = kCloseNormal;  // GUARDED_BY(mutex_)
    std::string close_reason_;    // GUARDED_BY(mutex_)
};

// One connection's shared bits, so Shutdown can interrupt a connection waiting for a request
// and close its stream.
struct Connection {
    explicit Connection(tcp::socket socket) : stream(std::move(socket)) {}
    beast::tcp_stream stream;
    std::atomic<bool> reading{false};
    std::mutex channel_mutex;
    std::weak_ptr<StreamChannel> channel;  // GUARDED_BY(channel_mutex)
};

// Calls `handler` and completes with its response, resumed on the caller's executor.
template <typename Token>
auto AsyncHandle(const Handler& handler, HttpRequest request, Token&& token) {
    return asio::async_initiate<Token, void(HttpResponse)>(
        [&handler](auto completion, HttpRequest req) {
            using Completion = decltype(completion);
            struct Pending {
                explicit Pending(Completion c)
                    : completion(std::move(c)),
                      work(asio::make_work_guard(asio::get_associated_executor(completion))) {}
                Completion completion;
                asio::executor_work_guard<asio::associated_executor_t<Completion>> work;
                std::atomic<bool> answered{false};
            };
            auto pending = std::make_shared<Pending>(std::move(completion));
            Respond respond = [pending](HttpResponse response) {
                if (pending->answered.exchange(true)) {
                    spdlog::error("msg=\"handler responded twice\"");
                    return;
                }
                auto executor = pending->work.get_executor();
                asio::post(executor, [pending, response = std::move(response)]() mutable {
                    pending->completion(std::move(response));
                    pending->work.reset();
                });
            };
            const std::string path = req.path;
            try {
                handler(std::move(req), respond);
            } catch (const std::exception& error) {
                spdlog::error("msg=\"handler failed\" path={} error={}", LogQuote(path),
                              LogQuote(error.what()));
                respond(ProblemResponse({500, "internal", "the server failed to handle the request"}));
            }
        },
        token, std::move(request));
}

// Completion for co_spawn: logs an escaped exception (connections and jobs never die silently).
auto LogFailure(const char* what) {
    return [what](std::exception_ptr failure) {
        if (failure) {
            try {
                std::rethrow_exception(failure);
            } catch (const std::exception& error) {
                spdlog::error("msg={} error={}", LogQuote(what), LogQuote(error.what()));
            }
        }
    };
}

}  // namespace

struct Server::Impl {
    Impl(const Config::Server& server_config, const Router& server_router, obs::Registry& registry)
        : config(server_config),
          router(server_router),
          metrics(registry),
          strand(asio::make_strand(io)),
          acceptor(strand),
          open_connections(registry.GetGauge("beta500_http_connections", "Open HTTP connections.")),
          refused_connections(registry.GetCounter("beta500_http_connections_refused_total",
                                                  "Connections refused at the connection limit.")) {}

    asio::awaitable<void> Accept();
    asio::awaitable<void> Refuse(tcp::socket socket);
    asio::awaitable<void> Serve(std::shared_ptr<Connection> connection);
    asio::awaitable<HttpResponse> Dispatch(bhttp::request<bhttp::string_body>& message,
                                           const std::string& request_id, const std::string& remote,
                                           std::string& route);
    asio::awaitable<void> Drain();
    // Serve the connection as a WebSocket or an event stream, until it ends.
    asio::awaitable<void> ServeWebSocket(std::shared_ptr<Connection> connection,
                                         bhttp::request<bhttp::string_body> upgrade,
                                         std::shared_ptr<StreamHandler> handler);
    asio::awaitable<void> ServeEventStream(std::shared_ptr<Connection> connection,
                                           std::string request_id,
                                           std::shared_ptr<StreamHandler> handler);
    std::shared_ptr<StreamChannel> OpenChannel(Connection& connection);
    void Record(const std::string& route, const std::string& method, int status, double seconds);

    const Config::Server config;
    const Router& router;
    obs::Registry& metrics;
    asio::io_context io;
    // The acceptor is used by Accept and Drain, both on this strand.
    asio::strand<asio::io_context::executor_type> strand;
    tcp::acceptor acceptor;
    std::atomic<int64_t> connections{0};
    std::atomic<bool> draining{false};
    obs::Gauge& open_connections;
    obs::Counter& refused_connections;

    std::mutex live_mutex;
    std::unordered_map<Connection*, std::weak_ptr<Connection>> live;  // GUARDED_BY(live_mutex)
};

void Server::Impl::Record(const std::string& route, const std::string& method, int status,
                          double seconds) {
    // Each network thread keeps its own map to the registry's series: no lock per request.
    // The key names the registry too, in case a process runs more than one server.
    thread_local std::unordered_map<std::string, std::pair<obs::Counter*, obs::Histogram*>> series;
    const std::string key = std::to_string(reinterpret_cast<uintptr_t>(&metrics)) + '\n' + route +
                            '\n' + method + '\n' + std::to_string(status);
    auto found = series.find(key);
    if (found == series.end()) {
        auto& counter = metrics.GetCounter(
            "beta500_http_requests_total", "HTTP requests by route, method and status.",
            {{"route", route}, {"method", method}, {"status", std::to_string(status)}});
        auto& histogram = metrics.GetHistogram("beta500_http_request_duration_seconds",
                                               "HTTP request latency by route.",
                                               obs::LatencyBuckets(), {{"route", route}});
        found = series.emplace(key, std::make_pair(&counter, &histogram)).first;
    }
    found->second.first->Inc();
    found->second.second->Observe(seconds);
}

asio::awaitable<HttpResponse> Server::Impl::Dispatch(bhttp::request<bhttp::string_body>& message,
                                                     const std::string& request_id,
                                                     const std::string& remote, std::string& route) {
    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    request.request_id = request_id;
    request.remote_address = remote;
    auto parsed = boost::urls::parse_origin_form(message.target());
    if (!parsed) {
        route = "invalid";
        co_return ProblemResponse({400, "invalid_target", "the request target is not a valid path"});
    }
    request.path = parsed->path();
    for (const auto& param : parsed->params()) {
        request.query.emplace(param.key, param.value);
    }
    request.headers.reserve(static_cast<size_t>(std::distance(message.begin(), message.end())));
    for (const auto& field : message) {
        request.headers.emplace_back(Lower(field.name_string()), std::string(field.value()));
    }
    request.body = std::move(message.body());
    Match match = router.Find(request.method, request.path);
    if (match.route == nullptr) {
        route = "unmatched";
        if (match.allowed.empty()) {
            co_return ProblemResponse({404, "not_found", "no such resource"}, &request);
        }
        std::string allow;
        for (const auto& method : match.allowed) {
            allow += (allow.empty() ? "" : ", ") + method;
        }
        HttpResponse response = ProblemResponse(
            {405, "method_not_allowed", "this resource does not support " + request.method}, &request);
        response.headers.emplace_back("Allow", allow);
        co_return response;
    }
    route = match.route->pattern;
    request.params = std::move(match.params);
    co_return co_await AsyncHandle(match.route->handler, std::move(request), asio::use_awaitable);
}

asio::awaitable<void> Server::Impl::Serve(std::shared_ptr<Connection> connection) {
    auto& stream = connection->stream;
    beast::error_code ignored;
    const auto endpoint = stream.socket().remote_endpoint(ignored);
    const std::string remote = endpoint.address().to_string();
    beast::flat_buffer buffer;
    for (;;) {
        bhttp::request_parser<bhttp::string_body> parser;
        // Beast bounds the request line and the fields separately; the slack keeps its check
        // from firing first, and the exact limit on the whole header is checked below.
        parser.header_limit(static_cast<uint32_t>(config.header_bytes_max + kHeaderLimitSlackBytes));
        parser.body_limit(static_cast<uint64_t>(config.body_bytes_max));
        stream.expires_after(std::chrono::seconds(config.idle_timeout_seconds));
        connection->reading = true;
        if (draining) {
            break;
        }
        auto [read_error, header_bytes] = co_await bhttp::async_read_header(stream, buffer, parser, kAwait);
        if (!read_error && header_bytes > static_cast<size_t>(config.header_bytes_max)) {
            read_error = bhttp::error::header_limit;
        }
        if (!read_error && !parser.is_done()) {
            auto [body_error, body_bytes] = co_await bhttp::async_read(stream, buffer, parser, kAwait);
            read_error = body_error;
        }
        connection->reading = false;
        const auto started = std::chrono::steady_clock::now();
        std::string request_id;
        if (!read_error) {
            const auto supplied = parser.get()["X-Request-Id"];
            request_id = ValidRequestId(supplied) ? std::string(supplied) : RandomToken(12);
        } else {
            request_id = RandomToken(12);
        }
        HttpResponse response;
        std::string route;
        bool keep_alive = false;
        std::string method = "-";
        if (!read_error) {
            auto& message = parser.get();
            method = std::string(message.method_string());
            keep_alive = message.keep_alive() && !draining;
            response = co_await Dispatch(message, request_id, remote, route);
            if (response.stream && response.stream_kind == StreamKind::kWebSocket &&
                !beast::websocket::is_upgrade(message)) {
                response = ProblemResponse(
                    {426, "upgrade_required", "this resource is a WebSocket: send an upgrade request"});
                response.headers.emplace_back("Upgrade", "websocket");
            }
            if (response.stream) {
                const int status = response.stream_kind == StreamKind::kWebSocket ? 101 : 200;
                Record(route, method, status, 0);
                spdlog::info("msg=\"stream opened\" request_id={} remote={} route={} status={}",
                             request_id, remote, LogQuote(route), status);
                if (response.stream_kind == StreamKind::kWebSocket) {
                    co_await ServeWebSocket(connection, parser.release(), std::move(response.stream));
                } else {
                    co_await ServeEventStream(connection, request_id, std::move(response.stream));
                }
                co_return;
            }
        } else if (read_error == bhttp::error::body_limit) {
            route = "rejected";
            response = ProblemResponse({413, "payload_too_large",
                                        "the request body exceeds " +
                                            std::to_string(config.body_bytes_max) + " bytes"});
        } else if (read_error == bhttp::error::header_limit) {
            route = "rejected";
            response = ProblemResponse({431, "headers_too_large",
                                        "the request line and headers exceed " +
                                            std::to_string(config.header_bytes_max) + " bytes"});
        } else if (read_error == bhttp::error::end_of_stream || read_error == beast::error::timeout ||
                   read_error == asio::error::operation_aborted ||
                   read_error == asio::error::connection_reset || parser.got_some() == false) {
            break;  // the peer left, went idle, or the server is shutting down
        } else {
            route = "rejected";
            response = ProblemResponse({400, "malformed_request", "the request is not valid HTTP/1.1"});
        }
        bhttp::response<bhttp::string_body> out{static_cast<bhttp::status>(response.status), 11};
        out.set(bhttp::field::content_type, response.content_type);
        out.set("X-Request-Id", request_id);
        out.set(bhttp::field::cache_control, "no-store");
        out.set("X-Content-Type-Options", "nosniff");
        for (const auto& [name, value] : response.headers) {
            // Set-Cookie may repeat (RFC 6265 section 3); other fields replace the defaults above.
            if (boost::beast::iequals(name, "set-cookie")) {
                out.insert(name, value);
            } else {
                out.set(name, value);
            }
        }
        out.body() = std::move(response.body);
        out.keep_alive(keep_alive);
        out.prepare_payload();
        stream.expires_after(std::chrono::seconds(config.idle_timeout_seconds));
        auto [write_error, written] = co_await bhttp::async_write(stream, out, kAwait);
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
        Record(route, method, response.status, seconds);
        spdlog::info("msg=request request_id={} remote={} method={} route={} status={} duration_ms={:.3f}",
                     request_id, remote, method, LogQuote(route), response.status, seconds * 1000);
        if (write_error || !keep_alive) {
            break;
        }
    }
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream.socket().close(ignored);
}

std::shared_ptr<StreamChannel> Server::Impl::OpenChannel(Connection& connection) {
    auto channel = std::make_shared<StreamChannel>(connection.stream.get_executor(),
                                                   static_cast<size_t>(config.stream_outbox_max));
    std::lock_guard lock(connection.channel_mutex);
    connection.channel = channel;
    return channel;
}

asio::awaitable<void> Server::Impl::ServeWebSocket(std::shared_ptr<Connection> connection,
                                                   bhttp::request<bhttp::string_body> upgrade,
                                                   std::shared_ptr<StreamHandler> handler) {
    namespace websocket = beast::websocket;
    auto ws = std::make_shared<websocket::stream<beast::tcp_stream>>(std::move(connection->stream));
    beast::get_lowest_layer(*ws).expires_never();
    websocket::stream_base::timeout timeouts{};
    timeouts.handshake_timeout = kWebSocketHandshakeTimeout;
    timeouts.idle_timeout = std::chrono::seconds(config.idle_timeout_seconds);
    timeouts.keep_alive_pings = true;  // a ping at half the idle time keeps a quiet client
    ws->set_option(timeouts);
    ws->read_message_max(static_cast<uint64_t>(config.ws_message_bytes_max));
    auto [accept_error] = co_await ws->async_accept(upgrade, kAwait);
    if (accept_error) {
        co_return;
    }
    auto channel = OpenChannel(*connection);
    channel->cut = [ws] {
        beast::error_code ignored;
        beast::get_lowest_layer(*ws).socket().close(ignored);
    };
    handler->OnOpen(channel);
    asio::co_spawn(
        ws->get_executor(),
        [ws, channel]() -> asio::awaitable<void> {
            for (;;) {
                if (auto message = channel->Next()) {
                    ws->binary(message->binary);
                    auto [error, sent] = co_await ws->async_write(asio::buffer(message->data), kAwait);
                    if (error) {
                        break;
                    }
                    continue;
                }
                if (channel->closing()) {
                    if (ws->is_open()) {
                        websocket::close_reason reason(channel->close_code());
                        reason.reason = channel->close_reason().substr(0, 123);
                        co_await ws->async_close(reason, kAwait);
                    }
                    break;
                }
                co_await channel->Wait(std::chrono::hours(24));
            }
        },
        LogFailure("websocket writer failed"));
    // Messages per whole second, against the limit.
    int64_t window = -1;
    int64_t in_window = 0;
    uint16_t code = kCloseAbnormal;
    for (;;) {
        beast::flat_buffer buffer;
        auto [error, bytes] = co_await ws->async_read(buffer, kAwait);
        if (error) {
            if (channel->closing()) {
                code = channel->close_code();
            } else if (error == websocket::error::closed) {
                code = ws->reason().code;
            } else if (error == websocket::error::message_too_big) {
                code = kCloseTooBig;
            }
            break;
        }
        const int64_t second = std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::steady_clock::now().time_since_epoch())
                                   .count();
        in_window = second == window ? in_window + 1 : 1;
        window = second;
        if (in_window > config.ws_messages_per_second) {
            channel->Close(kClosePolicy, "message rate limit exceeded");
        }
        if (!channel->closing()) {
            handler->OnMessage(beast::buffers_to_string(buffer.data()), ws->got_binary());
        }
    }
    channel->Ended();
    handler->OnClose(code);
}

asio::awaitable<void> Server::Impl::ServeEventStream(std::shared_ptr<Connection> connection,
                                                     std::string request_id,
                                                     std::shared_ptr<StreamHandler> handler) {
    auto& stream = connection->stream;
    stream.expires_never();
    auto channel = OpenChannel(*connection);
    channel->cut = [connection] {
        beast::error_code ignored;
        connection->stream.socket().close(ignored);
    };
    // The body is delimited by the connection's end, so events go out as they are.
    std::string head =
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n"
        "X-Content-Type-Options: nosniff\r\nConnection: close\r\nX-Request-Id: " +
        request_id + "\r\n\r\n";
    auto [head_error, head_bytes] = co_await asio::async_write(stream, asio::buffer(head), kAwait);
    if (head_error) {
        co_return;
    }
    handler->OnOpen(channel);
    // The client sends nothing more: a read completes when it leaves.
    asio::co_spawn(
        stream.get_executor(),
        [connection, channel]() -> asio::awaitable<void> {
            std::array<char, 512> ignored;
            co_await connection->stream.async_read_some(asio::buffer(ignored), kAwait);
            channel->Ended();
        },
        LogFailure("event stream reader failed"));
    for (;;) {
        if (auto message = channel->Next()) {
            auto [error, sent] = co_await asio::async_write(stream, asio::buffer(message->data), kAwait);
            if (error) {
                break;
            }
            continue;
        }
        if (channel->closing()) {
            break;
        }
        if (co_await channel->Wait(kEventStreamKeepAlive)) {
            static const std::string kKeepAlive = ": keep-alive\n\n";
            auto [error, sent] = co_await asio::async_write(stream, asio::buffer(kKeepAlive), kAwait);
            if (error) {
                break;
            }
        }
    }
    const uint16_t code = channel->close_code();
    channel->Ended();
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.socket().close(ignored);
    handler->OnClose(code);
}

asio::awaitable<void> Server::Impl::Refuse(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    stream.expires_after(std::chrono::seconds(1));
    HttpResponse problem = ProblemResponse(
        {503, "too_many_connections", "the server is at its connection limit; retry shortly"});
    bhttp::response<bhttp::string_body> out{bhttp::status::service_unavailable, 11};
    out.set(bhttp::field::content_type, problem.content_type);
    out.set(bhttp::field::retry_after, "1");
    out.body() = std::move(problem.body);
    out.keep_alive(false);
    out.prepare_payload();
    co_await bhttp::async_write(stream, out, kAwait);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
}

asio::awaitable<void> Server::Impl::Accept() {
    for (;;) {
        auto [error, socket] = co_await acceptor.async_accept(asio::make_strand(io), kAwait);
        if (error) {
            if (error == asio::error::operation_aborted || !acceptor.is_open()) {
                co_return;
            }
            spdlog::warn("msg=\"accept failed\" error={}", LogQuote(error.message()));
            // Out of descriptors and the like: pause rather than spin.
            asio::steady_timer pause(io, std::chrono::milliseconds(50));
            co_await pause.async_wait(kAwait);
            continue;
        }
        auto executor = socket.get_executor();
        if (connections.load() >= config.connections_max) {
            refused_connections.Inc();
            asio::co_spawn(executor, Refuse(std::move(socket)), LogFailure("refusal failed"));
            continue;
        }
        open_connections.Set(++connections);
        auto connection = std::make_shared<Connection>(std::move(socket));
        {
            std::lock_guard lock(live_mutex);
            live.emplace(connection.get(), connection);
        }
        asio::co_spawn(executor, Serve(connection), [this, raw = connection.get()](std::exception_ptr failure) {
            LogFailure("connection failed")(failure);
            {
                std::lock_guard lock(live_mutex);
                live.erase(raw);
            }
            open_connections.Set(--connections);
        });
    }
}

asio::awaitable<void> Server::Impl::Drain() {
    beast::error_code ignored;
    acceptor.close(ignored);
    // Connections waiting for a next request are closed; requests in flight finish.
    {
        std::lock_guard lock(live_mutex);
        for (auto& [raw, weak] : live) {
            if (auto connection = weak.lock()) {
                asio::post(connection->stream.get_executor(), [connection] {
                    if (connection->reading) {
                        connection->stream.cancel();
                    }
                });
                std::lock_guard channel_lock(connection->channel_mutex);
                if (auto channel = connection->channel.lock()) {
                    channel->Close(kCloseGoingAway, "server shutting down");
                }
            }
        }
    }
    const auto deadline =
        std::chrono::steady_clock::now() + std::chrono::seconds(config.shutdown_grace_seconds);
    asio::steady_timer timer(io);
    while (connections.load() > 0 && std::chrono::steady_clock::now() < deadline) {
        timer.expires_after(kDrainPollInterval);
        co_await timer.async_wait(kAwait);
    }
    if (connections.load() > 0) {
        spdlog::warn("msg=\"shutdown grace period over\" open_connections={}", connections.load());
    }
    io.stop();
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() = default;

Result<std::unique_ptr<Server>> Server::Bind(const Config::Server& config, const Router& router,
                                             obs::Registry& metrics) {
    auto impl = std::make_unique<Impl>(config, router, metrics);
    const std::string& listen = config.listen;
    const auto colon = listen.rfind(':');
    std::string host = listen.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    boost::system::error_code error;
    const auto address = asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, error);
    int port = -1;
    try {
        port = std::stoi(listen.substr(colon + 1));
    } catch (const std::exception&) {
    }
    if (error || port < 0 || port > 65535) {
        return Error{ErrorCode::kInvalidArgument, "cannot parse listen address " + listen};
    }
    const tcp::endpoint endpoint(address, static_cast<unsigned short>(port));
    impl->acceptor.open(endpoint.protocol(), error);
    if (!error) {
        impl->acceptor.set_option(asio::socket_base::reuse_address(true), error);
    }
    if (!error) {
        impl->acceptor.bind(endpoint, error);
    }
    if (!error) {
        impl->acceptor.listen(asio::socket_base::max_listen_connections, error);
    }
    if (error) {
        return Error{ErrorCode::kUnavailable, "cannot listen on " + listen + ": " + error.message()};
    }
    return std::unique_ptr<Server>(new Server(std::move(impl)));
}

std::string Server::address() const {
    boost::system::error_code error;
    const auto endpoint = impl_->acceptor.local_endpoint(error);
    if (error) {
        return "";
    }
    const auto address = endpoint.address();
    return (address.is_v6() ? "[" + address.to_string() + "]" : address.to_string()) + ":" +
           std::to_string(endpoint.port());
}

void Server::Run(int threads) {
    asio::co_spawn(impl_->strand, impl_->Accept(), LogFailure("accept loop failed"));
    std::vector<std::thread> extra;
    for (int i = 1; i < threads; ++i) {
        extra.emplace_back([this] { impl_->io.run(); });
    }
    impl_->io.run();
    for (auto& thread : extra) {
        thread.join();
    }
}

void Server::Shutdown() {
    if (impl_->draining.exchange(true)) {
        return;
    }
    asio::co_spawn(impl_->strand, impl_->Drain(), LogFailure("shutdown failed"));
}

bool Server::draining() const { return impl_->draining.load(); }

}  // namespace beta500::http
