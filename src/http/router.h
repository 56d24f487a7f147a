// Router: maps (method, path) to a handler through patterns such as /credits/holds/{id}/capture.
// Built once at start-up, then read-only (safe to share between threads).
#pragma once

#include <string>
#include <vector>

#include "http/message.h"

namespace beta500::http {

struct Route {
    std::string method;
    std::string pattern;
    Handler handler;
    std::vector<std::string> segments;  // the pattern split once, at Add
};

struct Match {
    const Route* route = nullptr;               // null: no route for this method
    std::map<std::string, std::string> params;  // filled when route is set
    std::vector<std::string> allowed;           // methods of routes matching the path (for 405)
};

class Router {
   public:
    void Add(std::string method, std::string pattern, Handler handler);
    Match Find(std::string_view method, std::string_view path) const;
    const std::vector<Route>& routes() const { return routes_; }

   private:
    std::vector<Route> routes_;
};

// Splits a path into its segments ("/a/b/" -> {"a", "b", ""}).
std::vector<std::string_view> PathSegments(std::string_view path);

}  // namespace beta500::http
