#include "obs/metrics.h"

#include <sstream>

#include "core/assert.h"

namespace beta500::obs {
namespace {

std::string RenderLabels(const Labels& labels) {
    std::string out;
    for (const auto& [key, value] : labels) {
        out += out.empty() ? "" : ",";
        out += key + "=\"";
        for (char ch : value) {
            if (ch == '"' || ch == '\\') {
                out.push_back('\\');
            }
            out.push_back(ch == '\n' ? ' ' : ch);
        }
        out += "\"";
    }
    return out;
}

std::string FormatDouble(double value) {
    std::ostringstream out;
    out << value;
    return out.str();
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<int64_t>[bounds_.size() + 1]) {
    for (size_t i = 0; i <= bounds_.size(); ++i) {
        counts_[i] = 0;
    }
}

void Histogram::Observe(double value) {
    size_t bucket = 0;
    while (bucket < bounds_.size() && value > bounds_[bucket]) {
        ++bucket;
    }
    counts_[bucket].fetch_add(1, std::memory_order_relaxed);
    count_.fetch_add(1, std::memory_order_relaxed);
    sum_micros_.fetch_add(static_cast<int64_t>(value * 1e6), std::memory_order_relaxed);
}

std::string Histogram::Render(const std::string& name, const std::string& labels) const {
    std::string out;
    const std::string prefix = labels.empty() ? "" : labels + ",";
    int64_t cumulative = 0;
    for (size_t i = 0; i <= bounds_.size(); ++i) {
        cumulative += counts_[i].load(std::memory_order_relaxed);
        const std::string bound = i < bounds_.size() ? FormatDouble(bounds_[i]) : "+Inf";
        out += name + "_bucket{" + prefix + "le=\"" + bound + "\"} " + std::to_string(cumulative) + "\n";
    }
    const std::string braces = labels.empty() ? "" : "{" + labels + "}";
    out += name + "_sum" + braces + " " +
           FormatDouble(static_cast<double>(sum_micros_.load()) / 1e6) + "\n";
    out += name + "_count" + braces + " " + std::to_string(count_.load()) + "\n";
    return out;
}

std::vector<double> LatencyBuckets() {
    return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5};
}

std::vector<double> SizeBuckets() {
    return {1, 4, 16, 64, 256, 1024, 4096, 16384, 65536};
}

Registry::Family& Registry::GetFamily(const std::string& name, const std::string& help,
                                      const char* type) {
    Family& family = families_[name];
    if (family.type.empty()) {
        family.help = help;
        family.type = type;
    }
    B5_ASSERT(family.type == type, "metric registered with two types");
    return family;
}

Counter& Registry::GetCounter(const std::string& name, const std::string& help, const Labels& labels) {
    std::lock_guard lock(mutex_);
    auto& slot = GetFamily(name, help, "counter").counters[RenderLabels(labels)];
    if (!slot) {
        slot = std::make_unique<Counter>();
    }
    return *slot;
}

Gauge& Registry::GetGauge(const std::string& name, const std::string& help, const Labels& labels) {
    std::lock_guard lock(mutex_);
    auto& slot = GetFamily(name, help, "gauge").gauges[RenderLabels(labels)];
    if (!slot) {
        slot = std::make_unique<Gauge>();
    }
    return *slot;
}

Histogram& Registry::GetHistogram(const std::string& name, const std::string& help,
                                  std::vector<double> bounds, const Labels& labels) {
    std::lock_guard lock(mutex_);
    auto& slot = GetFamily(name, help, "histogram").histograms[RenderLabels(labels)];
    if (!slot) {
        slot = std::make_unique<Histogram>(std::move(bounds));
    }
    return *slot;
}

std::string Registry::Render() const {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& [name, family] : families_) {
        out += "# HELP " + name + " " + family.help + "\n# TYPE " + name + " " + family.type + "\n";
        auto series = [&](const std::string& labels) {
            return labels.empty() ? name : name + "{" + labels + "}";
        };
        for (const auto& [labels, counter] : family.counters) {
            out += series(labels) + " " + std::to_string(counter->value()) + "\n";
        }
        for (const auto& [labels, gauge] : family.gauges) {
            out += series(labels) + " " + std::to_string(gauge->value()) + "\n";
        }
        for (const auto& [labels, histogram] : family.histograms) {
            out += histogram->Render(name, labels);
        }
    }
    return out;
}

}  // namespace beta500::obs
