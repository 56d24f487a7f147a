#include <spdlog/spdlog.h>

#include <boost/json.hpp>
#include <memory>

#include "api/api.h"
#include "api/auth.h"
#include "api/input.h"
#include "api/views.h"
#include "api/web_routes.h"
#include "core/clock.h"
#include "catalog/import.h"
#include "catalog/titles.h"
#include "identity/invitations.h"

namespace beta500::api {
namespace json = boost::json;
using http::HttpRequest;
using http::HttpResponse;
using http::Problem;
using http::Respond;

namespace {


// Sends a ledger operation with the caller's idempotency key; answers when it is durable.
void Submit(Deps& deps, const Caller& caller, HttpRequest&& request, Respond respond,
            ledger::Operation operation, int success_status) {
    const auto key = request.Header("idempotency-key");
    if (!key) {
        respond(http::ProblemResponse(
            {400, "idempotency_key_required", "mutations need an Idempotency-Key header"}, &request));
        return;
    }
    auto shared = std::make_shared<HttpRequest>(std::move(request));
    deps.writer.Submit(ledger::Request{std::move(operation), caller.actor(), std::string(*key)},
                       [shared, respond = std::move(respond), success_status](ledger::Response answer) {
                           respond(LedgerResponse(*shared, answer, success_status));
                       });
}

std::optional<int64_t> PathId(const HttpRequest& request, const char* name) {
    return ParseId(request.params.at(name));
}

HttpResponse Unavailable(const HttpRequest& request) {
    auto response = http::ProblemResponse(
        {503, "unavailable", "the database is unavailable; retry shortly"}, &request);
    response.headers.emplace_back("Retry-After", "1");
    return response;
}

}  // namespace

class Api::Routes {
   public:
    explicit Routes(Deps& deps)
        : deps_(deps),
          auth_(deps.config, deps.database, deps.blocking),
          invitations_(deps.config, deps.database, deps.clock) {}

    void Register(http::Router& router) {
        router.Add("GET", "/healthz", [](HttpRequest&&, Respond respond) {
            respond(http::Json(200, R"({"status":"ok"})"));
        });
        router.Add("GET", "/readyz", [this](HttpRequest&& request, Respond respond) {
            Readyz(std::move(request), std::move(respond));
        });
        router.Add("GET", "/metrics", [this](HttpRequest&&, Respond respond) {
            respond(HttpResponse{200, "text/plain; version=0.0.4", deps_.metrics.Render(), {}});
        });
        router.Add("GET", "/api/v1/openapi.json", [](HttpRequest&&, Respond respond) {
            respond(http::Json(200, std::string(OpenApiDocument())));
        });
        Mutation(router, "/api/v1/credits/deduct", Scope::kService, 200, [](BodyReader& body, const HttpRequest&) {
            ledger::Deduct op;
            op.user_id = body.Id("user_id");
            op.amount = body.Int("amount");
            op.feature = body.String("feature");
            op.reference = body.OptionalString("reference");
            return ledger::Operation(op);
        });
        Mutation(router, "/api/v1/credits/holds", Scope::kService, 201, [](BodyReader& body, const HttpRequest&) {
            ledger::Authorize op;
            op.user_id = body.Id("user_id");
            op.amount = body.Int("amount");
            op.ttl_seconds = body.Int("ttl_seconds");
            op.feature = body.String("feature");
            op.reference = body.OptionalString("reference");
            return ledger::Operation(op);
        });
        Mutation(router, "/api/v1/credits/holds/{id}/increment", Scope::kService, 200,
                 [](BodyReader& body, const HttpRequest& request) {
                     return ledger::Operation(ledger::Increment{PathId(request, "id").value_or(0),
                                                                body.Int("amount")});
                 });
        Mutation(router, "/api/v1/credits/holds/{id}/capture", Scope::kService, 200,
                 [](BodyReader& body, const HttpRequest& request) {
                     ledger::Capture op;
                     op.hold_id = PathId(request, "id").value_or(0);
                     op.amount = body.Int("amount");
                     op.final = body.OptionalBool("final", false);
                     return ledger::Operation(op);
                 });
        Mutation(router, "/api/v1/credits/holds/{id}/release", Scope::kService, 200,
                 [](BodyReader&, const HttpRequest& request) {
                     return ledger::Operation(ledger::Release{PathId(request, "id").value_or(0)});
                 });
        Mutation(router, "/api/v1/admin/credits/grants", Scope::kAdmin, 201, [](BodyReader& body, const HttpRequest&) {
            ledger::Grant op;
            op.user_id = body.Id("user_id");
            op.amount = body.Int("amount");
            op.expires_at_ms = body.OptionalTimestamp("expires_at");
            op.reason = body.String("reason");
            return ledger::Operation(op);
        });
        Mutation(router, "/api/v1/admin/credits/adjustments", Scope::kAdmin, 200,
                 [](BodyReader& body, const HttpRequest&) {
                     ledger::Adjust op;
                     op.user_id = body.Id("user_id");
                     op.amount = body.Int("amount");
                     op.reason = body.String("reason");
                     return ledger::Operation(op);
                 });
        router.Add("GET", "/api/v1/credits/balances/{user_id}", [this](HttpRequest&& request, Respond respond) {
            auth_.Require(Scope::kService, std::move(request), std::move(respond),
                          [this](Caller, HttpRequest&& req, Respond res) { Balance(std::move(req), std::move(res)); });
        });
        Admin(router, "GET", "/api/v1/admin/invitations", &Routes::ListInvitations);
        Admin(router, "POST", "/api/v1/admin/invitations", &Routes::CreateInvitation);
        Admin(router, "POST", "/api/v1/admin/invitations/import", &Routes::ImportInvitations);
        Admin(router, "POST", "/api/v1/admin/invitations/{id}/revoke", &Routes::RevokeInvitation);
        Admin(router, "POST", "/api/v1/admin/invitations/{id}/resend", &Routes::ResendInvitation);
        Admin(router, "GET", "/api/v1/admin/users", &Routes::ListUsers);
        Admin(router, "GET", "/api/v1/admin/users/{id}", &Routes::UserDetail);
        Admin(router, "POST", "/api/v1/admin/users/{id}/suspend", &Routes::SuspendUser);
        Admin(router, "POST", "/api/v1/admin/users/{id}/reactivate", &Routes::ReactivateUser);
        Admin(router, "GET", "/api/v1/admin/audit", &Routes::ListAudit);
        Admin(router, "GET", "/api/v1/admin/live-sessions", &Routes::ListLiveSessions);
        Admin(router, "POST", "/api/v1/admin/live-sessions/{id}/terminate", &Routes::TerminateLiveSession);
        Admin(router, "POST", "/api/v1/admin/catalog/import", &Routes::ImportCatalog);
        Admin(router, "PUT", "/api/v1/admin/catalog/titles/{id}", &Routes::EditTitle);
        Admin(router, "POST", "/api/v1/admin/recommendations/retrain", &Routes::Retrain);
        Admin(router, "GET", "/api/v1/admin/analytics/usage", &Routes::Usage);
        Admin(router, "GET", "/api/v1/admin/risk-events", &Routes::ListRiskEvents);
        Admin(router, "GET", "/api/v1/admin/risk-events/{id}", &Routes::RiskEventDetail);
        Admin(router, "POST", "/api/v1/admin/risk-events/{id}/clear", &Routes::ClearRiskEvent);
        Admin(router, "POST", "/api/v1/admin/risk-events/{id}/suspend", &Routes::SuspendForRiskEvent);
        Admin(router, "POST", "/api/v1/admin/risk-events/{id}/reactivate", &Routes::ReactivateForRiskEvent);
        router.Add("GET", "/api/v1/admin/mail", [this](HttpRequest&& request, Respond respond) {
            auth_.Require(Scope::kAdmin, std::move(request), std::move(respond),
                          [this](Caller, HttpRequest&& req, Respond res) { ListMail(std::move(req), std::move(res)); });
        });
        for (const bool discard : {false, true}) {
            router.Add("POST", discard ? "/api/v1/admin/mail/{id}/discard" : "/api/v1/admin/mail/{id}/retry",
                       [this, discard](HttpRequest&& request, Respond respond) {
                           auth_.Require(Scope::kAdmin, std::move(request), std::move(respond),
                                         [this, discard](Caller caller, HttpRequest&& req, Respond res) {
                                             RetryMail(caller, std::move(req), std::move(res), discard);
                                         });
                       });
        }
        router.Add("GET", "/api/v1/credits/transfers", [this](HttpRequest&& request, Respond respond) {
            auth_.Require(Scope::kService, std::move(request), std::move(respond),
                          [this](Caller, HttpRequest&& req, Respond res) { Transfers(std::move(req), std::move(res)); });
        });
    }

