#include "catalog/import.h"

#include "catalog/titles.h"

namespace beta500::catalog {

Result<ImportReport> Import(std::string_view text, bool csv, CatalogStore& store, SearchEngine* search,
                            int64_t now_ms) {
    auto rows = ParseImport(text, csv);
    if (!rows) {
        return rows.error();
    }
    ImportReport report;
    std::vector<Title> valid;
    for (const ImportRow& row : *rows) {
        if (row.title) {
            valid.push_back(*row.title);
            report.rows.push_back(ImportedRow{row.row, "", std::nullopt, ""});
        } else {
            ++report.invalid;
            report.rows.push_back(ImportedRow{row.row, "invalid", std::nullopt, row.error});
        }
    }
    auto outcomes = store.Upsert(valid, now_ms);
    if (!outcomes) {
        return outcomes.error();
    }
    std::vector<Title> changed;
    size_t next = 0;
    for (ImportedRow& row : report.rows) {
        if (row.result == "invalid") {
            continue;
        }
        const auto [outcome, id] = (*outcomes)[next];
        Title& title = valid[next++];
        title.id = id;
        row.id = id;
        row.result = outcome == UpsertOutcome::kCreated ? "created" : outcome == UpsertOutcome::kUpdated ? "updated" : "unchanged";
        (outcome == UpsertOutcome::kCreated ? report.created : outcome == UpsertOutcome::kUpdated ? report.updated : report.unchanged)++;
        if (outcome != UpsertOutcome::kUnchanged) {
            changed.push_back(title);
        }
    }
    if (search != nullptr && !changed.empty() && search->ready()) {
        if (Status updated = search->Update(changed); !updated) {
            return updated.error();
        }
    }
    return report;
}

}  // namespace beta500::catalog
