// Clock: the source of wall-clock time, injected so tests can move time by hand.
// SystemClock is thread-safe; ManualClock is thread-safe (an atomic).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

namespace beta500 {

class Clock {
   public:
    virtual ~Clock() = default;
    // Milliseconds since the Unix epoch, UTC.
    virtual int64_t NowMs() const = 0;
};

class SystemClock final : public Clock {
   public:
    int64_t NowMs() const override;
};

class ManualClock final : public Clock {
   public:
    explicit ManualClock(int64_t now_ms) : now_ms_(now_ms) {}
    int64_t NowMs() const override { return now_ms_.load(); }
    void Advance(int64_t delta_ms) { now_ms_ += delta_ms; }
    void Set(int64_t now_ms) { now_ms_ = now_ms; }

   private:
    std::atomic<int64_t> now_ms_;
};

// RFC 3339 UTC with milliseconds, e.g. 2026-11-28T13:50:02.123Z.
std::string FormatRfc3339(int64_t epoch_ms);
// Parses RFC 3339 (Z or +hh:mm offset, optional fraction). Returns false on bad input.
bool ParseRfc3339(std::string_view text, int64_t& epoch_ms);

}  // namespace beta500
