// AI search on the demo catalog (vega-datasets' 3,200 films, built by scripts/setup.sh): films
// found by misspelled title, by director (also misspelled), by genre and decade, by rating;
// filters that exclude; facets that add up; "like <title>"; suggestions; incremental updates and
// reloading the index from disk. Expected counts come from the catalog itself.
#include "catalog/search.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <numeric>
#include <sstream>

#include "catalog/titles.h"
#include "core/clock.h"
#include "store/database.h"

namespace beta500::catalog {
namespace {

class SearchTest : public ::testing::Test {
   protected:
    static void SetUpTestSuite() {
        dir_ = std::filesystem::temp_directory_path() / ("beta500-search-" + std::to_string(::getpid()));
        std::filesystem::remove_all(dir_);
        Config::Database config;
        config.data_dir = dir_.string();
        config.synchronous = "normal";
        database_ = std::move(*store::Database::Open(config, *clock_)).release();
        store_ = database_->NewCatalogStore().release();
        std::ifstream file(BETA500_DEMO_CATALOG);
        ASSERT_TRUE(file) << "the demo catalog is missing: run scripts/setup.sh";
        std::stringstream text;
        text << file.rdbuf();
        auto rows = ParseImport(text.str(), false);
        ASSERT_TRUE(rows);
        for (const auto& row : *rows) {
            ASSERT_TRUE(row.title) << row.error;
            titles_->push_back(*row.title);
        }
        auto ids = store_->Upsert(*titles_, 1);
        ASSERT_TRUE(ids);
        for (size_t i = 0; i < titles_->size(); ++i) {
            (*titles_)[i].id = (*ids)[i].second;
        }
        index_ = new XapianSearch((dir_ / "search").string());
        ASSERT_TRUE(index_->Rebuild(*store_, 1));
    }
    static void TearDownTestSuite() {
        delete index_;
        delete store_;
        delete database_;
        std::filesystem::remove_all(dir_);
    }

    static SearchResult Find(const std::string& query, int64_t limit = 50) {
        auto result = index_->Search(SearchRequest{query, limit});
        EXPECT_TRUE(result) << result.error().message;
        return result ? *result : SearchResult{};
    }
    static int64_t Count(const std::function<bool(const Title&)>& predicate) {
        return std::count_if(titles_->begin(), titles_->end(), predicate);
    }
    static bool Has(const std::vector<std::string>& list, const std::string& item) {
        return std::find(list.begin(), list.end(), item) != list.end();
    }
    static int64_t Sum(const std::vector<FacetCount>& facets) {
        return std::accumulate(facets.begin(), facets.end(), int64_t{0},
                               [](int64_t total, const FacetCount& facet) { return total + facet.count; });
    }

