// The optional config file (--config): flat `option = value` pairs, as TOML (.toml) or
// YAML (.yaml, .yml), named like the flags without their dashes:
//
//   listen = "0.0.0.0:8080"                  listen: 0.0.0.0:8080
//   upstream-first-byte-timeout = "10m"      upstream-first-byte-timeout: 10m
//   cors-origins = ["https://a.example"]     cors-origins: [https://a.example]
//   reject-unmodelled = true                 reject-unmodelled: true
//
// Values are given as text, as on the command line (lists joined with ","), and are
// checked like flags; flags and environment variables win over the file.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace oa::config {

// (setting, value) pairs in the file's order. Fails naming the file and what is wrong
// (unreadable, not TOML/YAML, a nested table).
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ReadConfigFile(
    const std::string& path);

}  // namespace oa::config
