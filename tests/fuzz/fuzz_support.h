// What the fuzz targets share: the real route table and message factory, built once per
// process from the descriptors embedded in oa_core, and FUZZ_CHECK, which turns a broken
// property into a crash libFuzzer records (with the input that broke it).
#pragma once

#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/stubs/logging.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "base/check.h"
#include "route/descriptors.h"
#include "route/route_table.h"

namespace oa::fuzz {

// Aborts, naming the property and what the target printed about it.
#define FUZZ_CHECK(cond, ...) OA_ABORT_UNLESS(cond, "property", __VA_ARGS__)

// The table the gateway serves; built once, read by every input.
inline const route::RouteTable& Table() {
  static const route::RouteTable* const table = [] {
    // Hostile wire bytes make protobuf log (invalid UTF-8 and the like): not a finding,
    // and writing those lines would cost more than the parse.
    google::protobuf::SetLogHandler(nullptr);
    absl::StatusOr<route::RouteTable> built =
        route::RouteTable::Build(route::ApiDescriptors().files);
    if (!built.ok()) {
      std::fprintf(stderr, "route table: %s\n", std::string(built.status().message()).c_str());
      std::abort();
    }
    return new route::RouteTable(*std::move(built));
  }();
  return *table;
}

inline google::protobuf::DynamicMessageFactory& Factory() {
  static auto* const factory =
      new google::protobuf::DynamicMessageFactory(route::ApiDescriptors().pool);
  return *factory;
}

inline std::unique_ptr<google::protobuf::Message> NewMessage(
    const google::protobuf::Descriptor& d) {
  return std::unique_ptr<google::protobuf::Message>(Factory().GetPrototype(&d)->New());
}

// Printable form of bytes for a property's message (escapes, truncated).
inline std::string Show(std::string_view s, size_t max = 300) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < max; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  if (s.size() > max) out += "...";
  return out;
}

}  // namespace oa::fuzz
