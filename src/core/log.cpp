#include "core/log.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace beta500 {

void InitLogging(const std::string& level) {
    auto logger = spdlog::stdout_logger_mt("beta500");
    logger->set_pattern("ts=%Y-%m-%dT%H:%M:%S.%eZ level=%l %v", spdlog::pattern_time_type::utc);
    logger->set_level(spdlog::level::from_str(level));
    // Flushing every line costs a write per request; warnings flush at once, the rest each second.
    logger->flush_on(spdlog::level::warn);
    spdlog::set_default_logger(logger);
    spdlog::flush_every(std::chrono::seconds(1));
}

std::string LogQuote(std::string_view value) {
    if (!value.empty() && value.find_first_of(" \"=\n\t") == std::string_view::npos) {
        return std::string(value);
    }
    std::string out = "\"";
    for (char ch : value) {
        if (ch == '"' || ch == '\\') {
            out.push_back('\\');
            out.push_back(ch);
        } else if (ch == '\n') {
            out += "\\n";
        } else {
            out.push_back(ch);
        }
    }
    out.push_back('"');
    return out;
}

}  // namespace beta500