   private:
    using Parse = std::function<ledger::Operation(BodyReader&, const HttpRequest&)>;
    using AdminHandler = void (Routes::*)(Caller, HttpRequest&&, Respond);

    // An admin-only route whose handler runs on the blocking pool.
    void Admin(http::Router& router, const char* method, const char* pattern, AdminHandler handler) {
        router.Add(method, pattern, [this, handler](HttpRequest&& request, Respond respond) {
            auth_.Require(Scope::kAdmin, std::move(request), std::move(respond),
                          [this, handler](Caller caller, HttpRequest&& req, Respond res) {
                              auto shared = std::make_shared<HttpRequest>(std::move(req));
                              deps_.blocking.Post([this, handler, caller, shared, res = std::move(res)] {
                                  (this->*handler)(caller, std::move(*shared), res);
                              });
                          });
        });
    }

    static json::object InvitationJson(const store::Invitation& invitation) {
        const auto& time = OptionalTime;
        return {{"id", std::to_string(invitation.id)},
                {"email", invitation.email},
                {"initial_credits", invitation.initial_credits},
                {"expires_at", time(invitation.expires_at_ms)},
                {"note", invitation.note},
                {"inviter", invitation.inviter},
                {"role", invitation.role},
                {"status", invitation.status},
                {"created_at", FormatRfc3339(invitation.created_at_ms)},
                {"consumed_at", time(invitation.consumed_at_ms)},
                {"consumed_by", OptionalId(invitation.consumed_by)},
                {"revoked_at", time(invitation.revoked_at_ms)}};
    }

    static HttpResponse Invalid(const HttpRequest& request, const std::string& message) {
        // Messages from identity::CheckInvitation start with the field: "email: ...".
        const auto colon = message.find(':');
        Problem problem{422, "invalid_request", message, {}};
        if (colon != std::string::npos) {
            problem.extensions.emplace_back("field", json::serialize(json::value(message.substr(0, colon))));
        }
        return http::ProblemResponse(problem, &request);
    }

