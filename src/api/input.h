// BodyReader: reads a JSON object request body field by field, keeping the first problem found
// (with the field's name) so a handler can answer one clear 4xx. Not thread-safe.
#pragma once

#include <boost/json.hpp>
#include <optional>
#include <set>
#include <string>

#include "http/message.h"

namespace beta500::api {

class BodyReader {
   public:
    // An empty body reads as an empty object (for endpoints whose fields are all optional).
    explicit BodyReader(const http::HttpRequest& request);

    // A positive id, given as a string of digits (or, leniently, a JSON integer).
    int64_t Id(const char* name);
    int64_t Int(const char* name);
    std::optional<int64_t> OptionalInt(const char* name);
    std::string String(const char* name);
    std::string OptionalString(const char* name);
    bool OptionalBool(const char* name, bool fallback);
    // An RFC 3339 timestamp, in epoch milliseconds.
    std::optional<int64_t> OptionalTimestamp(const char* name);

    // After the last field: flags fields the endpoint does not know. Returns the problem, if any.
    const std::optional<http::Problem>& Finish();

   private:
    const boost::json::value* Find(const char* name);
    void Fail(int status, const std::string& code, const std::string& field, const std::string& detail);

    boost::json::object object_;
    std::set<std::string> known_;
    std::optional<http::Problem> problem_;
};

// Parses a positive decimal id (the form of ids in paths and queries).
std::optional<int64_t> ParseId(std::string_view text);

}  // namespace beta500::api
