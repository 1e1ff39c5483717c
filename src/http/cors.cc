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

void Cors::Decorate(std::string_view origin, beast_http::fields& response) const {
  for (auto it = response.begin(); it != response.end();) {
    it = StartsWithIgnoreCase(it->name_string(), "access-control-") ? response.erase(it)
                                                                    : std::next(it);
  }
  // With a list of origins the answer depends on Origin, so caches must know that.
  if (!any_) response.insert(beast_http::field::vary, "Origin");
  if (origin.empty() || !Allowed(origin)) return;
  response.set(beast_http::field::access_control_allow_origin,
               any_ ? std::string_view("*") : origin);
  // Lets browser code read x-request-id, openai-*, x-ratelimit-* and retry-after.
  response.set(beast_http::field::access_control_expose_headers, "*");
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
