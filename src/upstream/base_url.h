// The upstream as the OpenAI SDKs take it: a base URL such as https://api.openai.com/v1.
// A front call to /v1/X goes to <base>/X, so any path prefix works (Azure-style
// deployments, vLLM, Ollama, the test mock).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace oa::upstream {

struct BaseUrl {
  bool tls = true;
  std::string host;  // name or address, without brackets
  uint16_t port = 443;
  std::string host_header;  // "host" or "host:port" when the port is not the scheme's
  std::string path_prefix;  // "/v1", or "" for a bare origin; never ends in '/'

  static absl::StatusOr<BaseUrl> Parse(std::string_view url);

  // The upstream request target for a front target under /v1 ("/v1/models?limit=2").
  // REQUIRES: `front_target` is "/v1" or starts with "/v1/" or "/v1?".
  std::string TargetFor(std::string_view front_target) const;
};

}  // namespace oa::upstream
