// The certificates of make_test_certs.sh, made once per test process in a temporary
// folder that is removed at exit: a CA (ca.pem), good.pem/good.key for DNS:localhost and
// IP:127.0.0.1, wrong.pem/wrong.key for DNS:wrong.test only.
//
//   options.tls_cert_file = TestCertFile("good.pem");
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#ifndef OA_TEST_SOURCE_DIR
#error "OA_TEST_SOURCE_DIR must name tests/integration"
#endif

namespace oa::testing {

inline std::string TestCertFile(std::string_view name) {
  struct Folder {
    Folder()
        : path(std::filesystem::temp_directory_path() / ("oa-certs-" + std::to_string(getpid()))) {
      const std::string command = std::string(OA_TEST_SOURCE_DIR) + "/make_test_certs.sh " + path;
      made = std::system(command.c_str()) == 0;
    }
    ~Folder() { std::filesystem::remove_all(path); }
    std::string path;
    bool made = false;
  };
  static const Folder folder;
  EXPECT_TRUE(folder.made) << "make_test_certs.sh failed";
  return folder.path + "/" + std::string(name);
}

}  // namespace oa::testing