    static inline std::filesystem::path dir_;
    static inline std::unique_ptr<Clock> clock_ = std::make_unique<ManualClock>(1'800'000'000'000);
    static inline store::Database* database_ = nullptr;
    static inline CatalogStore* store_ = nullptr;
    static inline XapianSearch* index_ = nullptr;
    static inline std::vector<Title>* titles_ = new std::vector<Title>();
};

TEST_F(SearchTest, TheDemoCatalogIsIndexed) {
    EXPECT_EQ(index_->documents(), static_cast<int64_t>(titles_->size()));
    EXPECT_GE(titles_->size(), 3200U);
}

TEST_F(SearchTest, MisspelledTitlesAreCorrected) {
    for (const auto& [query, title] : std::vector<std::pair<std::string, std::string>>{
             {"titanc", "Titanic"}, {"jurasic park", "Jurassic Park"}, {"shindler's list", "Schindler's List"}}) {
        const SearchResult result = Find(query, 5);
        ASSERT_FALSE(result.hits.empty()) << query;
        EXPECT_EQ(result.hits.front().title, title) << query;
        EXPECT_FALSE(result.corrected.empty()) << query;
        EXPECT_NE(result.hits.front().reason.find("title matches"), std::string::npos);
    }
    // A word the index has is never "corrected".
    EXPECT_TRUE(Find("titanic").corrected.empty());
}

TEST_F(SearchTest, ByDirectorEvenMisspelled) {
    const int64_t fincher = Count([](const Title& t) { return Has(t.directors, "David Fincher"); });
    ASSERT_EQ(fincher, 7);
    for (const std::string query : {"films directed by david fincher", "directed by david finchr"}) {
        const SearchResult result = Find(query);
        EXPECT_EQ(result.total, fincher) << query;
        for (const auto& hit : result.hits) {
            EXPECT_EQ(hit.directors, std::vector<std::string>{"David Fincher"});
            EXPECT_NE(hit.reason.find("directed by David Fincher"), std::string::npos) << hit.reason;
        }
    }
}

TEST_F(SearchTest, GenreAndDecadeWithExactFacets) {
    const int64_t expected = Count([](const Title& t) {
        return Has(t.genres, "Thriller/Suspense") && t.year && *t.year >= 1990 && *t.year <= 1999;
    });
    const SearchResult result = Find("thrillers from the 90s");
    EXPECT_EQ(result.total, expected);
    EXPECT_EQ(result.hits.size(), std::min<size_t>(50, static_cast<size_t>(expected)));
    for (const auto& hit : result.hits) {
        EXPECT_TRUE(Has(hit.genres, "Thriller/Suspense"));
        EXPECT_TRUE(hit.year && *hit.year >= 1990 && *hit.year <= 1999);
        EXPECT_NE(hit.reason.find("genre: Thriller/Suspense; 1990s"), std::string::npos) << hit.reason;
    }
    ASSERT_EQ(result.genres.size(), 1U);
    EXPECT_EQ(result.genres[0].count, expected);
    ASSERT_EQ(result.decades.size(), 1U);
    EXPECT_EQ(result.decades[0].value, "1990s");
    // Ranked by the popularity prior: better-known, better-rated films first.
    EXPECT_GE(result.hits.front().rating_tenths.value_or(0), 70);
}

TEST_F(SearchTest, RatedAbove) {
    const SearchResult result = Find("thrillers from the 90s rated above 8");
    std::vector<std::string> names;
    for (const auto& hit : result.hits) {
        EXPECT_GT(hit.rating_tenths.value_or(0), 80);
        names.push_back(hit.title);
    }
    std::sort(names.begin(), names.end());
    EXPECT_EQ(names, (std::vector<std::string>{"Fargo", "LÈon", "Se7en", "The Silence of the Lambs", "The Sixth Sense"}));
}

TEST_F(SearchTest, FiltersExclude) {
    const int64_t expected = Count([](const Title& t) { return Has(t.genres, "Comedy") && t.year && *t.year > 2005; });
    const SearchResult result = Find("comedies after 2005");
    EXPECT_EQ(result.total, expected);
    for (const auto& hit : result.hits) {
        EXPECT_TRUE(Has(hit.genres, "Comedy"));
        EXPECT_GT(hit.year.value_or(0), 2005);
    }
    EXPECT_EQ(Find("comedies directed by nobody atall").total, 0);
    EXPECT_EQ(Find("westerns in french").total, 0);  // the demo catalog has no languages
}

TEST_F(SearchTest, FacetsAddUpAndCanBePicked) {
    const SearchResult all = Find("love");
    ASSERT_GT(all.total, 10);
    EXPECT_EQ(Sum(all.genres), all.total);
    EXPECT_EQ(Sum(all.decades), all.total);
    const auto drama = std::find_if(all.genres.begin(), all.genres.end(), [](const FacetCount& f) { return f.value == "Drama"; });
    ASSERT_NE(drama, all.genres.end());
    auto picked = index_->Search(SearchRequest{"love", 50, 0, std::string("Drama"), std::nullopt});
    ASSERT_TRUE(picked);
    EXPECT_EQ(picked->total, drama->count);
    for (const auto& hit : picked->hits) {
        EXPECT_EQ(hit.genres.front(), "Drama");
    }
    auto decade = index_->Search(SearchRequest{"love", 50, 0, std::nullopt, 1980});
    ASSERT_TRUE(decade);
    for (const auto& hit : decade->hits) {
        EXPECT_TRUE(hit.year && *hit.year / 10 == 198);
    }
}

TEST_F(SearchTest, LikeATitle) {
    const SearchResult result = Find("movies like fight club", 10);
    ASSERT_EQ(result.hits.size(), 10U);
    bool same_director = false;
    for (const auto& hit : result.hits) {
        EXPECT_NE(hit.title, "Fight Club");
        EXPECT_NE(hit.reason.find("like Fight Club"), std::string::npos);
        same_director = same_director || Has(hit.directors, "David Fincher");
    }
    EXPECT_TRUE(same_director);
    EXPECT_EQ(Find("movies like qqqzzx xyzzyq").total, 0);
}

TEST_F(SearchTest, SuggestionsByPrefix) {
    auto suggestions = index_->Suggest("jurass", 5);
    ASSERT_TRUE(suggestions);
    ASSERT_FALSE(suggestions->empty());
    EXPECT_EQ(suggestions->front().title, "Jurassic Park");
    EXPECT_TRUE(index_->Suggest("   ", 5)->empty());
}

TEST_F(SearchTest, IncrementalUpdatesAndReloading) {
    Title added;
    added.title = "Quixotic Zeppelin Odyssey";
    added.year = 2001;
    added.genres = {"Adventure"};
    auto ids = store_->Upsert({added}, 2);
    ASSERT_TRUE(ids);
    added.id = (*ids)[0].second;
    const auto has_it = [&](const SearchResult& result) {
        return std::any_of(result.hits.begin(), result.hits.end(), [&](const SearchHit& hit) { return hit.title_id == added.id; });
    };
    EXPECT_FALSE(has_it(Find("quixotic zeppelin odyssey")));
    ASSERT_TRUE(index_->Update({added}));
    const SearchResult found = Find("quixotic zeppelin odyssey");
    ASSERT_FALSE(found.hits.empty());
    EXPECT_EQ(found.hits[0].title_id, added.id);
    // A new process finds the index on disk when it still matches the catalog.
    XapianSearch reloaded((dir_ / "search").string());
    EXPECT_FALSE(reloaded.Load(*store_->Count() + 1));
    EXPECT_TRUE(reloaded.Load(*store_->Count()));
    EXPECT_TRUE(has_it(*reloaded.Search(SearchRequest{"quixotic zeppelin odyssey"})));
}

}  // namespace
}  // namespace beta500::catalog
