#include "app/loadtest.h"

#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/json.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <semaphore>
#include <string>
#include <thread>
#include <vector>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/config.h"
#include "ledger/audit.h"
#include "ledger/writer.h"
#include "live/metering.h"
#include "store/database.h"

namespace beta500 {
namespace {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace json = boost::json;
using tcp = asio::ip::tcp;
constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);

// Connection attempts in flight at once (keeps the listen backlog from overflowing).
constexpr int64_t kConnectingMax = 200;
// How long the ends of all sessions may take to arrive after the stop messages.
constexpr auto kEndTimeout = std::chrono::seconds(60);

int64_t NowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

int64_t RssKb(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::stoll(line.substr(6));
        }
    }
    return 0;
}

struct Client {
    int64_t user_id = 0;
    bool connected = false;
    bool ended = false;
    int64_t rate = 0;
    int64_t charged = -1;
    int64_t active_ms = -1;
    std::string reason;
    std::vector<int64_t> latencies_ms;
    std::shared_ptr<beast::websocket::stream<beast::tcp_stream>> ws;
};

struct Run {
    asio::io_context io;
    std::string port;
    std::string token;
    std::vector<Client> clients;
    int64_t connecting = 0;
    int64_t next = 0;
    int64_t connected = 0;
    int64_t failed = 0;
    int64_t ended = 0;
};

asio::awaitable<void> Session(Run& run, Client& client) {
    auto ws = std::make_shared<beast::websocket::stream<beast::tcp_stream>>(run.io);
    client.ws = ws;
    tcp::resolver resolver(run.io);
    auto [resolve_error, endpoints] = co_await resolver.async_resolve("127.0.0.1", run.port, kAwait);
    beast::error_code error = resolve_error;
    if (!error) {
        beast::get_lowest_layer(*ws).expires_after(std::chrono::seconds(30));
        std::tie(error, std::ignore) = co_await beast::get_lowest_layer(*ws).async_connect(endpoints, kAwait);
    }
    if (!error) {
        ws->set_option(beast::websocket::stream_base::decorator([&](beast::websocket::request_type& request) {
            request.set(beast::http::field::authorization, "Bearer " + run.token);
        }));
        std::tie(error) = co_await ws->async_handshake(
            "127.0.0.1", "/api/v1/live/dubbing?user_id=" + std::to_string(client.user_id), kAwait);
        beast::get_lowest_layer(*ws).expires_never();
    }
    --run.connecting;
    if (error) {
        ++run.failed;
        co_return;
    }
    for (;;) {
        beast::flat_buffer buffer;
        auto [read_error, bytes] = co_await ws->async_read(buffer, kAwait);
        if (read_error) {
            break;
        }
        if (ws->got_binary()) {
            continue;
        }
        const json::value event = json::parse(beast::buffers_to_string(buffer.data()));
        const auto& type = event.at("type").as_string();
        if (type == "session.started") {
            client.connected = true;
            client.rate = event.at("rate_per_minute").as_int64();
            ++run.connected;
        } else if (type == "credits.checkpoint") {
            client.latencies_ms.push_back(NowMs() - event.at("due_at_ms").as_int64());
        } else if (type == "session.ended") {
            client.ended = true;
            client.charged = event.at("charged").as_int64();
            client.active_ms = event.at("active_ms").as_int64();
            client.reason = std::string(event.at("reason").as_string());
            ++run.ended;
        }
    }
}

// Starts sessions while fewer than kConnectingMax connections are being made.
asio::awaitable<void> Launch(Run& run) {
    asio::steady_timer pause(run.io);
    while (run.next < static_cast<int64_t>(run.clients.size())) {
        if (run.connecting >= kConnectingMax) {
            pause.expires_after(std::chrono::milliseconds(2));
            co_await pause.async_wait(kAwait);
            continue;
        }
        ++run.connecting;
        asio::co_spawn(run.io, Session(run, run.clients[static_cast<size_t>(run.next++)]), asio::detached);
    }
}

int64_t Percentile(std::vector<int64_t>& values, double p) {
    if (values.empty()) {
        return -1;
    }
    std::sort(values.begin(), values.end());
    return values[std::min(values.size() - 1, static_cast<size_t>(p * static_cast<double>(values.size())))];
}

void Wait(Run& run, const std::function<bool()>& done, std::chrono::steady_clock::duration limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < deadline) {
        run.io.run_for(std::chrono::milliseconds(20));
    }
}

}  // namespace

