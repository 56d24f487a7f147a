// Catalog import (CLI and admin API): parses the upload, stores the valid titles in one
// transaction (a re-import of the same source_id updates) and tells the search index.
// Blocking. Thread-safe as its parts are.
#pragma once

#include <string_view>
#include <vector>

#include "catalog/catalog_store.h"
#include "catalog/search.h"
#include "core/clock.h"

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
// Each chunk is stamped with the clock's time when it is written, so the index's keeper, which
// looks for changes since its last look, sees chunks written during a long import.
Result<ImportReport> Import(std::string_view text, bool csv, CatalogStore& store, SearchEngine* search,
                            const Clock& clock);

}  // namespace beta500::catalog
