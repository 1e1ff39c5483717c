// Cross-origin access for browser clients. The gateway answers preflight requests itself
// and adds the CORS headers to every answer, relayed or its own; upstream CORS headers
// are replaced, since what a browser may do is the gateway's policy.
#pragma once

#include <boost/beast/http/fields.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "absl/functional/function_ref.h"
#include "upstream/wire.h"

namespace oa::http {

class Cors {
 public:
  // `origins` holds exact origins ("https://app.example") or "*" for any.
  explicit Cors(std::vector<std::string> origins);

  // True for the headers the gateway's own replace: an upstream's Access-Control-*.
  static bool Replaces(std::string_view name);

  // Adds the headers of an actual (non-preflight) answer for a request from `origin`
  // (empty when the request had no Origin header). The fields version first drops those
  // it replaces; a relayed head skips them as it is written.
  void Decorate(std::string_view origin, boost::beast::http::fields& response) const;
  void Decorate(std::string_view origin, upstream::WireHead& response) const;

  // Adds the headers of a preflight answer, echoing the requested headers.
  void DecoratePreflight(std::string_view origin, std::string_view requested_headers,
                         boost::beast::http::fields& response) const;

 private:
  bool Allowed(std::string_view origin) const;
  // Calls `add` with each header of an actual answer (see Decorate).
  void ForEachHeader(std::string_view origin,
                     absl::FunctionRef<void(std::string_view, std::string_view)> add) const;

  std::vector<std::string> origins_;
  bool any_ = false;
};

}  // namespace oa::http
