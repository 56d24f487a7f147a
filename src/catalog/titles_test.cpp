// Title validation and the import formats at their edges.
#include "catalog/titles.h"

#include <gtest/gtest.h>

namespace beta500::catalog {
namespace {
namespace json = boost::json;

Result<Title> FromText(const std::string& text) { return TitleFromJson(json::parse(text)); }

TEST(Titles, ValidTitleRoundTrips) {
    const auto title = FromText(R"({"title":"Heat","year":1995,"genres":["Action","Drama"],"directors":["Michael Mann"],
        "cast":["Al Pacino"],"languages":["English"],"rating":8.2,"votes":400000,"runtime_minutes":170,
        "source":"Original Screenplay","creative_type":"Contemporary Fiction","source_id":"x1"})");
    ASSERT_TRUE(title) << title.error().message;
    EXPECT_EQ(title->rating_tenths, 82);
    const json::object out = TitleToJson(*title);
    EXPECT_EQ(out.at("rating").as_double(), 8.2);
    EXPECT_EQ(out.at("genres").as_array().size(), 2U);
    EXPECT_EQ(out.at("source_id").as_string(), "x1");
}

TEST(Titles, EachFieldIsCheckedAtItsEdge) {
    EXPECT_TRUE(FromText(R"({"title":"A","year":1870})"));
    EXPECT_FALSE(FromText(R"({"title":"A","year":1869})"));
    EXPECT_TRUE(FromText(R"({"title":"A","year":2100})"));
    EXPECT_FALSE(FromText(R"({"title":"A","year":2101})"));
    EXPECT_TRUE(FromText(R"({"title":"A","rating":10})"));
    EXPECT_FALSE(FromText(R"({"title":"A","rating":10.01})"));
    EXPECT_FALSE(FromText(R"({"title":"A","rating":-0.1})"));
    EXPECT_FALSE(FromText(R"({"title":"A","votes":-1})"));
    EXPECT_FALSE(FromText(R"({"title":"A","runtime_minutes":0})"));
    EXPECT_TRUE(FromText(R"({"title":"A","year":null,"rating":null})"));
    EXPECT_TRUE(FromText("{\"title\":\"" + std::string(kTitleBytesMax, 'x') + "\"}"));
    EXPECT_FALSE(FromText("{\"title\":\"" + std::string(kTitleBytesMax + 1, 'x') + "\"}"));
    EXPECT_FALSE(FromText(R"({"year":1990})"));
    EXPECT_FALSE(FromText(R"({"title":""})"));
    EXPECT_FALSE(FromText(R"({"title":"A","genres":"Drama"})"));
    EXPECT_FALSE(FromText(R"({"title":"A","genres":[1]})"));
    EXPECT_FALSE(FromText(R"({"title":"A","colour":"red"})"));
    json::array many;
    for (size_t i = 0; i <= kListItemsMax; ++i) {
        many.emplace_back("g" + std::to_string(i));
    }
    EXPECT_FALSE(TitleFromJson(json::object{{"title", "A"}, {"genres", many}}));
    many.pop_back();
    EXPECT_TRUE(TitleFromJson(json::object{{"title", "A"}, {"genres", many}}));
    const auto bad = FromText(R"({"title":"A","year":"1990"})");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("year"), std::string::npos);
}

TEST(Titles, ImportReportsEachRow) {
    const auto rows = ParseImport(R"([{"title":"A"},{"year":1990},{"title":"C","rating":11}])", false);
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 3U);
    EXPECT_TRUE((*rows)[0].title);
    EXPECT_EQ((*rows)[1].row, 2U);
    EXPECT_NE((*rows)[1].error.find("title"), std::string::npos);
    EXPECT_NE((*rows)[2].error.find("rating"), std::string::npos);
    EXPECT_FALSE(ParseImport(R"({"title":"A"})", false));
}

TEST(Titles, CsvImportWithAHeaderAndListFields) {
    const auto rows = ParseImport(
        "title,year,genres,directors,rating\n"
        "\"Heat, the film\",1995,Action|Drama,Michael Mann,8.2\n"
        "Broken,abc,,,\n"
        "Short,1990\n",
        true);
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->size(), 3U);
    ASSERT_TRUE((*rows)[0].title) << (*rows)[0].error;
    EXPECT_EQ((*rows)[0].title->title, "Heat, the film");
    EXPECT_EQ((*rows)[0].title->genres, (std::vector<std::string>{"Action", "Drama"}));
    EXPECT_EQ((*rows)[0].title->rating_tenths, 82);
    EXPECT_EQ((*rows)[1].row, 3U);
    EXPECT_NE((*rows)[1].error.find("year"), std::string::npos);
    EXPECT_NE((*rows)[2].error.find("fields"), std::string::npos);
    EXPECT_FALSE(ParseImport("", true));
}

}  // namespace
}  // namespace beta500::catalog
