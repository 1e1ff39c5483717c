// toml++ as Debian builds it: a shared library, not header-only.
#define TOML_HEADER_ONLY 0
#define TOML_SHARED_LIB 1
#include "config/config_file.h"

#include <toml++/toml.h>
#include <yaml-cpp/yaml.h>

#include <sstream>

#include "base/strings.h"

namespace oa::config {
namespace {

using Pairs = std::vector<std::pair<std::string, std::string>>;

absl::Status Bad(const std::string& path, std::string_view why) {
  return absl::InvalidArgumentError(StrCat("--config: ", path, ": ", why));
}

absl::StatusOr<std::string> TomlValue(const std::string& path, const std::string& key,
                                      const toml::node& node) {
  if (const auto* s = node.as_string()) return s->get();
  if (const auto* i = node.as_integer()) return StrCat(i->get());
  if (const auto* b = node.as_boolean()) return std::string(b->get() ? "true" : "false");
  if (const auto* a = node.as_array()) {
    std::vector<std::string> items;
    for (const toml::node& item : *a) {
      absl::StatusOr<std::string> v = TomlValue(path, key, item);
      if (!v.ok()) return v.status();
      items.push_back(*std::move(v));
    }
    return Join(items, ",");
  }
  return Bad(path, StrCat("'", key, "' must be a string, an integer, a boolean or a list"));
}

absl::StatusOr<Pairs> ReadToml(const std::string& path) {
  toml::table table;
  try {
    table = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::ostringstream where;
    where << e.source().begin;
    return Bad(path, StrCat(e.description(), " (", where.str(), ")"));
  }
  Pairs args;
  for (const auto& [key, node] : table) {
    const std::string name(key.str());
    absl::StatusOr<std::string> value = TomlValue(path, name, node);
    if (!value.ok()) return value.status();
    args.emplace_back(name, *std::move(value));
  }
  return args;
}

absl::StatusOr<Pairs> ReadYaml(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    return Bad(path, e.what());
  }
  if (root.IsNull()) return Pairs{};
  if (!root.IsMap()) return Bad(path, "must be a mapping of option: value");
  Pairs args;
  for (const auto& entry : root) {
    const auto name = entry.first.as<std::string>();
    const YAML::Node& node = entry.second;
    std::string value;
    if (node.IsScalar()) {
      value = node.as<std::string>();
    } else if (node.IsSequence()) {
      std::vector<std::string> items;
      for (const auto& item : node) {
        if (!item.IsScalar()) return Bad(path, StrCat("'", name, "' must be a list of values"));
        items.push_back(item.as<std::string>());
      }
      value = Join(items, ",");
    } else {
      return Bad(path, StrCat("'", name, "' must be a value or a list"));
    }
    args.emplace_back(name, std::move(value));
  }
  return args;
}

}  // namespace

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ReadConfigFile(
    const std::string& path) {
  if (path.ends_with(".toml")) return ReadToml(path);
  if (path.ends_with(".yaml") || path.ends_with(".yml")) return ReadYaml(path);
  return Bad(path, "use a .toml, .yaml or .yml file");
}

}  // namespace oa::config
