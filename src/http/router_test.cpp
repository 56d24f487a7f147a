// Proves route matching: literal and {param} segments, 404 versus 405 with the allowed methods.
#include "http/router.h"

#include <gtest/gtest.h>

namespace beta500::http {

TEST(Router, MatchesParamsAndMethods) {
    Router router;
    auto noop = [](HttpRequest&&, Respond) {};
    router.Add("POST", "/api/v1/credits/holds/{id}/capture", noop);
    router.Add("GET", "/api/v1/credits/balances/{user_id}", noop);
    router.Add("POST", "/api/v1/credits/holds", noop);

    Match capture = router.Find("POST", "/api/v1/credits/holds/42/capture");
    ASSERT_NE(capture.route, nullptr);
    EXPECT_EQ(capture.params.at("id"), "42");

    Match wrong_method = router.Find("GET", "/api/v1/credits/holds");
    EXPECT_EQ(wrong_method.route, nullptr);
    EXPECT_EQ(wrong_method.allowed, std::vector<std::string>{"POST"});

    Match missing = router.Find("GET", "/api/v1/credits/holds/42");
    EXPECT_EQ(missing.route, nullptr);
    EXPECT_TRUE(missing.allowed.empty());

    EXPECT_EQ(router.Find("GET", "/api/v1/credits/balances/").route, nullptr);  // empty param
    EXPECT_EQ(router.Find("POST", "/api/v1/credits/holds/").route, nullptr);    // trailing slash
}

TEST(Router, PathSegments) {
    EXPECT_EQ(PathSegments("/a/b"), (std::vector<std::string_view>{"a", "b"}));
    EXPECT_EQ(PathSegments("/"), (std::vector<std::string_view>{""}));
    EXPECT_TRUE(PathSegments("a").empty());
}

}  // namespace beta500::http
