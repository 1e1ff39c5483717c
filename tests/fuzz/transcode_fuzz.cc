// Fuzzes the gRPC front's transcoder (transcode/json_reader.h, json_writer.h,
// http_call.h) on the real messages of proto/, in both directions.
// Input: a first line "A <rpc>" or "R <rpc>", then the payload. 'R' picks the request
// direction, anything else the answer direction; <rpc> names the RPC as the route table
// does ("openai.v1.Chat/CreateChatCompletion"), and a name that is none picks one by
// its hash, so that mutated names still reach every RPC.
//
// Answer direction: the payload is an upstream's JSON answer, read into
// the RPC's response message. What must hold:
//   - a failure is INVALID_ARGUMENT;
//   - what the reader took, the writer writes back as JSON that the reader takes again
//     whole (no value dropped), and that writing it again changes only by leaving out
//     null members (which the reader reads as unset, by design); from there on, reading
//     and writing change nothing. So nothing read is lost or altered on the way out
//     (but for Boost.JSON's imprecise doubles: see NearlySameDouble).
//     (Messages with NaN or an infinity are left out: JSON has neither.)
// Request direction: the payload is the wire bytes of the RPC's request
// message, as a gRPC caller sends it; the front builds the upstream HTTP call from it.
// What must hold:
//   - a failure is INVALID_ARGUMENT;
//   - the call has the route's method, and a target made only of URL characters, with
//     every '%' starting an escape;
//   - the target's path is the route's own: its template matches it and binds each path
//     variable back to its field's value, exactly; no path segment is "." or "..", which
//     an upstream would resolve to another endpoint;
//   - a JSON body is JSON, and with body "*" it reaches the same fixed point as above;
//   - a multipart body is framed by the boundary its content type names.
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/strings.h"
#include "fuzz_support.h"
#include "route/path_matcher.h"
#include "transcode/field_names.h"
#include "transcode/http_call.h"
#include "transcode/json_reader.h"
#include "transcode/json_writer.h"

