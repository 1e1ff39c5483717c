// Force-included into every C++ file of a ThreadSanitizer build (CMakeLists.txt, with
// OA_SANITIZE=thread); never included by hand.
//
// Debian's libprotobuf is built without TSan, but google/protobuf/map_field.h gives
// MapFieldBase two more members (seq1_, seq2_: protobuf's own TSan checks) whenever
// __SANITIZE_THREAD__ is defined. Code built with -fsanitize=thread would then disagree
// with the library on the layout of every map field (google.protobuf.Struct's `fields`,
// generated map<> fields): sizes read as garbage and lookups crash. So map_field.h is read
// once here with that macro hidden, and its include guard keeps the library's layout for
// the rest of the file. The headers that must still see the macro are read first, so
// libstdc++ (_GLIBCXX_TSAN) and Abseil (ABSL_HAVE_THREAD_SANITIZER) know TSan is on.
#pragma once

#include <cstddef>

#include "absl/base/config.h"

#pragma push_macro("__SANITIZE_THREAD__")
#undef __SANITIZE_THREAD__
#include <google/protobuf/map_field.h>
#pragma pop_macro("__SANITIZE_THREAD__")
