// JSON views of store records shared by several handlers. Pure functions.
#pragma once

#include <boost/json.hpp>

#include "http/message.h"
#include "ledger/writer.h"
#include "store/database.h"

namespace beta500::api {

boost::json::value OptionalId(const std::optional<int64_t>& id);
boost::json::value OptionalTime(const std::optional<int64_t>& epoch_ms);
boost::json::object BalanceJson(const store::BalanceView& view);
boost::json::object TransferJson(const store::TransferView& view);
// A page of items with the cursor of the next page (null when this page is not full).
std::string PageJson(boost::json::array items, size_t page_size, int64_t limit, int64_t last_id);

// Reads a journal query (kind, feature, limit, cursor and, when `user_id_allowed`, user_id)
// into `filter`; returns the 422 problem for a bad or unknown parameter.
std::optional<http::Problem> ReadTransferQuery(const http::HttpRequest& request,
                                               store::TransferFilter& filter, bool user_id_allowed);
// The one place a ledger rejection becomes an HTTP status.
int StatusFor(ledger::Rejection rejection);
// A ledger answer as HTTP: the body with `success_status`, or the rejection as a problem (402 for
// insufficient credits, with the available amount); `Idempotent-Replayed` on a replay.
http::HttpResponse LedgerResponse(const http::HttpRequest& request, const ledger::Response& answer,
                                  int success_status);
// A page of the journal as JSON.
std::string TransfersPage(const std::vector<store::TransferView>& transfers, int64_t limit);

}  // namespace beta500::api