namespace oa::fuzz {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

bool HasNonFinite(const Message& m) {
  const Reflection& r = *m.GetReflection();
  std::vector<const FieldDescriptor*> set;
  r.ListFields(m, &set);
  for (const FieldDescriptor* f : set) {
    const int n = f->is_repeated() ? r.FieldSize(m, f) : 1;
    for (int i = 0; i < n; ++i) {
      const bool rep = f->is_repeated();
      switch (f->cpp_type()) {
        case FieldDescriptor::CPPTYPE_DOUBLE:
          if (!std::isfinite(rep ? r.GetRepeatedDouble(m, f, i) : r.GetDouble(m, f))) return true;
          break;
        case FieldDescriptor::CPPTYPE_FLOAT:
          if (!std::isfinite(rep ? r.GetRepeatedFloat(m, f, i) : r.GetFloat(m, f))) return true;
          break;
        case FieldDescriptor::CPPTYPE_MESSAGE:
          if (HasNonFinite(rep ? r.GetRepeatedMessage(m, f, i) : r.GetMessage(m, f))) return true;
          break;
        default:
          break;
      }
    }
  }
  return false;
}

// Reads `json` (written by WriteJson from a message of `type`) back into one, all of it,
// and writes that message again.
std::string ReadAndWrite(const google::protobuf::Descriptor& type, const std::string& json,
                         const transcode::JsonWriteOptions& options, std::string_view what) {
  std::unique_ptr<Message> again = NewMessage(type);
  const transcode::JsonReadResult r = transcode::ReadJson(json, *again);
  FUZZ_CHECK(r.status.ok() && r.mismatched == 0,
             "%s: %s written as '%s' does not read back (%s; %d dropped, first '%s')",
             std::string(what).c_str(), type.full_name().c_str(), Show(json).c_str(),
             r.status.ToString().c_str(), r.mismatched, r.first_mismatch.c_str());
  return transcode::WriteJson(*again, options);
}

// The JSON value with every object member that is null left out: the reader reads
// `"k":null` as "k unset" by design (json_reader.h), so the two mean the same.
boost::json::value WithoutNullMembers(const boost::json::value& v) {
  if (v.is_object()) {
    boost::json::object out;
    for (const auto& [key, item] : v.get_object()) {
      if (!item.is_null()) out.emplace(key, WithoutNullMembers(item));
    }
    return out;
  }
  if (v.is_array()) {
    boost::json::array out;
    for (const auto& item : v.get_array()) out.push_back(WithoutNullMembers(item));
    return out;
  }
  return v;
}

// Boost.JSON 1.81 (Debian 12) parses some decimals to a double next to the nearest one
// (6.688871304346933e-198 reads as ...932e-198; a precise mode came in 1.83), so numbers
// that were not integers may move by an ulp or two each time they are read.
bool NearlySameDouble(double a, double b) {
  if (a == b) return true;
  if (!std::isfinite(a) || !std::isfinite(b) || std::signbit(a) != std::signbit(b)) return false;
  int64_t x, y;
  std::memcpy(&x, &a, sizeof x);
  std::memcpy(&y, &b, sizeof y);
  return (x > y ? x - y : y - x) <= 2;
}

// JSON equality, object members in any order, non-integers within NearlySameDouble.
bool SameJson(const boost::json::value& a, const boost::json::value& b) {
  if (a.is_number() && b.is_number() && (a.is_double() || b.is_double())) {
    return NearlySameDouble(a.to_number<double>(), b.to_number<double>());
  }
  if (a.kind() != b.kind()) return false;
  if (a.is_object()) {
    const auto& x = a.get_object();
    const auto& y = b.get_object();
    if (x.size() != y.size()) return false;
    for (const auto& [key, item] : x) {
      const boost::json::value* other = y.if_contains(key);
      if (other == nullptr || !SameJson(item, *other)) return false;
    }
    return true;
  }
  if (a.is_array()) {
    const auto& x = a.get_array();
    const auto& y = b.get_array();
    if (x.size() != y.size()) return false;
    for (size_t i = 0; i < x.size(); ++i) {
      if (!SameJson(x[i], y[i])) return false;
    }
    return true;
  }
  return a == b;
}

boost::json::value ParseJson(const std::string& text) {
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(boost::json::string_view(text.data(), text.size()), ec);
  FUZZ_CHECK(!ec, "the writer wrote what is not JSON: '%s' (%s)", Show(text).c_str(),
             ec.message().c_str());
  return v;
}

// What the writer wrote, the reader takes back whole; written again it is the same JSON
// but for null members, and from there on reading and writing change nothing (numbers
// within NearlySameDouble).
void CheckFixedPoint(const google::protobuf::Descriptor& type, const std::string& json,
                     const transcode::JsonWriteOptions& options, std::string_view what) {
  const std::string second = ReadAndWrite(type, json, options, what);
  FUZZ_CHECK(SameJson(WithoutNullMembers(ParseJson(json)), WithoutNullMembers(ParseJson(second))),
             "%s: %s written as '%s', read back and written as '%s'", std::string(what).c_str(),
             type.full_name().c_str(), Show(json).c_str(), Show(second).c_str());
  const std::string third = ReadAndWrite(type, second, options, what);
  FUZZ_CHECK(SameJson(ParseJson(third), ParseJson(second)),
             "%s: %s written as '%s', read back and written as '%s'", std::string(what).c_str(),
             type.full_name().c_str(), Show(second).c_str(), Show(third).c_str());
}

void Answer(const route::Route& route, std::string_view payload) {
  const google::protobuf::Descriptor& type = *route.method->output_type();
  std::unique_ptr<Message> m = NewMessage(type);
  const transcode::JsonReadResult r = transcode::ReadJson(payload, *m);
  if (!r.status.ok()) {
    FUZZ_CHECK(r.status.code() == absl::StatusCode::kInvalidArgument, "%s",
               r.status.ToString().c_str());
    return;
  }
  if (HasNonFinite(*m)) return;
  CheckFixedPoint(type, transcode::WriteJson(*m), {}, route.rpc);
}

bool IsHex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

bool UrlText(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (std::isalnum(static_cast<unsigned char>(c)) ||
        std::string_view("-._~!$&'()*+,;=:@/?[]").find(c) != std::string_view::npos) {
      continue;
    }
    if (c == '%' && i + 2 < s.size() && IsHex(s[i + 1]) && IsHex(s[i + 2])) {
      i += 2;
      continue;
    }
    return false;
  }
  return true;
}

// A matcher holding `route`'s template alone, built on first use.
const route::PathMatcher& OwnMatcher(const route::Route& route) {
  static auto* const matchers = new std::map<const route::Route*, route::PathMatcher>;
  auto it = matchers->find(&route);
  if (it == matchers->end()) {
    route::PathMatcherBuilder builder;
    builder.Register(route.http_method, route.tmpl, 0);
    it = matchers->emplace(&route, std::move(builder).Build()).first;
  }
  return it->second;
}

