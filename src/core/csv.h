// CSV (RFC 4180): fields split on commas, double-quoted fields may hold commas, quotes ("") and
// line breaks; CRLF or LF line ends; blank lines skipped. Pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace beta500 {

struct CsvRow {
    size_t line = 0;  // 1-based line in the text where the row starts
    std::vector<std::string> fields;
};

// Splits the text into rows; fails on an unterminated quote or more than `rows_max` rows.
Result<std::vector<CsvRow>> SplitCsv(std::string_view text, size_t rows_max);

}  // namespace beta500
