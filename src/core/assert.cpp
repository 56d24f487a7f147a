#include "core/assert.h"

#include <cstdio>
#include <cstdlib>

namespace beta500 {

void AssertionFailed(std::string_view condition, std::string_view message, std::string_view file,
                     int line) {
    std::fprintf(stderr, "assertion failed: %.*s (%.*s) at %.*s:%d\n",
                 static_cast<int>(condition.size()), condition.data(),
                 static_cast<int>(message.size()), message.data(), static_cast<int>(file.size()),
                 file.data(), line);
    std::fflush(stderr);
    std::abort();
}

}  // namespace beta500