    void CreateInvitation(Caller caller, HttpRequest&& request, Respond respond) {
        BodyReader body(request);
        const std::string email = body.String("email");
        const auto credits = body.OptionalInt("initial_credits");
        const auto expires_at = body.OptionalTimestamp("expires_at");
        std::string note = body.OptionalString("note");
        std::string role = body.OptionalString("role");
        if (const auto& problem = body.Finish()) {
            respond(http::ProblemResponse(*problem, &request));
            return;
        }
        auto result = invitations_.Create(email, credits, expires_at, std::move(note), caller.actor(),
                                          role.empty() ? "user" : role);
        if (!result) {
            respond(result.error().code == ErrorCode::kInvalidArgument
                        ? Invalid(request, result.error().message)
                        : Unavailable(request));
            return;
        }
        switch (result->outcome) {
            case store::InviteOutcome::kCreated:
                if (deps_.mail != nullptr) {
                    deps_.mail->Poke();
                }
                respond(http::Json(201, json::serialize(InvitationJson(*result->invitation))));
                return;
            case store::InviteOutcome::kUnchanged:
                respond(http::Json(200, json::serialize(InvitationJson(*result->invitation))));
                return;
            case store::InviteOutcome::kConflict:
                respond(http::ProblemResponse(
                    {409, "invitation_exists", "an open invitation with other terms exists for this email",
                     {{"invitation_id", json::serialize(json::value(std::to_string(result->invitation->id)))}}},
                    &request));
                return;
            case store::InviteOutcome::kAlreadyEnrolled:
                respond(http::ProblemResponse(
                    {409, "already_enrolled", "a user with this email is already in the beta"}, &request));
                return;
            case store::InviteOutcome::kOverCap:
                respond(http::ProblemResponse(
                    {409, "beta_full", "the beta is at its cap of enrolled users plus open invitations",
                     {{"cap", std::to_string(deps_.config.beta.cap)},
                      {"seats_used", std::to_string(result->seats_used)}}},
                    &request));
                return;
        }
    }

    void ImportInvitations(Caller caller, HttpRequest&& request, Respond respond) {
        const auto type = request.Header("content-type");
        if (!type || type->find("text/csv") == std::string_view::npos) {
            respond(http::ProblemResponse(
                {415, "unsupported_media_type", "the import must be text/csv"}, &request));
            return;
        }
        auto report = invitations_.Import(request.body, caller.actor());
        if (!report) {
            respond(report.error().code == ErrorCode::kInvalidArgument
                        ? http::ProblemResponse({422, "invalid_csv", report.error().message}, &request)
                        : Unavailable(request));
            return;
        }
        json::array rows;
        json::object counts;
        for (const auto& row : *report) {
            json::object item{{"line", row.line}, {"email", row.email}, {"result", row.result}};
            if (row.id) {
                item["id"] = std::to_string(*row.id);
            }
            if (!row.error.empty()) {
                item["error"] = row.error;
            }
            rows.push_back(std::move(item));
            counts[row.result] = (counts.contains(row.result) ? counts[row.result].as_int64() : 0) + 1;
        }
        respond(http::Json(200, json::serialize(json::object{{"counts", std::move(counts)},
                                                             {"rows", std::move(rows)}})));
    }

    // JSON (an array of titles) or text/csv with a header row; one report row per title.
    void ImportCatalog(Caller caller, HttpRequest&& request, Respond respond) {
        const auto type = request.Header("content-type");
        const bool csv = type && type->find("text/csv") != std::string_view::npos;
        if (!csv && (!type || type->find("application/json") == std::string_view::npos)) {
            respond(http::ProblemResponse(
                {415, "unsupported_media_type", "the import must be application/json or text/csv"}, &request));
            return;
        }
        if (deps_.catalog == nullptr) {
            respond(Unavailable(request));
            return;
        }
        auto report = catalog::Import(request.body, csv, *deps_.catalog, deps_.search, deps_.clock);
        if (!report) {
            respond(report.error().code == ErrorCode::kInvalidArgument
                        ? http::ProblemResponse({422, "invalid_import", report.error().message}, &request)
                        : Unavailable(request));
            return;
        }
        json::array rows;
        for (const auto& row : report->rows) {
            json::object item{{"row", row.row}, {"result", row.result}};
            if (row.id) {
                item["id"] = std::to_string(*row.id);
            }
            if (!row.error.empty()) {
                item["error"] = row.error;
            }
            rows.push_back(std::move(item));
        }
        const json::object counts{{"created", report->created}, {"updated", report->updated},
                                  {"unchanged", report->unchanged}, {"invalid", report->invalid}};
        if (!deps_.database.RecordAudit(caller.actor(), "catalog.import", "catalog", "null", json::serialize(counts))) {
            spdlog::warn("msg=\"catalog import not audited\"");
        }
        if (deps_.recommendations != nullptr && report->created + report->updated > 0) {
            deps_.recommendations->RetrainSoon();
        }
        respond(http::Json(200, json::serialize(json::object{{"counts", counts}, {"rows", std::move(rows)}})));
    }

    void EditTitle(Caller caller, HttpRequest&& request, Respond respond) {
        const auto id = ParseId(request.params.at("id"));
        boost::system::error_code error;
        const json::value body = json::parse(request.body, error);
        auto title = error ? Result<catalog::Title>(Error{ErrorCode::kInvalidArgument, "the body is not JSON"})
                           : catalog::TitleFromJson(body);
        if (!title) {
            respond(http::ProblemResponse({422, "invalid_argument", title.error().message}, &request));
            return;
        }
        auto before = id ? deps_.catalog->Find(*id) : Result<std::optional<catalog::Title>>(std::nullopt);
        if (!before) {
            respond(Unavailable(request));
            return;
        }
        if (!*before) {
            respond(http::ProblemResponse({404, "not_found", "no title with this id"}, &request));
            return;
        }
        title->id = *id;
        if (title->source_id.empty()) {
            title->source_id = (*before)->source_id;  // an edit keeps the importer's key
        }
        if (!deps_.catalog->Update(*title, deps_.clock.NowMs())) {
            respond(Unavailable(request));
            return;
        }
        // Searchable at once; if the index cannot take it now, its keeper applies it within seconds.
        if (deps_.search != nullptr && deps_.search->ready() && !deps_.search->Update({*title})) {
            spdlog::warn("msg=\"title edit not indexed yet\" title_id={}", *id);
        }
        if (!deps_.database.RecordAudit(caller.actor(), "catalog.edit", "title:" + std::to_string(*id),
                                        json::serialize(catalog::TitleToJson(**before)),
                                        json::serialize(catalog::TitleToJson(*title)))) {
            spdlog::warn("msg=\"title edit not audited\"");
        }
        respond(http::Json(200, json::serialize(catalog::TitleToJson(*title))));
    }

