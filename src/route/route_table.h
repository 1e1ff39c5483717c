// The one route table (DESIGN.md): every RPC of proto/ with its google.api.http rule,
// compiled once at start-up and read by both fronts. The REST front matches method and
// path to an RPC; the gRPC front looks an RPC up by its full name.
//
// Usage:
//   absl::StatusOr<RouteTable> table = RouteTable::Build(ApiDescriptors().files);
//   if (auto m = table->MatchHttp("GET", "/v1/files/file-abc/content")) {
//     m->route->rpc;       // "openai.v1.Files/DownloadFile"
//     m->bindings[0];      // {{"file_id"}, "file-abc"}
//   }
#pragma once

#include <google/protobuf/descriptor.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "base/strings.h"
#include "route/http_template.h"
#include "route/path_matcher.h"

namespace oa::route {

struct Route {
  std::string rpc;            // gRPC name without the leading '/': "pkg.Service/Method"
  std::string http_method;    // "GET", "POST", "DELETE", "PATCH", "PUT"
  std::string path_template;  // as written in the rule
  HttpTemplate tmpl;
  std::string body;  // the rule's body: "*", a field name, or empty for none
  const google::protobuf::MethodDescriptor* method = nullptr;
  // A WebSocket session (Realtime, Responses WebSocket mode): a bidirectional RPC on a
  // GET rule. Its HTTP call is the upgrade, which has no body; the body field is what each
  // message carries as one text frame, and the other fields of the first message make
  // the upgrade's query string.
  bool websocket = false;
};

struct RouteMatch {
  const Route* route = nullptr;
  std::vector<PathBinding> bindings;
};

class RouteTable {
 public:
  // Reads every method of every service in `files` whose package starts with
  // `package_prefix`. A method without an http rule, or a rule that does not parse, is an
  // error: proto/ must describe every RPC it declares. Where several RPCs share one rule
  // (a unary and a streaming form of one call), MatchHttp finds the first declared.
  static absl::StatusOr<RouteTable> Build(
      const std::vector<const google::protobuf::FileDescriptor*>& files,
      std::string_view package_prefix = "openai.");

  // `path` excludes the query string. nullopt: no RPC describes this call.
  std::optional<RouteMatch> MatchHttp(std::string_view http_method, std::string_view path) const;

  // `rpc` as in Route::rpc, or with a leading '/' as gRPC sends it.
  const Route* FindRpc(std::string_view rpc) const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  RouteTable(std::vector<Route> routes, PathMatcher matcher);

  std::vector<Route> routes_;
  PathMatcher matcher_;
  StringMap<int> by_rpc_;  // first binding of each RPC
};

}  // namespace oa::route
