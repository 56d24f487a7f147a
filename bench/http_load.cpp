// http_load: a small HTTP/1.1 keep-alive load generator for loopback benchmarks (no Beast, so
// it builds fast and stays out of the server's code paths).
//
// Usage: http_load PORT METHOD PATH TOKEN CONNECTIONS SECONDS RATE [BODY_TEMPLATE]
//   RATE 0 runs closed-loop (each connection sends its next request when the last answers);
//   RATE > 0 paces requests open-loop at RATE per second in total, and measures each latency
//   from its scheduled send time, so a stall is not hidden (no coordinated omission).
//   BODY_TEMPLATE may contain {user}, replaced by a user id from 1 to 64.
// Every request carries a unique Idempotency-Key. Prints requests, rate, statuses, latencies.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kUsers = 64;

struct Options {
    int port = 0;
    std::string method;
    std::string path;
    std::string token;
    int connections = 0;
    double seconds = 0;
    double rate = 0;
    std::string body_template;
};

struct Results {
    std::vector<double> latencies_ms;
    std::map<int, int64_t> statuses;
    int64_t errors = 0;
};

int Connect(int port) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

// Reads one response; returns its status, or -1 when the connection failed.
int ReadResponse(int fd, std::string& buffer) {
    for (;;) {
        const auto end = buffer.find("\r\n\r\n");
        if (end != std::string::npos) {
            size_t length = 0;
            const auto at = buffer.find("Content-Length: ");
            if (at != std::string::npos && at < end) {
                length = std::stoul(buffer.substr(at + 16));
            }
            if (buffer.size() >= end + 4 + length) {
                const int status = std::atoi(buffer.c_str() + 9);
                buffer.erase(0, end + 4 + length);
                return status;
            }
        }
        char chunk[16384];
        const ssize_t got = recv(fd, chunk, sizeof chunk, 0);
        if (got <= 0) {
            return -1;
        }
        buffer.append(chunk, static_cast<size_t>(got));
    }
}

void RunConnection(const Options& options, int index, Clock::time_point start, Results& results) {
    const int fd = Connect(options.port);
    if (fd < 0) {
        ++results.errors;
        return;
    }
    const auto end = start + std::chrono::duration<double>(options.seconds);
    const double interval_s = options.rate > 0 ? options.connections / options.rate : 0;
    std::string buffer;
    for (int64_t i = 0;; ++i) {
        auto scheduled = Clock::now();
        if (interval_s > 0) {
            scheduled = start + std::chrono::duration_cast<Clock::duration>(
                                    std::chrono::duration<double>(interval_s * static_cast<double>(i) +
                                                                  interval_s * index / options.connections));
            std::this_thread::sleep_until(scheduled);
        }
        if (scheduled >= end) {
            break;
        }
        std::string body = options.body_template;
        if (const auto at = body.find("{user}"); at != std::string::npos) {
            body.replace(at, 6, std::to_string(1 + (i * options.connections + index) % kUsers));
        }
        std::string request = options.method + " " + options.path + " HTTP/1.1\r\nHost: bench\r\n";
        request += "Authorization: Bearer " + options.token + "\r\n";
        request += "Idempotency-Key: load-" + std::to_string(start.time_since_epoch().count()) + "-" +
                   std::to_string(index) + "-" + std::to_string(i) + "\r\n";
        if (!body.empty()) {
            request += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
        }
        request += "\r\n" + body;
        if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) {
            ++results.errors;
            break;
        }
        const int status = ReadResponse(fd, buffer);
        if (status < 0) {
            ++results.errors;
            break;
        }
        results.latencies_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - scheduled).count());
        ++results.statuses[status];
    }
    close(fd);
}

double Percentile(std::vector<double>& sorted, double p) {
    if (sorted.empty()) {
        return 0;
    }
    const size_t at = std::min(sorted.size() - 1, static_cast<size_t>(p * static_cast<double>(sorted.size())));
    return sorted[at];
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 8) {
        std::fprintf(stderr, "usage: http_load PORT METHOD PATH TOKEN CONNECTIONS SECONDS RATE [BODY]\n");
        return 2;
    }
    Options options{std::atoi(argv[1]), argv[2], argv[3], argv[4], std::atoi(argv[5]),
                    std::atof(argv[6]), std::atof(argv[7]), argc > 8 ? argv[8] : ""};
    std::vector<Results> results(static_cast<size_t>(options.connections));
    std::vector<std::thread> threads;
    const auto start = Clock::now() + std::chrono::milliseconds(50);
    for (int i = 0; i < options.connections; ++i) {
        threads.emplace_back(RunConnection, std::cref(options), i, start, std::ref(results[static_cast<size_t>(i)]));
    }
    for (auto& thread : threads) {
        thread.join();
    }
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    Results all;
    for (auto& one : results) {
        all.latencies_ms.insert(all.latencies_ms.end(), one.latencies_ms.begin(), one.latencies_ms.end());
        for (auto [status, count] : one.statuses) {
            all.statuses[status] += count;
        }
        all.errors += one.errors;
    }
    std::sort(all.latencies_ms.begin(), all.latencies_ms.end());
    std::printf("requests=%zu seconds=%.2f rate=%.0f/s p50_ms=%.3f p99_ms=%.3f max_ms=%.3f errors=%lld statuses=",
                all.latencies_ms.size(), elapsed, static_cast<double>(all.latencies_ms.size()) / elapsed,
                Percentile(all.latencies_ms, 0.5), Percentile(all.latencies_ms, 0.99),
                all.latencies_ms.empty() ? 0 : all.latencies_ms.back(), static_cast<long long>(all.errors));
    for (auto [status, count] : all.statuses) {
        std::printf("%d:%lld ", status, static_cast<long long>(count));
    }
    std::printf("\n");
    return all.errors > 0 ? 1 : 0;
}
