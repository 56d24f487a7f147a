// Query understanding, table-tested: each row is a query and what must be read from it.
#include "catalog/query.h"

#include <gtest/gtest.h>

namespace beta500::catalog {
namespace {

struct Case {
    const char* query;
    std::string text;
    std::vector<std::string> genres;
    std::vector<std::string> types;
    std::optional<int64_t> year_min;
    std::optional<int64_t> year_max;
    std::optional<int64_t> rating_min;
    std::vector<std::string> people;
    std::vector<std::string> languages;
    std::string like;
};

TEST(ParseQuery, Table) {
    const std::vector<Case> cases = {
        {"thrillers from the 90s", "", {"Thriller/Suspense"}, {}, 1990, 1999},
        {"Thriller movies from the 1990s", "", {"Thriller/Suspense"}, {}, 1990, 1999},
        {"suspense in the nineties", "", {"Thriller/Suspense"}, {}, 1990, 1999},
        {"'80s comedies", "", {"Comedy"}, {}, 1980, 1989},
        {"romantic comedy after 2005", "", {"Romantic Comedy"}, {}, 2006, 2100},
        {"rom-coms since 2005", "", {"Romantic Comedy"}, {}, 2005, 2100},
        {"dark comedy before 1980", "", {"Black Comedy"}, {}, 1870, 1979},
        {"westerns between 1960 and 1950", "", {"Western"}, {}, 1950, 1960},
        {"drama from 1994", "", {"Drama"}, {}, 1994, 1994},
        {"sci-fi rated above 8", "", {}, {"Science Fiction"}, {}, {}, 81},
        {"science fiction comedies", "", {"Comedy"}, {"Science Fiction"}},
        {"horror rated 7.5 or higher", "", {"Horror"}, {}, {}, {}, 75},
        {"horror 7 or better", "", {"Horror"}, {}, {}, {}, 70},
        {"dramas with imdb rating over 8.5", "", {"Drama"}, {}, {}, {}, 86},
        {"action at least 6", "", {"Action"}, {}, {}, {}, 60},
        {"highly rated musicals", "", {"Musical"}, {}, {}, {}, 75},
        {"comedies directed by woody allen", "", {"Comedy"}, {}, {}, {}, {}, {"woody allen"}},
        {"films by steven spielberg after 1990", "", {}, {}, 1991, 2100, {}, {"steven spielberg"}},
        {"starring tom hanks", "", {}, {}, {}, {}, {}, {"tom hanks"}},
        {"french dramas", "", {"Drama"}, {}, {}, {}, {}, {}, {"French"}},
        {"movies in spanish", "", {}, {}, {}, {}, {}, {}, {"Spanish"}},
        {"movies like the matrix", "", {}, {}, {}, {}, {}, {}, {}, "the matrix"},
        {"something similar to toy story from the 90s", "", {}, {}, 1990, 1999, {}, {}, {}, "toy story"},
        {"space pirates", "space pirates"},
        {"titanic", "titanic"},
        {"the dark knight", "the dark knight"},     // "dark" alone is not "dark comedy"
        {"2012", "2012"},                          // a bare number may be a title
        {"rated above 11", "rated above 11"},      // no such rating: left as text
        {"after 3000", "after 3000"},              // no such year
        {"show me some good kids movies", "", {}, {"Kids Fiction"}},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.query);
        const ParsedQuery parsed = ParseQuery(c.query);
        EXPECT_EQ(parsed.text, c.text);
        EXPECT_EQ(parsed.genres, c.genres);
        EXPECT_EQ(parsed.creative_types, c.types);
        EXPECT_EQ(parsed.year_min, c.year_min);
        EXPECT_EQ(parsed.year_max, c.year_max);
        EXPECT_EQ(parsed.rating_min_tenths, c.rating_min);
        EXPECT_EQ(parsed.people, c.people);
        EXPECT_EQ(parsed.languages, c.languages);
        EXPECT_EQ(parsed.like_title, c.like);
    }
}

TEST(ParseQuery, SaysWhatItUnderstood) {
    const ParsedQuery parsed = ParseQuery("thrillers from the 90s rated above 8 directed by david fincher");
    EXPECT_EQ(parsed.understood, (std::vector<std::string>{"genre: Thriller/Suspense", "1990s", "rated above 8",
                                                           "directed by david fincher"}));
}

TEST(ParseQuery, LongQueriesAreCut) {
    const std::string query = std::string(kQueryBytesMax, 'a') + " comedy";
    EXPECT_TRUE(ParseQuery(query).genres.empty());
}

}  // namespace
}  // namespace beta500::catalog
