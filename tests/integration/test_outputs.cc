#include "test_outputs.h"

#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace oa::testing {

std::string TestOutputDir() {
  const char* dir = std::getenv("OA_TEST_OUTPUT_DIR");
  return dir == nullptr ? "" : dir;
}

void KeepOutput(std::string_view kind, std::string_view text) {
  const std::string dir = TestOutputDir();
  if (dir.empty()) return;
  std::ofstream out(dir + "/" + std::string(kind) + "-" + std::to_string(getpid()) + ".txt",
                    std::ios::app | std::ios::binary);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  out << '\n';
}

}  // namespace oa::testing
