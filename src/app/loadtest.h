// `beta500 loadtest`: N concurrent metered WebSocket sessions against a server it starts on
// loopback (this same binary, on a fresh data directory). Bounded in count and duration.
// Reports connect success, event delivery latency (checkpoint tick to client receipt) p50/p99,
// server RSS per session, then checks every session's charge against its active time and runs
// the ledger audit. Exit status 0 only when every check holds.
#pragma once

#include <cstdint>

namespace beta500 {

struct LoadTestOptions {
    int64_t sessions = 100;          // 1 to kLoadTestSessionsMax
    int64_t seconds = 10;            // 1 to kLoadTestSecondsMax: how long each session runs
    int64_t interval_seconds = 1;    // the server's checkpoint interval
};
inline constexpr int64_t kLoadTestSessionsMax = 20'000;
inline constexpr int64_t kLoadTestSecondsMax = 600;

int LoadTest(const LoadTestOptions& options);

}  // namespace beta500
