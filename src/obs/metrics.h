// Registry: Prometheus metrics (counters, gauges, histograms) rendered in the text exposition
// format for GET /metrics. Thread-safe: creation takes a mutex, updates are atomic, so hot paths
// keep the returned reference (which lives as long as the registry).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace beta500::obs {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
   public:
    void Inc(int64_t delta = 1) { value_.fetch_add(delta, std::memory_order_relaxed); }
    int64_t value() const { return value_.load(std::memory_order_relaxed); }

   private:
    std::atomic<int64_t> value_{0};
};

class Gauge {
   public:
    void Set(int64_t value) { value_.store(value, std::memory_order_relaxed); }
    int64_t value() const { return value_.load(std::memory_order_relaxed); }

   private:
    std::atomic<int64_t> value_{0};
};

class Histogram {
   public:
    explicit Histogram(std::vector<double> bounds);
    void Observe(double value);
    std::string Render(const std::string& name, const std::string& labels) const;

   private:
    const std::vector<double> bounds_;
    std::unique_ptr<std::atomic<int64_t>[]> counts_;  // one per bound, plus +Inf
    std::atomic<int64_t> count_{0};
    std::atomic<int64_t> sum_micros_{0};  // sum in millionths of the unit
};

// Bucket bounds in seconds for request and commit latencies: 100 us to 5 s.
std::vector<double> LatencyBuckets();
// Bucket bounds for sizes (batch sizes, queue depths): powers of 4 up to 65536.
std::vector<double> SizeBuckets();

class Registry {
   public:
    Counter& GetCounter(const std::string& name, const std::string& help, const Labels& labels = {});
    Gauge& GetGauge(const std::string& name, const std::string& help, const Labels& labels = {});
    Histogram& GetHistogram(const std::string& name, const std::string& help,
                            std::vector<double> bounds, const Labels& labels = {});
    std::string Render() const;

   private:
    struct Family {
        std::string help;
        std::string type;
        std::map<std::string, std::unique_ptr<Counter>> counters;
        std::map<std::string, std::unique_ptr<Gauge>> gauges;
        std::map<std::string, std::unique_ptr<Histogram>> histograms;
    };
    Family& GetFamily(const std::string& name, const std::string& help, const char* type);

    mutable std::mutex mutex_;
    std::map<std::string, Family> families_;  // GUARDED_BY(mutex_)
};

}  // namespace beta500::obs