int LoadTest(const LoadTestOptions& options) {
    if (options.sessions < 1 || options.sessions > kLoadTestSessionsMax || options.seconds < 1 ||
        options.seconds > kLoadTestSecondsMax || options.interval_seconds < 1) {
        std::fprintf(stderr, "error: sessions must be 1 to %lld, seconds 1 to %lld, interval at least 1\n",
                     static_cast<long long>(kLoadTestSessionsMax), static_cast<long long>(kLoadTestSecondsMax));
        return 2;
    }
    const auto dir = std::filesystem::temp_directory_path() / ("beta500-loadtest-" + std::to_string(::getpid()));
    std::filesystem::remove_all(dir);
    Config config;
    config.database.data_dir = dir.string();
    Run run;
    {
        // Users with plenty of credits, and a service token, before the server starts.
        SystemClock clock;
        config.database.synchronous = "normal";  // set-up speed only; the server runs durable
        auto database = std::move(*store::Database::Open(config.database, clock));
        auto writer = std::move(*ledger::Writer::Start(database->NewLedgerStore(), {}, clock, nullptr));
        std::counting_semaphore<1024> slots(1024);
        for (int64_t i = 0; i < options.sessions; ++i) {
            Client client;
            client.user_id = *database->CreateUser("load" + std::to_string(i) + "@loadtest.test", "user");
            slots.acquire();
            writer->Submit({ledger::Grant{client.user_id, 1'000'000, std::nullopt, "load test"}, "loadtest",
                            "grant-" + std::to_string(i)},
                           [&slots](ledger::Response) { slots.release(); });
            run.clients.push_back(std::move(client));
        }
        writer->Stop();
        run.token = database->CreateApiToken("service", "loadtest")->second;
    }
    // A free loopback port for the server.
    {
        tcp::acceptor probe(run.io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        run.port = std::to_string(probe.local_endpoint().port());
    }
    const pid_t server = fork();
    if (server == 0) {
        setenv("BETA500_LOG_LEVEL", "warn", 1);
        setenv("BETA500_SESSION_CHECKPOINT_INTERVAL_SECONDS", std::to_string(options.interval_seconds).c_str(), 1);
        setenv("BETA500_SERVER_CONNECTIONS_MAX", std::to_string(options.sessions + 64).c_str(), 1);
        setenv("BETA500_SESSION_CONCURRENT_MAX", "1", 1);
        // Metering under load, not speech: the echoing engine has no stream limit.
        setenv("BETA500_DUBBING_ENGINE", "passthrough", 1);
        const std::string listen = "127.0.0.1:" + run.port;
        execl("/proc/self/exe", "beta500", "serve", "--listen", listen.c_str(), "--data-dir",
              dir.c_str(), static_cast<char*>(nullptr));
        _exit(127);
    }
    // Ready when it accepts a connection.
    for (int attempt = 0; attempt < 200; ++attempt) {
        tcp::socket socket(run.io);
        beast::error_code error;
        socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<unsigned short>(std::stoi(run.port))), error);
        if (!error) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const int64_t rss_before = RssKb(server);
    const auto started = std::chrono::steady_clock::now();
    asio::co_spawn(run.io, Launch(run), asio::detached);
    const auto total = static_cast<int64_t>(run.clients.size());
    Wait(run, [&] { return run.connected + run.failed >= total; }, std::chrono::seconds(120));
    const double connect_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const int64_t rss_connected = RssKb(server);
    std::printf("connected: %lld of %lld sessions in %.1f s (%lld failed)\n",
                static_cast<long long>(run.connected), static_cast<long long>(total), connect_seconds,
                static_cast<long long>(run.failed));
    std::printf("server RSS: %lld KiB idle, %lld KiB with the sessions: %.1f KiB per session\n",
                static_cast<long long>(rss_before), static_cast<long long>(rss_connected),
                run.connected ? static_cast<double>(rss_connected - rss_before) / static_cast<double>(run.connected) : 0.0);
    Wait(run, [] { return false; }, std::chrono::seconds(options.seconds));
    for (Client& client : run.clients) {
        if (client.connected && client.ws) {
            auto ws = client.ws;
            asio::co_spawn(run.io, [ws]() -> asio::awaitable<void> {
                ws->text(true);
                co_await ws->async_write(asio::buffer(std::string(R"({"type":"stop"})")), kAwait);
            }, asio::detached);
        }
    }
    Wait(run, [&] { return run.ended >= run.connected; }, kEndTimeout);
    std::vector<int64_t> latencies;
    int64_t mismatched = 0;
    for (Client& client : run.clients) {
        latencies.insert(latencies.end(), client.latencies_ms.begin(), client.latencies_ms.end());
        if (client.connected && (!client.ended || client.charged != live::CreditsDue(client.active_ms, client.rate))) {
            ++mismatched;
        }
    }
    const size_t samples = latencies.size();
    const int64_t p50 = Percentile(latencies, 0.50);
    const int64_t p99 = Percentile(latencies, 0.99);
    std::printf("event delivery (checkpoint due to receipt): %zu events, p50 %lld ms, p99 %lld ms\n",
                samples, static_cast<long long>(p50), static_cast<long long>(p99));
    std::printf("settled: %lld of %lld sessions; %lld charges differ from floor(active_ms x rate / 60000)\n",
                static_cast<long long>(run.ended), static_cast<long long>(run.connected),
                static_cast<long long>(mismatched));
    kill(server, SIGTERM);
    int status = 0;
    waitpid(server, &status, 0);
    run.clients.clear();
    SystemClock clock;
    auto database = std::move(*store::Database::Open(config.database, clock));
    const auto report = ledger::Audit(*database->LoadAudit(int64_t{1} << 40));
    std::printf("ledger verify: %s (%zu problems)\n", report.ok() ? "ok" : "FAILED", report.problems.size());
    database.reset();
    std::filesystem::remove_all(dir);
    const bool ok = run.failed == 0 && mismatched == 0 && report.ok() && WIFEXITED(status) &&
                    WEXITSTATUS(status) == 0;
    return ok ? 0 : 1;
}

}  // namespace beta500