    void Retrain(Caller caller, HttpRequest&& request, Respond respond) {
        if (deps_.recommendations == nullptr) {
            respond(Unavailable(request));
            return;
        }
        deps_.recommendations->RetrainSoon();
        if (!deps_.database.RecordAudit(caller.actor(), "recommendations.retrain", "recommendations", "null", "null")) {
            spdlog::warn("msg=\"retrain not audited\"");
        }
        respond(http::Json(202, R"({"status":"accepted","detail":"the recommendation model retrains in the background"})"));
    }

    void ListInvitations(Caller, HttpRequest&& request, Respond respond) {
        std::optional<std::string> status;
        std::string email_contains;
        PageQuery page;
        if (auto problem =
                ReadEmailSearch(request, page, {"open", "consumed", "revoked"}, status, email_contains)) {
            respond(http::ProblemResponse(*problem, &request));
            return;
        }
        const int64_t limit = page.limit;
        const std::optional<int64_t> before_id = page.before_id;
        auto invitations = deps_.database.ListInvitations(status, email_contains, before_id, limit);
        if (!invitations) {
            respond(Unavailable(request));
            return;
        }
        json::array items;
        for (const auto& invitation : *invitations) {
            items.push_back(InvitationJson(invitation));
        }
        respond(http::Json(200, PageJson(std::move(items), invitations->size(), limit,
                                         invitations->empty() ? 0 : invitations->back().id)));
    }

    static json::object UserJson(const store::User& user) {
        return {{"id", std::to_string(user.id)},
                {"email", user.email},
                {"role", user.role},
                {"status", user.status},
                {"email_verified", user.email_verified},
                {"display_name", user.display_name},
                {"enrolled_at", OptionalTime(user.enrolled_at_ms)},
                {"created_at", FormatRfc3339(user.created_at_ms)}};
    }

    void ListUsers(Caller, HttpRequest&& request, Respond respond) {
        std::optional<std::string> status;
        std::string email_contains;
        PageQuery page;
        if (auto problem = ReadEmailSearch(request, page, {"active", "suspended"}, status, email_contains)) {
            respond(http::ProblemResponse(*problem, &request));
            return;
        }
        auto users = deps_.database.ListUsers(status, email_contains, page.before_id, page.limit);
        if (!users) {
            respond(Unavailable(request));
            return;
        }
        json::array items;
        for (const auto& user : *users) {
            items.push_back(UserJson(user));
        }
        respond(http::Json(200, PageJson(std::move(items), users->size(), page.limit,
                                         users->empty() ? 0 : users->back().id)));
    }

    // A user with their balance and most recent transfers (the full journal pages through
    // GET /api/v1/credits/transfers?user_id=).
    void UserDetail(Caller, HttpRequest&& request, Respond respond) {
        const auto id = PathId(request, "id");
        auto user = id ? deps_.database.FindUser(*id) : Result<std::optional<store::User>>(std::nullopt);
        if (!user) {
            respond(Unavailable(request));
            return;
        }
        if (!*user) {
            respond(http::ProblemResponse({404, "user_not_found", "no such user"}, &request));
            return;
        }
        auto balance = deps_.database.Balance(*id);
        store::TransferFilter filter;
        filter.user_id = *id;
        filter.limit = kPageLimitDefault;
        auto transfers = deps_.database.Transfers(filter);
        if (!balance || !*balance || !transfers) {
            respond(Unavailable(request));
            return;
        }
        json::array recent;
        for (const auto& view : *transfers) {
            recent.push_back(TransferJson(view));
        }
        json::object body = UserJson(**user);
        body["balance"] = BalanceJson(**balance);
        if (auto score = deps_.database.RiskScore((*user)->id)) {
            body["risk_score"] = *score;
        }
        body["recent_transfers"] = std::move(recent);
        respond(http::Json(200, json::serialize(body)));
    }

    // Sets the user's status; a suspension ends their live sessions for `reason` (4011).
    void SetStatus(const Caller& caller, const HttpRequest& request, const Respond& respond,
                   const std::string& status, std::optional<int64_t> id,
                   live::EndReason reason = live::EndReason::kAdminTerminated) {
        auto change = id ? deps_.database.SetUserStatus(*id, status, caller.actor())
                         : Result<store::StatusChange>(store::StatusChange::kNotFound);
        if (!change) {
            respond(Unavailable(request));
            return;
        }
        if (*change == store::StatusChange::kNotFound) {
            respond(http::ProblemResponse({404, "user_not_found", "no such user"}, &request));
            return;
        }
        if (status == "suspended" && deps_.live) {
            // Suspension stops metered use at once: live sessions end as blocked.
            deps_.live->EndUserSessions(*id, reason, live::kCloseBlocked);
        }
        auto user = deps_.database.FindUser(*id);
        if (!user || !*user) {
            respond(Unavailable(request));
            return;
        }
        respond(http::Json(200, json::serialize(UserJson(**user))));
    }

