// Catalog import (CLI and admin API): parses the upload, stores the valid titles in one
// transaction (a re-import of the same source_id updates) and tells the search index.
// Blocking. Thread-safe as its parts are.
#pragma once

#include <string_view>
#include <vector>

#include "catalog/catalog_store.h"
#include "catalog/search.h"

namespace beta500::catalog {

struct ImportedRow {
    size_t row = 0;
    std::string result;  // created, updated, unchanged, invalid
    std::optional<int64_t> id;
    std::string error;
};

struct ImportReport {
    int64_t created = 0;
    int64_t updated = 0;
    int64_t unchanged = 0;
    int64_t invalid = 0;
    std::vector<ImportedRow> rows;
};

// kInvalidArgument when the upload as a whole is unreadable; a row's problem is in its report.
// `search` may be null (no index to tell).
Result<ImportReport> Import(std::string_view text, bool csv, CatalogStore& store, SearchEngine* search,
                            int64_t now_ms);

}  // namespace beta500::catalog
