#include "route/descriptors.h"

#include <google/protobuf/descriptor.pb.h>

#include <cstdio>
#include <cstdlib>

// Both symbols come from descriptor_set.S, which .incbin's the compiled set.
extern "C" const char oa_descriptor_set_begin[];
extern "C" const char oa_descriptor_set_end[];

namespace oa::route {

std::string_view EmbeddedDescriptorSet() {
  return {oa_descriptor_set_begin,
          static_cast<size_t>(oa_descriptor_set_end - oa_descriptor_set_begin)};
}

const Descriptors& ApiDescriptors() {
  static const Descriptors* const descriptors = [] {
    google::protobuf::FileDescriptorSet set;
    // Parsed with the generated classes of google/api/annotations.proto linked in, so the
    // http rules arrive as a known extension of MethodOptions.
    const std::string_view bytes = EmbeddedDescriptorSet();
    if (!set.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
      std::fputs("oa-bypass: the embedded descriptor set is corrupt\n", stderr);
      std::abort();
    }
    auto* pool = new google::protobuf::DescriptorPool();
    auto* built = new Descriptors{pool, {}};
    for (const google::protobuf::FileDescriptorProto& file : set.file()) {
      const google::protobuf::FileDescriptor* loaded = pool->BuildFile(file);
      built->files.push_back(loaded);
      if (loaded == nullptr) {
        std::fprintf(stderr, "oa-bypass: cannot load %s from the embedded descriptors\n",
                     file.name().c_str());
        std::abort();
      }
    }
    return built;
  }();
  return *descriptors;
}

}  // namespace oa::route