    static json::object LiveSessionJson(const live::SessionRow& row) {
        json::object body{{"id", std::to_string(row.id)},
                          {"user_id", std::to_string(row.user_id)},
                          {"email", row.email},
                          {"feature", row.feature},
                          {"status", row.status},
                          {"instance", row.instance},
                          {"rate_per_minute", row.rate_per_minute},
                          {"started_at", FormatRfc3339(row.started_at_ms)},
                          {"last_seen_at", FormatRfc3339(row.last_seen_at_ms)},
                          {"charged", row.charged},
                          {"end_reason", row.end_reason.empty() ? json::value() : json::value(row.end_reason)},
                          {"ended_at", OptionalTime(row.ended_at_ms)}};
        if (row.status == "ended") {
            body["active_ms"] = row.active_ms;
        }
        return body;
    }

    void ListLiveSessions(Caller, HttpRequest&& request, Respond respond) {
        if (!deps_.sessions) {
            respond(Unavailable(request));
            return;
        }
        bool active_only = true;
        std::optional<int64_t> user_id;
        PageQuery page;
        auto problem = ReadPageQuery(request, page, [&](const std::string& name,
                                                        const std::string& value) -> std::optional<std::string> {
            if (name == "status") {
                if (value != "active" && value != "all") {
                    return "status must be active or all";
                }
                active_only = value == "active";
                return "";
            }
            if (name == "user_id") {
                user_id = ParseId(value);
                return user_id ? "" : "user_id must be a positive integer";
            }
            return std::nullopt;
        });
        if (problem) {
            respond(http::ProblemResponse(*problem, &request));
            return;
        }
        auto rows = deps_.sessions->List(active_only, user_id, page.before_id, page.limit);
        if (!rows) {
            respond(Unavailable(request));
            return;
        }
        json::array items;
        for (const auto& row : *rows) {
            items.push_back(LiveSessionJson(row));
        }
        respond(http::Json(200, PageJson(std::move(items), rows->size(), page.limit,
                                         rows->empty() ? 0 : rows->back().id)));
    }

    // Ends a live session, on this server or (on PostgreSQL) on the server that holds it: it
    // closes with 4010 and is settled. 202: the settlement follows within a second; 409 when it
    // has ended already.
    void TerminateLiveSession(Caller caller, HttpRequest&& request, Respond respond) {
        if (!deps_.live || !deps_.sessions) {
            respond(Unavailable(request));
            return;
        }
        const auto id = PathId(request, "id");
        auto row = id ? deps_.sessions->Find(*id) : Result<std::optional<live::SessionRow>>(std::nullopt);
        if (!row) {
            respond(Unavailable(request));
            return;
        }
        if (!*row) {
            respond(http::ProblemResponse({404, "session_not_found", "no such live session"}, &request));
            return;
        }
        if ((*row)->status != "active") {
            respond(http::ProblemResponse(
                {409, "session_not_active", "the live session has ended already"}, &request));
            return;
        }
        if (!deps_.live->Terminate(*id, live::EndReason::kAdminTerminated, live::kCloseTerminated)) {
            // Another server holds it (on a shared PostgreSQL): that one is told to end it.
            if (!deps_.database.postgres()) {
                respond(http::ProblemResponse(
                    {409, "session_not_active", "the live session has ended already"}, &request));
                return;
            }
            if (Status told = deps_.database.Notify(store::kTerminateChannel, std::to_string(*id)); !told) {
                respond(Unavailable(request));
                return;
            }
        }
        spdlog::info("msg=\"live session terminated\" session_id={} actor={}", *id, caller.actor());
        respond(http::Json(202, json::serialize(json::object{{"id", std::to_string(*id)},
                                                             {"status", "terminating"}})));
    }

    // Both are safe to repeat: setting the status a user already has changes nothing.
    void SuspendUser(Caller caller, HttpRequest&& request, Respond respond) {
        SetStatus(caller, request, respond, "suspended", PathId(request, "id"));
    }
    void ReactivateUser(Caller caller, HttpRequest&& request, Respond respond) {
        SetStatus(caller, request, respond, "active", PathId(request, "id"));
    }

