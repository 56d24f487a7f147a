// Proves request-body reading: types, required fields, unknown fields, ids and timestamps, and
// that the first problem names its field.
#include "api/input.h"

#include <gtest/gtest.h>

namespace beta500::api {
namespace {

http::HttpRequest WithBody(std::string body) {
    http::HttpRequest request;
    request.body = std::move(body);
    return request;
}

TEST(BodyReader, ReadsWellFormedFields) {
    auto request = WithBody(R"({"user_id":"12","amount":5,"final":true,"expires_at":"2030-01-01T00:00:00Z"})");
    BodyReader body(request);
    EXPECT_EQ(body.Id("user_id"), 12);
    EXPECT_EQ(body.Int("amount"), 5);
    EXPECT_TRUE(body.OptionalBool("final", false));
    EXPECT_TRUE(body.OptionalTimestamp("expires_at").has_value());
    EXPECT_FALSE(body.Finish().has_value());
}

TEST(BodyReader, FirstProblemNamesItsField) {
    auto request = WithBody(R"({"user_id":"x","amount":"5"})");
    BodyReader body(request);
    body.Id("user_id");
    body.Int("amount");
    const auto& problem = body.Finish();
    ASSERT_TRUE(problem.has_value());
    EXPECT_EQ(problem->status, 422);
    EXPECT_EQ(problem->extensions.at(0).second, "\"user_id\"");
}

TEST(BodyReader, UnknownFieldsMissingFieldsAndBadJson) {
    auto unknown = WithBody(R"({"amount":1,"amonut":2})");
    BodyReader with_unknown(unknown);
    with_unknown.Int("amount");
    ASSERT_TRUE(with_unknown.Finish().has_value());
    EXPECT_EQ(with_unknown.Finish()->detail, "unknown field amonut");

    auto empty = WithBody("");
    BodyReader missing(empty);
    missing.Int("amount");
    ASSERT_TRUE(missing.Finish().has_value());
    EXPECT_EQ(missing.Finish()->detail, "amount is required");

    auto broken = WithBody("{\"amount\":");
    BodyReader bad_json(broken);
    ASSERT_TRUE(bad_json.Finish().has_value());
    EXPECT_EQ(bad_json.Finish()->code, "invalid_json");

    auto array = WithBody("[]");
    EXPECT_EQ(BodyReader(array).Finish()->code, "invalid_json");

    auto huge = WithBody(R"({"amount":18446744073709551615})");
    BodyReader out_of_range(huge);
    out_of_range.Int("amount");
    EXPECT_EQ(out_of_range.Finish()->detail, "amount is out of range");
}

TEST(ParseId, Edges) {
    EXPECT_EQ(ParseId("1"), 1);
    EXPECT_EQ(ParseId("999999999999999999"), 999999999999999999);
    EXPECT_FALSE(ParseId("0"));
    EXPECT_FALSE(ParseId("-1"));
    EXPECT_FALSE(ParseId("1234567890123456789"));  // 19 digits: over the limit
    EXPECT_FALSE(ParseId(""));
    EXPECT_FALSE(ParseId("1a"));
}

}  // namespace
}  // namespace beta500::api
