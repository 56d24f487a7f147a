// Titles as the outside world writes them: validation, the JSON and CSV import formats (with a
// report per row) and the JSON form the API answers with. Pure functions.
#pragma once

#include <boost/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "catalog/catalog_store.h"
#include "core/result.h"

namespace beta500::catalog {

// Bounds on one title and one import.
inline constexpr size_t kTitleBytesMax = 300;
inline constexpr size_t kDescriptionBytesMax = 4000;
inline constexpr size_t kListItemsMax = 50;      // genres, directors, cast or languages
inline constexpr size_t kListItemBytesMax = 100;
inline constexpr size_t kImportTitlesMax = 200'000;

// A title from a JSON object: `title` required; `source_id`, `year` (1870-2100), `genres`,
// `directors`, `cast`, `languages` (arrays of strings), `description`, `rating` (0-10, one
// decimal kept), `votes` (>= 0), `runtime_minutes` (> 0), `source`, `creative_type` optional.
// Unknown fields are refused. The message names the field.
Result<Title> TitleFromJson(const boost::json::value& value);
boost::json::object TitleToJson(const Title& title);

struct ImportRow {
    size_t row = 0;  // 1-based: the array index + 1 (JSON) or the line (CSV)
    std::optional<Title> title;
    std::string error;  // when title is empty
};

// A JSON array of title objects, or CSV with a header row naming the same fields (list fields
// separated by "|"). Fails as a whole only when the text is not an array / not CSV, or holds
// more than kImportTitlesMax titles; otherwise each row is a title or an error.
Result<std::vector<ImportRow>> ParseImport(std::string_view text, bool csv);

}  // namespace beta500::catalog
