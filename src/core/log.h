// Structured logging: one logfmt line per event on stdout (`ts=... level=... msg=... key=value`),
// through spdlog, which is thread-safe. Never log secrets: tokens, cookies, passwords, keys.
#pragma once

#include <string>

namespace beta500 {

// Sets up the default logger; `level` is trace|debug|info|warn|error.
void InitLogging(const std::string& level);

// Quotes a value for logfmt when it holds spaces, quotes or '='.
std::string LogQuote(std::string_view value);

}  // namespace beta500
