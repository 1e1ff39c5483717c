#include "route/route_table.h"

#include "base/strings.h"
#include "google/api/annotations.pb.h"

namespace oa::route {
namespace {

// The method and template of one binding; false for a custom or empty pattern.
bool Pattern(const google::api::HttpRule& rule, std::string& method, std::string& path) {
  using P = google::api::HttpRule;
  switch (rule.pattern_case()) {
    case P::kGet:
      method = "GET", path = rule.get();
      return true;
    case P::kPost:
      method = "POST", path = rule.post();
      return true;
    case P::kPut:
      method = "PUT", path = rule.put();
      return true;
    case P::kDelete:
      method = "DELETE", path = rule.delete_();
      return true;
    case P::kPatch:
      method = "PATCH", path = rule.patch();
      return true;
    case P::kCustom:
      method = rule.custom().kind(), path = rule.custom().path();
      return true;
    case P::PATTERN_NOT_SET:
      return false;
  }
  return false;
}

absl::Status AddRule(const google::protobuf::MethodDescriptor& method,
                     const google::api::HttpRule& rule, std::vector<Route>& routes) {
  Route route;
  route.rpc = StrCat(method.service()->full_name(), "/", method.name());
  route.method = &method;
  route.body = rule.body();
  if (!Pattern(rule, route.http_method, route.path_template)) {
    return absl::InvalidArgumentError(StrCat(route.rpc, ": http rule without a pattern"));
  }
  absl::StatusOr<HttpTemplate> tmpl = HttpTemplate::Parse(route.path_template);
  if (!tmpl.ok()) {
    return absl::InvalidArgumentError(StrCat(route.rpc, ": ", tmpl.status().message()));
  }
  route.tmpl = *std::move(tmpl);
  route.websocket =
      method.client_streaming() && method.server_streaming() && route.http_method == "GET";
  routes.push_back(std::move(route));
  return absl::OkStatus();
}

}  // namespace

RouteTable::RouteTable(std::vector<Route> routes, PathMatcher matcher)
    : routes_(std::move(routes)), matcher_(std::move(matcher)) {
  for (int i = 0; i < static_cast<int>(routes_.size()); ++i) by_rpc_.try_emplace(routes_[i].rpc, i);
}

absl::StatusOr<RouteTable> RouteTable::Build(
    const std::vector<const google::protobuf::FileDescriptor*>& files,
    std::string_view package_prefix) {
  std::vector<Route> routes;
  for (const google::protobuf::FileDescriptor* file : files) {
    if (!file->package().starts_with(package_prefix)) continue;
    for (int s = 0; s < file->service_count(); ++s) {
      const google::protobuf::ServiceDescriptor& service = *file->service(s);
      for (int m = 0; m < service.method_count(); ++m) {
        const google::protobuf::MethodDescriptor& method = *service.method(m);
        if (!method.options().HasExtension(google::api::http)) {
          return absl::InvalidArgumentError(
              StrCat(method.full_name(), " has no google.api.http rule"));
        }
        const google::api::HttpRule& rule = method.options().GetExtension(google::api::http);
        if (auto st = AddRule(method, rule, routes); !st.ok()) return st;
        for (const google::api::HttpRule& extra : rule.additional_bindings()) {
          if (auto st = AddRule(method, extra, routes); !st.ok()) return st;
        }
      }
    }
  }
  PathMatcherBuilder builder;
  for (int i = 0; i < static_cast<int>(routes.size()); ++i) {
    // A rule shared with an earlier RPC (its streaming twin) is reachable by name only.
    builder.Register(routes[i].http_method, routes[i].tmpl, i);
  }
  return RouteTable(std::move(routes), std::move(builder).Build());
}

std::optional<RouteMatch> RouteTable::MatchHttp(std::string_view http_method,
                                                std::string_view path) const {
  std::optional<PathMatch> m = matcher_.Lookup(http_method, path);
  if (!m) return std::nullopt;
  return RouteMatch{&routes_[m->value], std::move(m->bindings)};
}

const Route* RouteTable::FindRpc(std::string_view rpc) const {
  if (rpc.starts_with("/")) rpc.remove_prefix(1);
  auto it = by_rpc_.find(rpc);
  return it == by_rpc_.end() ? nullptr : &routes_[it->second];
}

}  // namespace oa::route
