#include "api/views.h"

#include "api/input.h"
#include "core/clock.h"
#include "ledger/engine.h"

namespace beta500::api {
namespace json = boost::json;
using http::HttpRequest;
using http::HttpResponse;

json::value OptionalId(const std::optional<int64_t>& id) {
    return id ? json::value(std::to_string(*id)) : json::value(nullptr);
}

json::value OptionalTime(const std::optional<int64_t>& epoch_ms) {
    return epoch_ms ? json::value(FormatRfc3339(*epoch_ms)) : json::value(nullptr);
}

json::object BalanceJson(const store::BalanceView& view) {
    json::array lots;
    for (const ledger::Lot& lot : view.lots) {
        lots.push_back(json::object{
            {"id", std::to_string(lot.id)},
            {"amount", lot.amount},
            {"remaining", lot.remaining},
            {"expires_at", OptionalTime(lot.expires_at_ms == ledger::kNeverExpires
                                            ? std::nullopt
                                            : std::optional<int64_t>(lot.expires_at_ms))},
            {"created_at", FormatRfc3339(lot.created_at_ms)}});
    }
    return {{"user_id", std::to_string(view.user_id)}, {"available", view.available},
            {"held", view.held},                       {"posted", view.posted},
            {"granted_total", view.granted_total},     {"lots", std::move(lots)}};
}

json::object TransferJson(const store::TransferView& view) {
    const ledger::Transfer& t = view.transfer;
    return {{"id", std::to_string(t.id)},
            {"debit_account", view.debit_account},
            {"credit_account", view.credit_account},
            {"amount", t.amount},
            {"kind", ledger::TransferKindName(t.kind)},
            {"hold_id", OptionalId(t.hold_id)},
            {"lot_id", OptionalId(t.lot_id)},
            {"feature", t.feature},
            {"reference", t.reference},
            {"actor", t.actor},
            {"reason", t.reason},
            {"created_at", FormatRfc3339(t.created_at_ms)}};
}

std::string PageJson(json::array items, size_t page_size, int64_t limit, int64_t last_id) {
    json::value next = nullptr;
    if (static_cast<int64_t>(page_size) == limit) {
        next = std::to_string(last_id);
    }
    return json::serialize(json::object{{"items", std::move(items)}, {"next_cursor", next}});
}

std::optional<http::Problem> ReadTransferQuery(const http::HttpRequest& request,
                                               store::TransferFilter& filter, bool user_id_allowed) {
    PageQuery page;
    auto problem = ReadPageQuery(request, page, [&](const std::string& name,
                                                    const std::string& value) -> std::optional<std::string> {
        if (name == "user_id" && user_id_allowed) {
            filter.user_id = ParseId(value);
            return filter.user_id ? "" : "user_id must be a positive id";
        }
        if (name == "kind") {
            filter.kind = ledger::ParseTransferKind(value);
            return filter.kind ? "" : "unknown transfer kind " + value;
        }
        if (name == "feature") {
            filter.feature = value;
            return ledger::ValidFeature(value) ? "" : "feature must match [a-z0-9_]{1,64}";
        }
        return std::nullopt;
    });
    filter.limit = page.limit;
    filter.before_id = page.before_id;
    return problem;
}

std::string TransfersPage(const std::vector<store::TransferView>& transfers, int64_t limit) {
    json::array items;
    for (const store::TransferView& view : transfers) {
        items.push_back(TransferJson(view));
    }
    return PageJson(std::move(items), transfers.size(), limit,
                    transfers.empty() ? 0 : transfers.back().transfer.id);
}

// The one place a ledger rejection becomes an HTTP status.
int StatusFor(ledger::Rejection rejection) {
    using ledger::Rejection;
    switch (rejection) {
        case Rejection::kNone: return 200;
        case Rejection::kInvalidIdempotencyKey: return 400;
        case Rejection::kInsufficientCredits: return 402;
        case Rejection::kUserSuspended: return 403;
        case Rejection::kUserNotFound:
        case Rejection::kHoldNotFound: return 404;
        case Rejection::kHoldExpired:
        case Rejection::kHoldAlreadyResolved: return 409;
        case Rejection::kOverloaded:
        case Rejection::kUnavailable: return 503;
        default: return 422;
    }
}

HttpResponse LedgerResponse(const HttpRequest& request, const ledger::Response& answer,
                            int success_status) {
    HttpResponse response;
    if (answer.rejection == ledger::Rejection::kNone) {
        response = http::Json(success_status, answer.body);
    } else {
        // The ledger's rejection body (code, rejection, detail and details) becomes a problem.
        json::object problem = json::parse(answer.body).as_object();
        const int status = StatusFor(answer.rejection);
        json::object body{{"type", "urn:beta500:problem:" + std::string(problem.at("code").as_string())},
                          {"title", status == 402 ? "Payment Required" : "Request refused"},
                          {"status", status}};
        for (auto& [key, value] : problem) {
            body[key] = value;
        }
        body["instance"] = request.path;
        body["request_id"] = request.request_id;
        response = HttpResponse{status, "application/problem+json", json::serialize(body), {}};
        if (status == 503) {
            response.headers.emplace_back("Retry-After", "1");
        }
    }
    if (answer.replayed) {
        response.headers.emplace_back("Idempotent-Replayed", "true");
    }
    return response;
}

}  // namespace beta500::api