    // Usage analytics: `from` and `to` (RFC 3339; default the last 30 days), `group` (hour, day or
    // week; at most 1,000 buckets), `format` (json or csv).
    void Usage(Caller, HttpRequest&& request, Respond respond) {
        constexpr int64_t kDayMs = 86'400'000;
        constexpr int64_t kBucketsMax = 1000;
        const int64_t now_ms = deps_.clock.NowMs();
        int64_t to_ms = now_ms;
        int64_t from_ms = now_ms - 30 * kDayMs;
        int64_t bucket_ms = kDayMs;
        bool csv = false;
        std::optional<http::Problem> problem;
        for (const auto& [name, value] : request.query) {
            if (name == "from" || name == "to") {
                if (!ParseRfc3339(value, name == "from" ? from_ms : to_ms)) {
                    problem = http::Problem{422, "invalid_argument", name + ": an RFC 3339 timestamp"};
                }
            } else if (name == "group") {
                bucket_ms = value == "hour" ? kDayMs / 24 : value == "day" ? kDayMs : value == "week" ? 7 * kDayMs : 0;
                if (bucket_ms == 0) {
                    problem = http::Problem{422, "invalid_argument", "group: hour, day or week"};
                }
            } else if (name == "format") {
                csv = value == "csv";
                if (value != "csv" && value != "json") {
                    problem = http::Problem{422, "invalid_argument", "format: json or csv"};
                }
            } else {
                problem = http::Problem{422, "invalid_argument", name + ": unknown parameter"};
            }
        }
        if (!problem && (from_ms >= to_ms || (to_ms - from_ms) / bucket_ms > kBucketsMax)) {
            problem = http::Problem{422, "invalid_argument",
                                    "from must be before to, with at most 1,000 buckets of the group between them"};
        }
        if (problem) {
            respond(http::ProblemResponse(*problem, &request));
            return;
        }
        auto report = deps_.database.Usage(from_ms, to_ms, bucket_ms);
        if (!report) {
            respond(Unavailable(request));
            return;
        }
        if (csv) {
            // Long format: one series value per line.
            std::string out = "series,bucket,key,value\n";
            for (const auto& entry : report->credits) {
                out += "credits," + FormatRfc3339(entry.bucket_ms) + "," + entry.feature + "," +
                       std::to_string(entry.credits) + "\n";
            }
            for (const auto& bucket : report->buckets) {
                const std::string at = FormatRfc3339(bucket.bucket_ms);
                out += "active_users," + at + ",," + std::to_string(bucket.active_users) + "\n";
                out += "sessions," + at + ",," + std::to_string(bucket.sessions) + "\n";
                out += "session_minutes," + at + ",," + std::to_string(bucket.session_minutes) + "\n";
            }
            HttpResponse response{200, "text/csv; charset=utf-8", std::move(out), {}};
            response.headers.emplace_back("Content-Disposition", "attachment; filename=\"usage.csv\"");
            respond(std::move(response));
            return;
        }
        json::array credits;
        for (const auto& entry : report->credits) {
            credits.push_back(json::object{{"bucket", FormatRfc3339(entry.bucket_ms)},
                                           {"feature", entry.feature},
                                           {"credits", entry.credits},
                                           {"operations", entry.operations}});
        }
        json::array buckets;
        for (const auto& bucket : report->buckets) {
            buckets.push_back(json::object{{"bucket", FormatRfc3339(bucket.bucket_ms)},
                                           {"active_users", bucket.active_users},
                                           {"sessions", bucket.sessions},
                                           {"session_minutes", bucket.session_minutes}});
        }
        json::array top;
        for (const auto& user : report->top_users) {
            top.push_back(json::object{{"user_id", std::to_string(user.user_id)}, {"email", user.email},
                                       {"credits", user.credits}});
        }
        respond(http::Json(200, json::serialize(json::object{
                                    {"from", FormatRfc3339(from_ms)},
                                    {"to", FormatRfc3339(to_ms)},
                                    {"group", bucket_ms == kDayMs ? "day" : bucket_ms == 7 * kDayMs ? "week" : "hour"},
                                    {"credits_by_feature", credits},
                                    {"buckets", buckets},
                                    {"top_users", top},
                                    {"totals", json::object{{"granted", report->granted},
                                                            {"spent", report->spent},
                                                            {"expired", report->expired},
                                                            {"adjusted", report->adjusted},
                                                            {"searches", report->searches},
                                                            {"recommendation_refreshes", report->recommendation_refreshes}}},
                                    {"funnel", json::object{{"invited", report->invited},
                                                            {"enrolled", report->enrolled},
                                                            {"active_7d", report->active_7d}}}})));
    }

    static json::object RiskEventJson(const store::RiskEvent& event) {
        boost::system::error_code error;
        json::value evidence = json::parse(event.evidence, error);
        return json::object{{"id", std::to_string(event.id)},
                            {"user_id", event.user_id ? json::value(std::to_string(*event.user_id)) : json::value()},
                            {"rule", event.rule},
                            {"action", event.action},
                            {"score", event.score},
                            {"evidence", error ? json::value(event.evidence) : evidence},
                            {"status", event.status},
                            {"created_at", FormatRfc3339(event.created_at_ms)},
                            {"decided_by", event.decided_by ? json::value(*event.decided_by) : json::value()},
                            {"decided_at", OptionalTime(event.decided_at_ms)}};
    }

    void ListRiskEvents(Caller, HttpRequest&& request, Respond respond) {
        std::optional<std::string> status;
        std::optional<int64_t> user_id;
        PageQuery page;
        auto problem = ReadPageQuery(request, page, [&](const std::string& name,
                                                        const std::string& value) -> std::optional<std::string> {
            if (name == "status") {
                status = value;
                return value == "open" || value == "cleared" || value == "suspended"
                           ? ""
                           : "must be open, cleared or suspended";
            }
            if (name == "user_id") {
                user_id = ParseId(value);
                return user_id ? "" : "must be a user id";
            }
            return std::nullopt;
        });
        if (problem) {
            respond(http::ProblemResponse(*problem, &request));
            return;
        }
        auto events = deps_.database.ListRiskEvents(status, user_id, page.before_id, page.limit);
        if (!events) {
            respond(Unavailable(request));
            return;
        }
        json::array items;
        for (const auto& event : *events) {
            items.push_back(RiskEventJson(event));
        }
        respond(http::Json(200, PageJson(std::move(items), events->size(), page.limit,
                                         events->empty() ? 0 : events->back().id)));
    }

    // The event, or the answer already given (404, 503).
    std::optional<store::RiskEvent> RiskEventOf(const HttpRequest& request, const Respond& respond) {
        const auto id = PathId(request, "id");
        auto event = id ? deps_.database.FindRiskEvent(*id) : Result<std::optional<store::RiskEvent>>(std::nullopt);
        if (!event) {
            respond(Unavailable(request));
            return std::nullopt;
        }
        if (!*event) {
            respond(http::ProblemResponse({404, "not_found", "no such risk event"}, &request));
        }
        return *event;
    }

    void RiskEventDetail(Caller, HttpRequest&& request, Respond respond) {
        if (const auto event = RiskEventOf(request, respond)) {
            json::object body = RiskEventJson(*event);
            if (event->user_id) {
                auto score = deps_.database.RiskScore(*event->user_id);
                body["user_risk_score"] = score ? *score : 0;
            }
            respond(http::Json(200, json::serialize(body)));
        }
    }

