// BodyReader: reads a JSON object request body field by field, keeping the first problem found
// (with the field's name) so a handler can answer one clear 4xx. Not thread-safe.
#pragma once

#include <boost/json.hpp>
#include <functional>
#include <optional>
#include <set>
#include <vector>
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

// Page size bounds for list endpoints.
inline constexpr int64_t kPageLimitDefault = 50;
inline constexpr int64_t kPageLimitMax = 200;

// The query of a list endpoint: `limit` and `cursor` (newest first: items older than it).
struct PageQuery {
    int64_t limit = kPageLimitDefault;
    std::optional<int64_t> before_id;
};

// Reads `limit` and `cursor`, and hands every other parameter to `other`, which answers
// nullopt for a name it does not know, "" when the value is fine, or what is wrong with it.
// Returns the 422 problem (naming the parameter) for the first bad or unknown one.
std::optional<http::Problem> ReadPageQuery(
    const http::HttpRequest& request, PageQuery& page,
    const std::function<std::optional<std::string>(const std::string& name, const std::string& value)>& other);

// Reads a search over people: `status` (one of `statuses`), `q` (part of an email address,
// compared lower-cased), `limit` and `cursor`.
std::optional<http::Problem> ReadEmailSearch(const http::HttpRequest& request, PageQuery& page,
                                             const std::vector<std::string>& statuses,
                                             std::optional<std::string>& status,
                                             std::string& email_contains);

}  // namespace beta500::api
