#include "http/cors.h"

#include <algorithm>

#include "base/strings.h"

namespace oa::http {
namespace beast_http = boost::beast::http;

Cors::Cors(std::vector<std::string> origins) : origins_(std::move(origins)) {
  any_ = std::find(origins_.begin(), origins_.end(), "*") != origins_.end();
}

bool Cors::Allowed(std::string_view origin) const {
  return any_ || std::find(origins_.begin(), origins_.end(), origin) != origins_.end();
}

bool Cors::Replaces(std::string_view name) { return StartsWithIgnoreCase(name, "access-control-"); }

void Cors::ForEachHeader(std::string_view origin,
                         absl::FunctionRef<void(std::string_view, std::string_view)> add) const {
  // With a list of origins the answer depends on Origin, so caches must know that.
  if (!any_) add("Vary", "Origin");
  if (origin.empty() || !Allowed(origin)) return;
  add("Access-Control-Allow-Origin", any_ ? std::string_view("*") : origin);
  // Lets browser code read x-request-id, openai-*, x-ratelimit-* and retry-after.
  add("Access-Control-Expose-Headers", "*");
}

void Cors::Decorate(std::string_view origin, beast_http::fields& response) const {
  for (auto it = response.begin(); it != response.end();) {
    it = Replaces(it->name_string()) ? response.erase(it) : std::next(it);
  }
  ForEachHeader(
      origin, [&](std::string_view name, std::string_view value) { response.insert(name, value); });
}

void Cors::Decorate(std::string_view origin, upstream::WireHead& response) const {
  ForEachHeader(origin,
                [&](std::string_view name, std::string_view value) { response.Add(name, value); });
}

void Cors::DecoratePreflight(std::string_view origin, std::string_view requested_headers,
                             beast_http::fields& response) const {
  Decorate(origin, response);
  if (origin.empty() || !Allowed(origin)) return;
  response.erase(beast_http::field::access_control_expose_headers);
  response.set(beast_http::field::access_control_allow_methods,
               "GET, POST, PUT, PATCH, DELETE, OPTIONS");
  if (!requested_headers.empty()) {
    response.set(beast_http::field::access_control_allow_headers, requested_headers);
  }
  response.set(beast_http::field::access_control_max_age, "86400");
}

}  // namespace oa::http
