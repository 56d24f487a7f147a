// HttpRequest and HttpResponse: the plain values handlers see, so handler code never includes
// Beast. Problem: RFC 9457 problem+json responses with a stable `code`.
// Plain values, not thread-safe.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/stream.h"

namespace beta500::http {

struct HttpRequest {
    std::string method;  // upper case, e.g. "GET"
    std::string target;  // as sent: path and query
    std::string path;    // percent-decoded path
    std::map<std::string, std::string> query;
    std::map<std::string, std::string> params;   // from the route pattern, e.g. {id}
    std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
    std::string body;
    std::string request_id;
    std::string remote_address;

    // The first header with this (lower-case) name, if any.
    std::optional<std::string_view> Header(std::string_view lower_name) const;
};

struct HttpResponse {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
    // Set to keep the connection as a WebSocket (the request must be an upgrade) or an event
    // stream; status, body and content type are then the server's.
    std::shared_ptr<StreamHandler> stream;
    StreamKind stream_kind = StreamKind::kWebSocket;
};

// Sends the response for one request. Must be called exactly once, from any thread.
using Respond = std::function<void(HttpResponse)>;
// Handles one request: parse, call a module, map the result, then Respond.
using Handler = std::function<void(HttpRequest&&, Respond)>;

HttpResponse Json(int status, std::string body);

// An RFC 9457 problem: `code` is stable and machine-readable, `detail` is for people.
struct Problem {
    int status = 500;
    std::string code;
    std::string detail;
    // Extra members (already JSON-encoded values), e.g. {"available", "12"}.
    std::vector<std::pair<std::string, std::string>> extensions;
};
HttpResponse ProblemResponse(const Problem& problem, const HttpRequest* request = nullptr);

}  // namespace beta500::http