// The text of the field a path variable names, as the request holds it.
std::string FieldText(const Message& request, const std::vector<std::string>& path) {
  const Message* m = &request;
  for (size_t i = 0; i < path.size(); ++i) {
    const FieldDescriptor* f = m->GetDescriptor()->FindFieldByName(path[i]);
    if (f == nullptr) return "<no field>";
    if (i + 1 == path.size()) return transcode::ScalarText(*m, *f, -1);
    m = &m->GetReflection()->GetMessage(*m, f);
  }
  return "<empty path>";
}

void Request(const route::Route& route, std::string_view payload) {
  const google::protobuf::Descriptor& type = *route.method->input_type();
  std::unique_ptr<Message> request = NewMessage(type);
  if (!request->ParseFromArray(payload.data(), static_cast<int>(payload.size()))) return;
  const bool events =
      route.method->server_streaming() && !transcode::IsHttpBody(*route.method->output_type());
  absl::StatusOr<transcode::HttpCall> call = transcode::BuildHttpCall(route, *request, events);
  if (!call.ok()) {
    FUZZ_CHECK(call.status().code() == absl::StatusCode::kInvalidArgument, "%s: %s",
               route.rpc.c_str(), call.status().ToString().c_str());
    return;
  }
  FUZZ_CHECK(call->method == route.http_method, "%s", route.rpc.c_str());
  FUZZ_CHECK(call->target.starts_with("/") && UrlText(call->target),
             "%s: target '%s' is not URL text", route.rpc.c_str(), Show(call->target).c_str());

  const std::string_view target = call->target;
  const std::string_view path = target.substr(0, target.find('?'));
  for (std::string_view segment : Split(path.substr(1), '/')) {
    FUZZ_CHECK(segment != "." && segment != "..", "%s: path '%s' has a dot segment",
               route.rpc.c_str(), Show(path).c_str());
  }
  const std::optional<route::PathMatch> m = OwnMatcher(route).Lookup(route.http_method, path);
  FUZZ_CHECK(m.has_value(), "%s: path '%s' does not match %s", route.rpc.c_str(),
             Show(path).c_str(), route.path_template.c_str());
  for (const route::PathBinding& b : m->bindings) {
    const std::string value = FieldText(*request, b.field_path);
    FUZZ_CHECK(b.value == value, "%s: path '%s' binds %s to '%s', the field holds '%s'",
               route.rpc.c_str(), Show(path).c_str(), Join(b.field_path, ".").c_str(),
               Show(b.value).c_str(), Show(value).c_str());
  }

  if (call->content_type == "application/json") {
    boost::system::error_code ec;
    boost::json::parse(boost::json::string_view(call->body.data(), call->body.size()), ec);
    FUZZ_CHECK(!ec, "%s: body '%s' is not JSON: %s", route.rpc.c_str(), Show(call->body).c_str(),
               ec.message().c_str());
    if (route.body == "*" && !HasNonFinite(*request)) {
      transcode::JsonWriteOptions options;
      for (const auto& var : route.tmpl.variables) {
        if (var.field_path.size() == 1)
          options.skip.push_back(type.FindFieldByName(var.field_path[0]));
      }
      CheckFixedPoint(type, call->body, options, route.rpc);
    }
  } else if (call->content_type.starts_with("multipart/form-data; boundary=")) {
    const std::string boundary = call->content_type.substr(30);
    FUZZ_CHECK(!boundary.empty() && call->body.starts_with(StrCat("--", boundary, "\r\n")),
               "%s: multipart body does not open with its boundary", route.rpc.c_str());
    const std::string end = StrCat("--", boundary, "--\r\n");
    if (call->streamed_file == nullptr) {
      FUZZ_CHECK(call->body.ends_with(end), "%s: multipart body not closed", route.rpc.c_str());
    } else {
      FUZZ_CHECK(call->body_tail == StrCat("\r\n", end), "%s", route.rpc.c_str());
    }
  } else {
    FUZZ_CHECK(call->content_type.empty() && call->body.empty(), "%s: content type '%s'",
               route.rpc.c_str(), call->content_type.c_str());
  }
}

}  // namespace
}  // namespace oa::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace oa::fuzz;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t newline = input.find('\n');
  if (newline == std::string_view::npos || newline < 2) return 0;
  const std::string_view name = input.substr(2, newline - 2);
  const std::string_view payload = input.substr(newline + 1);
  const oa::route::Route* route = Table().FindRpc(name);
  if (route == nullptr) {
    const auto& routes = Table().routes();
    route = &routes[std::hash<std::string_view>{}(name) % routes.size()];
  }
  if (input[0] == 'R') {
    Request(*route, payload);
  } else {
    Answer(*route, payload);
  }
  return 0;
}
