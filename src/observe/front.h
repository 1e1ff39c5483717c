// The fronts calls arrive by. A new front adds one row here; the access line and every
// metric take their labels, and the form of their results, from this table.
#pragma once

#include <array>
#include <string_view>

namespace oa::observe {

enum class Front { kRest, kGrpc };

struct FrontInfo {
  std::string_view name;  // the access line's front= and the metrics' front label
  bool grpc_codes;        // its calls end with a gRPC status code, not an HTTP status
};

inline constexpr std::array<FrontInfo, 2> kFrontInfo = {FrontInfo{"rest", false},
                                                        FrontInfo{"grpc", true}};
inline constexpr int kFronts = static_cast<int>(kFrontInfo.size());

constexpr const FrontInfo& InfoOf(Front front) { return kFrontInfo[static_cast<int>(front)]; }

}  // namespace oa::observe
