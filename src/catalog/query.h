// Query understanding for AI search: reads a natural-language query ("thrillers from the 90s
// rated above 8", "comedies directed by woody allen", "films like the matrix", "french dramas
// after 2005") into filters and what is left as free text. A pure function of the text,
// deterministic, table-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace beta500::catalog {

struct ParsedQuery {
    std::string text;                         // free text left for ranking
    std::vector<std::string> genres;          // catalog genre names; any of them
    std::vector<std::string> creative_types;  // catalog creative types; any of them
    std::optional<int64_t> year_min;          // inclusive
    std::optional<int64_t> year_max;          // inclusive
    std::optional<int64_t> rating_min_tenths;  // inclusive
    std::vector<std::string> people;          // names after "directed by", "by", "starring", "featuring"
    std::vector<std::string> languages;       // language names, capitalised
    std::string like_title;                   // the title after "like" / "similar to"
    // What was understood, for people: "genre: Thriller/Suspense", "1990s", "rated above 8".
    std::vector<std::string> understood;
};

// Queries longer than this are refused by the API (bounds the parsing work).
inline constexpr size_t kQueryBytesMax = 500;

ParsedQuery ParseQuery(std::string_view query);

}  // namespace beta500::catalog
