#include "http/router.h"

#include <algorithm>

#include "core/assert.h"

namespace beta500::http {

std::vector<std::string_view> PathSegments(std::string_view path) {
    std::vector<std::string_view> segments;
    if (path.empty() || path.front() != '/') {
        return segments;
    }
    size_t start = 1;
    for (;;) {
        const size_t slash = path.find('/', start);
        segments.push_back(path.substr(start, slash == std::string_view::npos ? std::string_view::npos
                                                                              : slash - start));
        if (slash == std::string_view::npos) {
            return segments;
        }
        start = slash + 1;
    }
}

void Router::Add(std::string method, std::string pattern, Handler handler) {
    B5_ASSERT(!pattern.empty() && pattern.front() == '/', "route patterns start with /");
    std::vector<std::string> segments;
    for (std::string_view segment : PathSegments(pattern)) {
        segments.emplace_back(segment);
    }
    routes_.push_back(Route{std::move(method), std::move(pattern), std::move(handler), std::move(segments)});
}

namespace {

bool MatchPattern(const std::vector<std::string>& parts, const std::vector<std::string_view>& path,
                  std::map<std::string, std::string>& params) {
    if (parts.size() != path.size()) {
        return false;
    }
    for (size_t i = 0; i < parts.size(); ++i) {
        const std::string_view part = parts[i];
        if (part.size() > 2 && part.front() == '{' && part.back() == '}') {
            if (path[i].empty()) {
                return false;
            }
            params[std::string(part.substr(1, part.size() - 2))] = std::string(path[i]);
        } else if (part != path[i]) {
            return false;
        }
    }
    return true;
}

}  // namespace

Match Router::Find(std::string_view method, std::string_view path) const {
    Match match;
    const auto segments = PathSegments(path);
    for (const Route& route : routes_) {
        std::map<std::string, std::string> params;
        if (!MatchPattern(route.segments, segments, params)) {
            continue;
        }
        if (route.method == method || (method == "HEAD" && route.method == "GET")) {
            if (match.route == nullptr) {
                match.route = &route;
                match.params = std::move(params);
            }
        }
        if (std::find(match.allowed.begin(), match.allowed.end(), route.method) == match.allowed.end()) {
            match.allowed.push_back(route.method);
        }
    }
    return match;
}

}  // namespace beta500::http
