// WebRoutes, part three: the catalog features a signed-in person uses: AI search (charged per
// submitted search), suggestions (free), watch history, and AI recommendations (a refresh is
// charged, reading the last ones is free).
#include <spdlog/spdlog.h>

#include <chrono>

#include "api/input.h"
#include "api/views.h"
#include "api/web_routes.h"
#include "catalog/titles.h"
#include "core/crypto.h"
#include "core/log.h"

namespace beta500::api {
namespace json = boost::json;
using http::HttpRequest;
using http::HttpResponse;
using http::Respond;
using namespace web;

namespace {

constexpr size_t kSuggestionsMax = 8;
constexpr size_t kRecommendations = 10;
// Titles one person's history may hold (bounds what training and each refresh read).
constexpr int64_t kHistoryTitlesMax = 5000;

HttpResponse NotReady(const HttpRequest& request, const char* what) {
    auto response = http::ProblemResponse({503, "unavailable", std::string(what) + " is starting; retry shortly"}, &request);
    response.headers.emplace_back("Retry-After", "2");
    return response;
}

json::value Maybe(const std::optional<int64_t>& value) { return value ? json::value(*value) : json::value(nullptr); }

json::value Rating(const std::optional<int64_t>& tenths) {
    return tenths ? json::value(static_cast<double>(*tenths) / 10) : json::value(nullptr);
}

json::array Strings(const std::vector<std::string>& items) {
    json::array array;
    for (const auto& item : items) {
        array.emplace_back(item);
    }
    return array;
}

json::array FacetsJson(const std::vector<catalog::FacetCount>& facets) {
    json::array array;
    for (const auto& facet : facets) {
        array.push_back(json::object{{"value", facet.value}, {"count", facet.count}});
    }
    return array;
}

json::object SearchJson(const catalog::SearchResult& result) {
    json::array hits;
    for (const auto& hit : result.hits) {
        hits.push_back(json::object{{"title_id", std::to_string(hit.title_id)},
                                    {"title", hit.title},
                                    {"year", Maybe(hit.year)},
                                    {"genres", Strings(hit.genres)},
                                    {"directors", Strings(hit.directors)},
                                    {"rating", Rating(hit.rating_tenths)},
                                    {"reason", hit.reason}});
    }
    return json::object{{"hits", hits},
                        {"total", result.total},
                        {"facets", json::object{{"genre", FacetsJson(result.genres)}, {"decade", FacetsJson(result.decades)}}},
                        {"corrected_query", result.corrected.empty() ? json::value(nullptr) : json::value(result.corrected)},
                        {"understood", Strings(result.understood.understood)}};
}

json::object RecommendationsJson(const std::vector<catalog::Recommendation>& items, int64_t generated_at_ms,
                                 int64_t model_trained_at_ms) {
    json::array array;
    for (const auto& item : items) {
        array.push_back(json::object{{"title_id", std::to_string(item.title_id)},
                                     {"title", item.title},
                                     {"year", Maybe(item.year)},
                                     {"genres", Strings(item.genres)},
                                     {"score", item.score_percent},
                                     {"reason", item.reason}});
    }
    return json::object{{"items", array},
                        {"generated_at", OptionalTime(generated_at_ms)},
                        {"model_trained_at", OptionalTime(model_trained_at_ms)}};
}

}  // namespace

// Charges `amount` credits for `feature` with the request's Idempotency-Key, then answers
// `body` (with the charge) or the ledger's refusal (402 with the available credits). The charge's
// reference is `what` (a digest of what was asked), so a key reused for another request is
// refused by the ledger rather than replaying a charge for it.
void WebRoutes::Charge(const store::WebSession& session, const HttpRequest& request, int64_t amount,
                       const char* feature, const std::string& what, json::object body, Respond respond) {
    const auto key = request.Header("idempotency-key");
    if (!key) {
        respond(http::ProblemResponse(
            {400, "idempotency_key_required", "charged requests need an Idempotency-Key header"}, &request));
        return;
    }
    if (deps_.fraud != nullptr && deps_.fraud->OnSpend(session.user.id).blocked) {
        respond(http::ProblemResponse({403, "fraud_blocked", "this account's spending is paused; contact the beta team"},
                                      &request));
        return;
    }
    auto shared = std::make_shared<HttpRequest>(request);
    deps_.writer.Submit(
        ledger::Request{ledger::Deduct{session.user.id, amount, feature, what},
                        "user:" + std::to_string(session.user.id), std::string(*key)},
        [shared, body = std::move(body), respond = std::move(respond)](ledger::Response answer) mutable {
            if (answer.rejection != ledger::Rejection::kNone) {
                respond(LedgerResponse(*shared, answer, 200));
                return;
            }
            body["charge"] = json::parse(answer.body);
            HttpResponse response = http::Json(200, json::serialize(body));
            if (answer.replayed) {
                response.headers.emplace_back("Idempotent-Replayed", "true");
            }
            respond(std::move(response));
        });
}

void WebRoutes::Search(const store::WebSession& session, HttpRequest&& request, Respond respond) {
    if (deps_.search == nullptr || !deps_.search->ready()) {
        respond(NotReady(request, "search"));
        return;
    }
    BodyReader body(request);
    catalog::SearchRequest search;
    search.query = body.String("query");
    search.limit = body.OptionalInt("limit").value_or(10);
    search.offset = body.OptionalInt("offset").value_or(0);
    const std::string genre = body.OptionalString("genre");
    search.decade = body.OptionalInt("decade");
    if (const auto& problem = body.Finish()) {
        respond(http::ProblemResponse(*problem, &request));
        return;
    }
    if (!genre.empty()) {
        search.genre = genre;
    }
    std::optional<http::Problem> problem;
    if (search.query.find_first_not_of(" \t") == std::string::npos || search.query.size() > catalog::kQueryBytesMax) {
        problem = http::Problem{422, "invalid_argument",
                                "query: 1 to " + std::to_string(catalog::kQueryBytesMax) + " bytes of text"};
    } else if (search.limit < 1 || search.limit > catalog::kSearchLimitMax) {
        problem = http::Problem{422, "invalid_argument", "limit: 1 to " + std::to_string(catalog::kSearchLimitMax)};
    } else if (search.offset < 0 || search.offset > catalog::kSearchOffsetMax) {
        problem = http::Problem{422, "invalid_argument", "offset: 0 to " + std::to_string(catalog::kSearchOffsetMax)};
    } else if (search.decade && (*search.decade % 10 != 0 || *search.decade < 1870 || *search.decade > 2100)) {
        problem = http::Problem{422, "invalid_argument", "decade: a year ending in 0, e.g. 1990"};
    }
    if (problem) {
        respond(http::ProblemResponse(*problem, &request));
        return;
    }
    // Searched first, charged second: a search that cannot run costs nothing.
    const auto started = std::chrono::steady_clock::now();
    auto result = deps_.search->Search(search);
    deps_.metrics.GetHistogram("beta500_search_query_seconds", "Time to run one AI search query.", obs::LatencyBuckets())
        .Observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    if (!result) {
        spdlog::warn("msg=\"search failed\" error={}", LogQuote(result.error().message));
        respond(NotReady(request, "search"));
        return;
    }
    // What was asked: the same key with another query is not the same search.
    const std::string what = "search:" + Sha256Hex(search.query + "\n" + std::to_string(search.limit) + "\n" +
                                                   std::to_string(search.offset) + "\n" + genre + "\n" +
                                                   std::to_string(search.decade.value_or(0)))
                                             .substr(0, 32);
    Charge(session, request, deps_.config.ai.search_credits, "ai_search", what, SearchJson(*result), std::move(respond));
}

void WebRoutes::Suggest(const store::WebSession&, HttpRequest&& request, Respond respond) {
    if (deps_.search == nullptr || !deps_.search->ready()) {
        respond(NotReady(request, "search"));
        return;
    }
    const auto q = request.query.find("q");
    const std::string prefix = q == request.query.end() ? "" : q->second;
    if (prefix.size() > catalog::kQueryBytesMax) {
        respond(http::ProblemResponse({422, "invalid_argument", "q: at most 500 bytes"}, &request));
        return;
    }
    auto suggestions = deps_.search->Suggest(prefix, kSuggestionsMax);
    if (!suggestions) {
        respond(NotReady(request, "search"));
        return;
    }
    json::array items;
    for (const auto& suggestion : *suggestions) {
        items.push_back(json::object{{"title_id", std::to_string(suggestion.title_id)},
                                     {"title", suggestion.title},
                                     {"year", Maybe(suggestion.year)}});
    }
    respond(http::Json(200, json::serialize(json::object{{"items", items}})));
}

void WebRoutes::RecordHistory(const store::WebSession& session, HttpRequest&& request, Respond respond) {
    BodyReader body(request);
    const int64_t title_id = body.Id("title_id");
    const int64_t views = body.OptionalInt("views").value_or(1);
    const int64_t progress = body.OptionalInt("progress_percent").value_or(0);
    const auto rating = body.OptionalInt("rating");
    if (const auto& problem = body.Finish()) {
        respond(http::ProblemResponse(*problem, &request));
        return;
    }
    if (views < 0 || views > 100 || progress < 0 || progress > 100 || (rating && (*rating < 1 || *rating > 10))) {
        respond(http::ProblemResponse(
            {422, "invalid_argument", "views: 0 to 100; progress_percent: 0 to 100; rating: 1 to 10"}, &request));
        return;
    }
    if (!TitleOr404(title_id, request, respond)) {
        return;
    }
    auto holds = deps_.catalog->HistoryHolds(session.user.id, title_id);
    if (!holds) {
        respond(Unavailable(request));
        return;
    }
    if (!holds->second && holds->first >= kHistoryTitlesMax) {
        respond(http::ProblemResponse(
            {422, "history_full", "a history holds at most " + std::to_string(kHistoryTitlesMax) + " titles"}, &request));
        return;
    }
    const catalog::Watch watch{session.user.id, title_id, views, progress,
                               rating ? std::optional<int64_t>(*rating * 10) : std::nullopt, deps_.clock.NowMs()};
    if (!deps_.catalog->RecordWatch(watch)) {
        respond(Unavailable(request));
        return;
    }
    respond(HttpResponse{204, "text/plain", "", {}});
}

void WebRoutes::MyHistory(const store::WebSession& session, HttpRequest&& request, Respond respond) {
    auto watches = deps_.catalog->WatchesOf(session.user.id);
    if (!watches) {
        respond(Unavailable(request));
        return;
    }
    json::array items;
    for (const auto& watch : *watches) {
        items.push_back(json::object{{"title_id", std::to_string(watch.title_id)},
                                     {"views", watch.views},
                                     {"progress_percent", watch.progress_percent},
                                     {"rating", watch.rating_tenths ? json::value(*watch.rating_tenths / 10) : json::value(nullptr)},
                                     {"updated_at", OptionalTime(watch.updated_at_ms)}});
    }
    respond(http::Json(200, json::serialize(json::object{{"items", items}})));
}

void WebRoutes::Recommendations(const store::WebSession& session, HttpRequest&& request, Respond respond) {
    auto list = deps_.catalog->Recommendations(session.user.id);
    if (!list) {
        respond(Unavailable(request));
        return;
    }
    if (!*list) {
        respond(http::ProblemResponse(
            {404, "no_recommendations",
             "no recommendations yet: POST /api/v1/recommendations/refresh makes them (" +
                 std::to_string(deps_.config.ai.recommendation_credits) + " credits)"},
            &request));
        return;
    }
    respond(http::Json(200, **list));
}

void WebRoutes::RefreshRecommendations(const store::WebSession& session, HttpRequest&& request, Respond respond) {
    if (deps_.recommendations == nullptr) {
        respond(NotReady(request, "the recommendation model"));
        return;
    }
    auto history = deps_.catalog->WatchesOf(session.user.id);
    if (!history) {
        respond(Unavailable(request));
        return;
    }
    auto recommended = deps_.recommendations->Recommend(*history, kRecommendations);
    if (!recommended) {
        respond(NotReady(request, "the recommendation model"));
        return;
    }
    json::object list = RecommendationsJson(recommended->items, deps_.clock.NowMs(), recommended->model_trained_at_ms);
    const int64_t user_id = session.user.id;
    Charge(session, request, deps_.config.ai.recommendation_credits, "ai_recommendations", "refresh", list,
           [this, user_id, list, shared = std::make_shared<HttpRequest>(request),
            respond = std::move(respond)](HttpResponse response) mutable {
               // On the writer's thread: the list is kept (or read) in the database from the pool.
               deps_.blocking.Post([this, user_id, list, shared, response = std::move(response),
                                    respond = std::move(respond)]() mutable {
                   const bool replayed = std::any_of(response.headers.begin(), response.headers.end(), [](const auto& h) {
                       return h.first == "Idempotent-Replayed";
                   });
                   if (response.status == 200 && replayed) {
                       // A retried refresh (same key) was paid once: it gets the last list made
                       // (on any server), which is the one it paid for unless another refresh
                       // came since; never a new one for free.
                       auto kept = deps_.catalog->Recommendations(user_id);
                       if (!kept) {
                           response = Unavailable(*shared);
                       } else if (!*kept) {
                           response = http::ProblemResponse({409, "refresh_answered",
                                                             "this refresh was answered before; refresh with a new "
                                                             "Idempotency-Key"});
                       } else {
                           json::object body = json::parse(**kept).as_object();
                           body["charge"] = json::parse(response.body).as_object().at("charge");
                           response.body = json::serialize(body);
                       }
                   } else if (response.status == 200) {
                       // Paid for: kept for every server to answer GET /api/v1/recommendations.
                       if (!deps_.catalog->SaveRecommendations(user_id, json::serialize(list), deps_.clock.NowMs())) {
                           spdlog::error("msg=\"recommendation list not kept\" user_id={}", user_id);
                       }
                   }
                   respond(std::move(response));
               });
           });
}

std::optional<catalog::Title> WebRoutes::TitleOr404(std::optional<int64_t> id, const HttpRequest& request,
                                                    const Respond& respond) {
    auto title = id ? deps_.catalog->Find(*id) : Result<std::optional<catalog::Title>>(std::nullopt);
    if (!title) {
        respond(Unavailable(request));
        return std::nullopt;
    }
    if (!*title) {
        respond(http::ProblemResponse({404, "not_found", "no title with this id"}, &request));
    }
    return *title;
}

void WebRoutes::TitleDetail(const store::WebSession&, HttpRequest&& request, Respond respond) {
    if (const auto title = TitleOr404(ParseId(request.params.at("id")), request, respond)) {
        respond(http::Json(200, json::serialize(catalog::TitleToJson(*title))));
    }
}

}  // namespace beta500::api
