#include "http/message.h"

#include <boost/json.hpp>

namespace beta500::http {

std::optional<std::string_view> HttpRequest::Header(std::string_view lower_name) const {
    for (const auto& [name, value] : headers) {
        if (name == lower_name) {
            return value;
        }
    }
    return std::nullopt;
}

HttpResponse Json(int status, std::string body) {
    return HttpResponse{status, "application/json", std::move(body), {}};
}

namespace {

std::string_view Title(int status) {
    switch (status) {
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 402: return "Payment Required";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 413: return "Content Too Large";
        case 415: return "Unsupported Media Type";
        case 422: return "Unprocessable Content";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 503: return "Service Unavailable";
        default: return status >= 500 ? "Internal Server Error" : "Error";
    }
}

}  // namespace

HttpResponse ProblemResponse(const Problem& problem, const HttpRequest* request) {
    boost::json::object body{{"type", "urn:beta500:problem:" + problem.code},
                             {"title", Title(problem.status)},
                             {"status", problem.status},
                             {"code", problem.code},
                             {"detail", problem.detail}};
    if (request != nullptr) {
        body["instance"] = request->path;
        body["request_id"] = request->request_id;
    }
    for (const auto& [key, json_value] : problem.extensions) {
        body[key] = boost::json::parse(json_value);
    }
    return HttpResponse{problem.status, "application/problem+json", boost::json::serialize(body), {}};
}

std::string SseEvent(std::string_view name, std::string_view data) {
    std::string event = "event: ";
    event += name;
    event += "\ndata: ";
    event += data;
    event += "\n\n";
    return event;
}

}  // namespace beta500::http