    // Closes an open event as `status`; 409 when it was decided already.
    bool Decide(const Caller& caller, const HttpRequest& request, const Respond& respond,
                const store::RiskEvent& event, const std::string& status) {
        auto change = deps_.database.DecideRiskEvent(event.id, status, caller.actor());
        if (!change) {
            respond(Unavailable(request));
            return false;
        }
        if (*change != store::StatusChange::kChanged) {
            respond(http::ProblemResponse({409, "already_decided", "this risk event was decided already"}, &request));
            return false;
        }
        return true;
    }

    void ClearRiskEvent(Caller caller, HttpRequest&& request, Respond respond) {
        if (const auto event = RiskEventOf(request, respond); event && Decide(caller, request, respond, *event, "cleared")) {
            auto decided = deps_.database.FindRiskEvent(event->id);
            if (!decided || !*decided) {
                respond(Unavailable(request));
                return;
            }
            respond(http::Json(200, json::serialize(RiskEventJson(**decided))));
        }
    }

    // Suspends (or reactivates) the event's user and closes the event: the user's answer.
    void SuspendForRiskEvent(Caller caller, HttpRequest&& request, Respond respond) {
        DecideWithUser(caller, request, respond, "suspended", "suspended");
    }
    void ReactivateForRiskEvent(Caller caller, HttpRequest&& request, Respond respond) {
        DecideWithUser(caller, request, respond, "cleared", "active");
    }
    void DecideWithUser(const Caller& caller, const HttpRequest& request, const Respond& respond,
                        const std::string& event_status, const std::string& user_status) {
        const auto event = RiskEventOf(request, respond);
        if (!event) {
            return;
        }
        if (!event->user_id) {
            respond(http::ProblemResponse({422, "no_user", "this risk event names no user"}, &request));
            return;
        }
        if (event->status != "open" && user_status == "suspended") {
            respond(http::ProblemResponse({409, "already_decided", "this risk event was decided already"}, &request));
            return;
        }
        if (event->status == "open" && !Decide(caller, request, respond, *event, event_status)) {
            return;
        }
        SetStatus(caller, request, respond, user_status, event->user_id, live::EndReason::kFraudBlocked);
    }

    void ListAudit(Caller, HttpRequest&& request, Respond respond) {
        std::optional<std::string> target;
        PageQuery page;
        auto problem = ReadPageQuery(request, page, [&](const std::string& name,
                                                        const std::string& value) -> std::optional<std::string> {
            if (name != "target") {
                return std::nullopt;
            }
            target = value;
            return "";
        });
        if (problem) {
            respond(http::ProblemResponse(*problem, &request));
            return;
        }
        auto entries = deps_.database.ListAudit(target, page.before_id, page.limit);
        if (!entries) {
            respond(Unavailable(request));
            return;
        }
        json::array items;
        for (const auto& entry : *entries) {
            items.push_back(json::object{{"id", std::to_string(entry.id)},
                                         {"actor", entry.actor},
                                         {"action", entry.action},
                                         {"target", entry.target},
                                         {"before", json::parse(entry.before)},
                                         {"after", json::parse(entry.after)},
                                         {"created_at", FormatRfc3339(entry.created_at_ms)}});
        }
        respond(http::Json(200, PageJson(std::move(items), entries->size(), page.limit,
                                         entries->empty() ? 0 : entries->back().id)));
    }

    void InvitationChanged(const HttpRequest& request, const Respond& respond,
                           const Result<store::InvitationChange>& change) {
        if (!change) {
            respond(Unavailable(request));
            return;
        }
        switch (*change) {
            case store::InvitationChange::kDone: {
                auto invitation = deps_.database.FindInvitation(*PathId(request, "id"));
                respond(invitation && *invitation
                            ? http::Json(200, json::serialize(InvitationJson(**invitation)))
                            : Unavailable(request));
                return;
            }
            case store::InvitationChange::kNotFound:
                respond(http::ProblemResponse({404, "invitation_not_found", "no such invitation"}, &request));
                return;
            case store::InvitationChange::kNotOpen:
                respond(http::ProblemResponse(
                    {409, "invitation_not_open", "the invitation is consumed, revoked or expired"}, &request));
                return;
            case store::InvitationChange::kTooSoon: {
                auto response = http::ProblemResponse(
                    {429, "too_many_requests", "the invitation mail was sent less than a minute ago"},
                    &request);
                response.headers.emplace_back("Retry-After", "60");
                respond(std::move(response));
                return;
            }
        }
    }

    // Safe to repeat: a second revoke answers 409 and changes nothing.
    void RevokeInvitation(Caller caller, HttpRequest&& request, Respond respond) {
        const auto id = PathId(request, "id");
        InvitationChanged(request, respond,
                          id ? deps_.database.RevokeInvitation(*id, caller.actor())
                             : Result<store::InvitationChange>(store::InvitationChange::kNotFound));
    }

    // Limited to once a minute per invitation, which also absorbs a retried request.
    void ResendInvitation(Caller caller, HttpRequest&& request, Respond respond) {
        const auto id = PathId(request, "id");
        InvitationChanged(request, respond,
                          id ? invitations_.Resend(*id, caller.actor())
                             : Result<store::InvitationChange>(store::InvitationChange::kNotFound));
        if (deps_.mail != nullptr) {
            deps_.mail->Poke();
        }
    }


