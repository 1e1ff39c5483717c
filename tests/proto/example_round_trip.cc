// Reads each example of OpenAI's spec (scripts/extract-spec-examples.py writes them, one
// JSON line each: answers, request bodies and WebSocket events) into the message it must
// fit, with the gateway's own JSON reader, and writes it back with the gateway's writer:
// the JSON must come back the same, and nothing may be dropped on the way. "The same" is
// JSON equality up to key order, number formatting (1 and 1.0 are one number), and keys
// whose value is null, [] or {}: proto3 has no null, and no presence for lists and maps,
// so such a field is an unset one and is written as absent (an empty message stays `{}`
// when it was sent).
//
// Usage: example_round_trip EXAMPLES.jsonl     (exit 0: all fit; 1: some did not)
#include <google/protobuf/dynamic_message.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <string>

#include "route/descriptors.h"
#include "transcode/json_reader.h"
#include "transcode/json_writer.h"

namespace {

namespace json = boost::json;

// Examples that contradict the spec's own schema, by operationId and side. (Examples
// whose values do not fit their declared types are not here: those values are kept in
// extra fields and come back.)
const std::set<std::string> kKnown = {
    // The 200 answer is declared with no content (the RPC returns Empty), yet the example
    // shows a body.
    "deleteResponse response",
    "beta_deleteResponse response",
    "DeleteContainer response",
    "DeleteContainerFile response",
    // Placeholder audio ("Base64EncodedAudioData") in a field of base64 audio, which is
    // `bytes` here: it decodes, but its last character carries bits no byte holds, so it
    // comes back as the canonical base64 of those bytes ("...DatQ==").
    "RealtimeClientEventInputAudioBufferAppend event",
    "RealtimeServerEventResponseAudioDelta event",
};

json::value Normal(const json::value& v) {
  switch (v.kind()) {
    case json::kind::int64:
    case json::kind::uint64:
      return v.to_number<double>();
    case json::kind::object: {
      json::object out;
      for (const auto& [key, item] : v.get_object()) {
        json::value normal = Normal(item);
        const bool empty = normal.is_null() || (normal.is_array() && normal.get_array().empty()) ||
                           (normal.is_object() && normal.get_object().empty());
        if (!empty) out[key] = std::move(normal);
      }
      return out;
    }
    case json::kind::array: {
      json::array out;
      for (const json::value& item : v.get_array()) out.push_back(Normal(item));
      return out;
    }
    default:
      return v;
  }
}

// The path of the first difference between `a` and `b` ("" when equal).
std::string FirstDifference(const json::value& a, const json::value& b, const std::string& at) {
  if (a.kind() != b.kind()) return at.empty() ? "(top)" : at;
  if (a.is_object()) {
    for (const auto& [key, item] : a.get_object()) {
      const json::value* other = b.get_object().if_contains(key);
      const std::string here = at + "." + std::string(key);
      if (other == nullptr) return here + " (missing on the way back)";
      if (std::string d = FirstDifference(item, *other, here); !d.empty()) return d;
    }
    for (const auto& [key, item] : b.get_object()) {
      if (!a.get_object().contains(key)) return at + "." + std::string(key) + " (added)";
    }
    return "";
  }
  if (a.is_array()) {
    const auto& x = a.get_array();
    const auto& y = b.get_array();
    if (x.size() != y.size()) return at + " (length)";
    for (size_t i = 0; i < x.size(); ++i) {
      if (std::string d = FirstDifference(x[i], y[i], at + "[" + std::to_string(i) + "]");
          !d.empty()) {
        return d;
      }
    }
    return "";
  }
  return a == b ? "" : (at.empty() ? "(top)" : at);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fputs("usage: example_round_trip EXAMPLES.jsonl\n", stderr);
    return 2;
  }
  std::ifstream in(argv[1]);
  if (!in) {
    std::fprintf(stderr, "cannot read %s\n", argv[1]);
    return 2;
  }
  const oa::route::Descriptors& api = oa::route::ApiDescriptors();
  google::protobuf::DynamicMessageFactory factory(api.pool);
  int checked = 0;
  int failed = 0;
  int answers = 0;
  int requests = 0;
  int events = 0;  // WebSocket events, read into their union
  int kept = 0;    // values the typed fields did not take, kept in extra fields
  int kept_examples = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const json::object entry = json::parse(line).as_object();
    const std::string op(entry.at("op").as_string());
    const std::string side(entry.at("side").as_string());
    const std::string type(entry.at("type").as_string());
    const std::string text = json::serialize(entry.at("json"));
    const auto* d = api.pool->FindMessageTypeByName(type);
    ++checked;
    (side == "response" ? answers : side == "request" ? requests : events) += 1;
    std::string problem;
    if (d == nullptr) {
      problem = "no message " + type;
    } else {
      std::unique_ptr<google::protobuf::Message> message(factory.GetPrototype(d)->New());
      const oa::transcode::JsonReadResult read = oa::transcode::ReadJson(text, *message);
      if (!read.status.ok()) {
        problem = std::string(read.status.message());
      } else if (read.mismatched > 0) {
        problem = std::to_string(read.mismatched) + " value(s) dropped, the first at " +
                  read.first_mismatch;
      } else {
        kept += read.kept;
        if (read.kept > 0) {
          ++kept_examples;
          if (std::getenv("OA_SHOW_KEPT") != nullptr) {
            std::printf("kept: %s %s: %d value(s)\n", op.c_str(), side.c_str(), read.kept);
          }
        }
        const std::string back = oa::transcode::WriteJson(*message);
        problem = FirstDifference(Normal(entry.at("json")), Normal(json::parse(back)), "");
        if (!problem.empty()) problem = "differs at " + problem + ": " + back.substr(0, 300);
      }
    }
    if (!problem.empty() && kKnown.count(op + " " + side) == 0) {
      ++failed;
      std::printf("%s %s (%s): %s\n", op.c_str(), side.c_str(), type.c_str(), problem.c_str());
    }
  }
  std::printf(
      "%d examples (%d answers, %d requests, %d WebSocket events) read and written back, %d "
      "differ; %d value(s) in %d example(s) came back untyped, through extra fields or a "
      "union's other (OA_SHOW_KEPT=1 lists them)\n",
      checked, answers, requests, events, failed, kept, kept_examples);
  return failed == 0 ? 0 : 1;
}
