#include "catalog/import.h"

#include "catalog/titles.h"

namespace beta500::catalog {
namespace {

constexpr size_t kImportChunk = 1000;

}  // namespace

Result<ImportReport> Import(std::string_view text, bool csv, CatalogStore& store, SearchEngine* search,
                            const Clock& clock) {
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
    // Chunks of kImportChunk titles per transaction, so a large import never holds the
    // database's write lock long enough to stall credit charges.
    std::vector<std::pair<UpsertOutcome, int64_t>> all;
    for (size_t start = 0; start < valid.size(); start += kImportChunk) {
        const std::vector<Title> chunk(valid.begin() + static_cast<std::ptrdiff_t>(start),
                                       valid.begin() + static_cast<std::ptrdiff_t>(std::min(valid.size(), start + kImportChunk)));
        auto stored = store.Upsert(chunk, clock.NowMs());
        if (!stored) {
            return stored.error();
        }
        all.insert(all.end(), stored->begin(), stored->end());
    }
    const auto* outcomes = &all;
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
    // The index's keeper applies what this could not, within seconds.
    if (search != nullptr && !changed.empty() && search->ready()) {
        (void)search->Update(changed);
    }
    return report;
}

}  // namespace beta500::catalog
