#include "core/csv.h"

namespace beta500 {

Result<std::vector<CsvRow>> SplitCsv(std::string_view text, size_t rows_max) {
    std::vector<CsvRow> rows;
    CsvRow row{1, {}};
    std::string field;
    bool quoted = false;
    bool row_has_content = false;
    size_t line = 1;
    auto end_row = [&]() -> Status {
        row.fields.push_back(std::move(field));
        field.clear();
        if (row_has_content) {
            if (rows.size() >= rows_max) {
                return Error{ErrorCode::kInvalidArgument, "more than " + std::to_string(rows_max) + " rows"};
            }
            rows.push_back(std::move(row));
        }
        row = CsvRow{line + 1, {}};
        row_has_content = false;
        return Status::Ok();
    };
    for (size_t i = 0; i < text.size(); ++i) {
        const char ch = text[i];
        if (quoted) {
            if (ch == '"' && i + 1 < text.size() && text[i + 1] == '"') {
                field.push_back('"');
                ++i;
            } else if (ch == '"') {
                quoted = false;
            } else {
                if (ch == '\n') {
                    ++line;
                }
                field.push_back(ch);
            }
            continue;
        }
        if (ch == '"') {
            quoted = true;
            row_has_content = true;
        } else if (ch == ',') {
            row.fields.push_back(std::move(field));
            field.clear();
            row_has_content = true;
        } else if (ch == '\n') {
            if (Status status = end_row(); !status) {
                return status.error();
            }
            ++line;
        } else if (ch != '\r') {
            field.push_back(ch);
            row_has_content = true;
        }
    }
    if (quoted) {
        return Error{ErrorCode::kInvalidArgument, "line " + std::to_string(line) + ": unterminated quote"};
    }
    if (Status status = end_row(); !status) {
        return status.error();
    }
    return rows;
}

}  // namespace beta500
