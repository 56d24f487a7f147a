#include "core/clock.h"

#include <chrono>
#include <cstdio>
#include <ctime>

namespace beta500 {

int64_t SystemClock::NowMs() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::string FormatRfc3339(int64_t epoch_ms) {
    const std::time_t seconds = static_cast<std::time_t>(epoch_ms / 1000);
    std::tm parts{};
    gmtime_r(&seconds, &parts);
    char buffer[64];
    std::snprintf(buffer, sizeof buffer, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                  parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour,
                  parts.tm_min, parts.tm_sec, static_cast<int>(epoch_ms % 1000));
    return buffer;
}

bool ParseRfc3339(std::string_view text, int64_t& epoch_ms) {
    // YYYY-MM-DDTHH:MM:SS[.fff...](Z|+hh:mm|-hh:mm)
    if (text.size() < 20) {
        return false;
    }
    auto digits = [&](size_t at, size_t count, int& out) {
        out = 0;
        for (size_t i = at; i < at + count; ++i) {
            if (i >= text.size() || text[i] < '0' || text[i] > '9') {
                return false;
            }
            out = out * 10 + (text[i] - '0');
        }
        return true;
    };
    int year, month, day, hour, minute, second;
    if (!digits(0, 4, year) || text[4] != '-' || !digits(5, 2, month) || text[7] != '-' ||
        !digits(8, 2, day) || (text[10] != 'T' && text[10] != 't') || !digits(11, 2, hour) ||
        text[13] != ':' || !digits(14, 2, minute) || text[16] != ':' || !digits(17, 2, second)) {
        return false;
    }
    if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
        second > 60) {
        return false;
    }
    size_t at = 19;
    int millis = 0;
    if (at < text.size() && text[at] == '.') {
        ++at;
        int scale = 100;
        size_t start = at;
        while (at < text.size() && text[at] >= '0' && text[at] <= '9') {
            millis += (text[at] - '0') * scale;
            scale /= 10;
            ++at;
        }
        if (at == start) {
            return false;
        }
    }
    int offset_minutes = 0;
    if (at < text.size() && (text[at] == 'Z' || text[at] == 'z')) {
        ++at;
    } else if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
        int offset_hour, offset_minute;
        if (!digits(at + 1, 2, offset_hour) || at + 3 >= text.size() || text[at + 3] != ':' ||
            !digits(at + 4, 2, offset_minute)) {
            return false;
        }
        offset_minutes = (offset_hour * 60 + offset_minute) * (text[at] == '+' ? 1 : -1);
        at += 6;
    } else {
        return false;
    }
    if (at != text.size()) {
        return false;
    }
    // Days from civil (Howard Hinnant's algorithm).
    const int y = year - (month <= 2 ? 1 : 0);
    const int era = (y >= 0 ? y : y - 399) / 400;
    const int yoe = y - era * 400;
    const int doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    const int64_t days = static_cast<int64_t>(era) * 146097 + doe - 719468;
    epoch_ms = ((days * 24 + hour) * 60 + minute - offset_minutes) * 60000 +
               static_cast<int64_t>(second) * 1000 + millis;
    return true;
}

}  // namespace beta500