    void Mutation(http::Router& router, std::string pattern, Scope scope, int success_status, Parse parse) {
        router.Add("POST", std::move(pattern),
                   [this, scope, success_status, parse](HttpRequest&& request, Respond respond) {
                       auth_.Require(scope, std::move(request), std::move(respond),
                                     [this, success_status, parse](Caller caller, HttpRequest&& req, Respond res) {
                                         if (req.params.contains("id") && !PathId(req, "id")) {
                                             res(http::ProblemResponse(
                                                 {404, "hold_not_found", "no such hold"}, &req));
                                             return;
                                         }
                                         BodyReader body(req);
                                         ledger::Operation operation = parse(body, req);
                                         if (const auto& problem = body.Finish()) {
                                             res(http::ProblemResponse(*problem, &req));
                                             return;
                                         }
                                         Submit(deps_, caller, std::move(req), std::move(res),
                                                std::move(operation), success_status);
                                     });
                   });
    }

    void Readyz(HttpRequest&& request, Respond respond) {
        if (deps_.draining.load()) {
            respond(http::ProblemResponse({503, "draining", "the server is shutting down"}, &request));
            return;
        }
        deps_.blocking.Post([this, request = std::move(request), respond = std::move(respond)] {
            if (!deps_.database.Ping()) {
                respond(Unavailable(request));
                return;
            }
            respond(http::Json(200, R"({"status":"ready"})"));
        });
    }

    void Balance(HttpRequest&& request, Respond respond) {
        const auto user_id = PathId(request, "user_id");
        if (!user_id) {
            respond(http::ProblemResponse({404, "user_not_found", "no wallet for this user"}, &request));
            return;
        }
        deps_.blocking.Post([this, user_id, request = std::move(request), respond = std::move(respond)] {
            auto balance = deps_.database.Balance(*user_id);
            if (!balance) {
                respond(Unavailable(request));
                return;
            }
            if (!*balance) {
                respond(http::ProblemResponse({404, "user_not_found", "no wallet for this user"}, &request));
                return;
            }
            respond(http::Json(200, json::serialize(BalanceJson(**balance))));
        });
    }

    void Transfers(HttpRequest&& request, Respond respond) {
        store::TransferFilter filter;
        if (auto problem = ReadTransferQuery(request, filter, true)) {
            respond(http::ProblemResponse(*problem, &request));
            return;
        }
        deps_.blocking.Post([this, filter, request = std::move(request), respond = std::move(respond)] {
            auto transfers = deps_.database.Transfers(filter);
            if (!transfers) {
                respond(Unavailable(request));
                return;
            }
            respond(http::Json(200, TransfersPage(*transfers, filter.limit)));
        });
    }

    void ListMail(HttpRequest&& request, Respond respond) {
        std::optional<std::string> status;
        PageQuery page;
        auto problem = ReadPageQuery(request, page, [&](const std::string& name,
                                                        const std::string& value) -> std::optional<std::string> {
            if (name != "status") {
                return std::nullopt;
            }
            status = value;
            return value == "pending" || value == "sent" || value == "dead"
                       ? "" : "status must be pending, sent or dead";
        });
        if (problem) {
            respond(http::ProblemResponse(*problem, &request));
            return;
        }
        const int64_t limit = page.limit;
        const std::optional<int64_t> before_id = page.before_id;
        deps_.blocking.Post([this, status, before_id, limit, request = std::move(request),
                             respond = std::move(respond)] {
            auto entries = deps_.database.ListMail(status, before_id, limit);
            if (!entries) {
                respond(Unavailable(request));
                return;
            }
            json::array items;
            for (const store::OutboxEntry& entry : *entries) {
                items.push_back(json::object{
                    {"id", std::to_string(entry.id)},
                    {"to", entry.to},
                    {"template", entry.template_name},
                    {"subject", entry.subject},
                    {"status", entry.status},
                    {"attempts", entry.attempts},
                    {"next_attempt_at", FormatRfc3339(entry.next_attempt_at_ms)},
                    {"last_error", entry.last_error},
                    {"created_at", FormatRfc3339(entry.created_at_ms)},
                    {"sent_at", OptionalTime(entry.sent_at_ms)}});
            }
            respond(http::Json(200, PageJson(std::move(items), entries->size(), limit,
                                             entries->empty() ? 0 : entries->back().id)));
        });
    }

    // Safe to repeat: a second retry of the same mail answers 409 and changes nothing.
    void RetryMail(const Caller& caller, HttpRequest&& request, Respond respond, bool discard = false) {
        const auto id = PathId(request, "id");
        if (!id) {
            respond(http::ProblemResponse({404, "mail_not_found", "no such mail"}, &request));
            return;
        }
        deps_.blocking.Post([this, id, discard, actor = caller.actor(), request = std::move(request),
                             respond = std::move(respond)] {
            auto outcome = deps_.database.RetryMail(*id, deps_.clock.NowMs(), actor, discard);
            if (!outcome) {
                respond(Unavailable(request));
            } else if (*outcome == store::RetryOutcome::kNotFound) {
                respond(http::ProblemResponse({404, "mail_not_found", "no such mail"}, &request));
            } else if (*outcome == store::RetryOutcome::kNotDead) {
                respond(http::ProblemResponse(
                    {409, "mail_not_dead", "only a dead letter can be retried or discarded"}, &request));
            } else if (discard) {
                respond(HttpResponse{204, "text/plain", "", {}});
            } else {
                if (deps_.mail != nullptr) {
                    deps_.mail->Poke();
                }
                respond(http::Json(200, json::serialize(json::object{{"id", std::to_string(*id)},
                                                                     {"status", "pending"}})));
            }
        });
    }

    Deps& deps_;
    Authenticator auth_;
    identity::Invitations invitations_;
};

Api::Api(Deps& deps)
    : routes_(std::make_unique<Routes>(deps)), web_(std::make_unique<WebRoutes>(deps)) {}
Api::~Api() = default;
void Api::Register(http::Router& router) {
    routes_->Register(router);
    web_->Register(router);
}

}  // namespace beta500::api
