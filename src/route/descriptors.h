// The descriptors of proto/, compiled at build time into a descriptor set and embedded in
// the binary. They are the gateway's whole knowledge of the API (DESIGN.md, invariant 5).
#pragma once

#include <google/protobuf/descriptor.h>

#include <string_view>
#include <vector>

namespace oa::route {

// The serialized google.protobuf.FileDescriptorSet, with its imports.
std::string_view EmbeddedDescriptorSet();

struct Descriptors {
  const google::protobuf::DescriptorPool* pool = nullptr;
  std::vector<const google::protobuf::FileDescriptor*> files;  // in the set's order
};

// Built once from EmbeddedDescriptorSet(); immutable and shared by all threads. Aborts at
// start-up if the embedded set is corrupt: the build produced it, so that is a bug.
const Descriptors& ApiDescriptors();

}  // namespace oa::route
