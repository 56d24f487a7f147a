// Always-on assertions for programmer errors (broken invariants), never for expected failures.
// An assertion failure prints the condition, location and message to stderr and aborts.
// Thread-safe.
#pragma once

#include <string_view>

namespace beta500 {

[[noreturn]] void AssertionFailed(std::string_view condition, std::string_view message,
                                  std::string_view file, int line);

}  // namespace beta500

#define B5_ASSERT(condition, message)                                              \
    do {                                                                           \
        if (!(condition)) [[unlikely]] {                                           \
            ::beta500::AssertionFailed(#condition, (message), __FILE__, __LINE__); \
        }                                                                          \
    } while (false)
