// The shared set-up of integration tests: the project's mock OpenAI in this process, the
// real gateway binary in another, pointed at the mock.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "gateway_process.h"
#include "mock_openai.h"
#include "test_client.h"
#include "test_outputs.h"

namespace oa::testing {

inline constexpr char kKey[] = "sk-test-integration-0123456789abcdefSECRET";
inline const Headers kAuth = {{"Authorization", std::string("Bearer ") + kKey}};

class GatewayTest : public ::testing::Test {
 protected:
  // Starts the mock (with `mock_options`) and a gateway with `extra_args`.
  void StartAll(std::vector<std::string> extra_args = {}, mock::MockOptions mock_options = {}) {
    mock_ = std::make_unique<mock::MockOpenAI>(mock_options);
    mock_->Start();
    std::vector<std::string> args = {"--upstream", mock_->base_url() + "/v1", "--log-level",
                                     "debug"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    if (std::find(args.begin(), args.end(), "--workers") == args.end()) {
      args.insert(args.end(), {"--workers", "2"});
    }
    // A test that leaves a call under way should not wait out the 30 s default drain.
    if (std::find(args.begin(), args.end(), "--drain-timeout") == args.end()) {
      args.insert(args.end(), {"--drain-timeout", "2s"});
    }
    gateway_ = std::make_unique<GatewayProcess>(args);
    ASSERT_TRUE(gateway_->Start()) << gateway_->Log();
  }

  void TearDown() override {
    if (gateway_) {
      // Its metrics after the test join the outputs that the suite's key scan reads.
      // (A test may have stopped its gateway already.)
      if (!TestOutputDir().empty() && gateway_->pid() > 0) {
        try {
          Client().Call("GET", "/metrics", {});
        } catch (const std::exception&) {
        }
      }
      // Whatever the test did, the caller's key must not be in the log (invariant 1).
      EXPECT_EQ(gateway_->Log().find(kKey), std::string::npos) << gateway_->Log();
      EXPECT_EQ(gateway_->Stop(), expected_exit_status_);
    }
  }

  TestClient Client() { return TestClient(gateway_->port()); }

  // The access line of a call is written just after its answer: wait for it.
  bool LogHas(std::string_view text) {
    return mock::MockOpenAI::WaitFor(
        [&] { return gateway_->Log().find(text) != std::string::npos; },
        std::chrono::milliseconds(2000));
  }

  std::unique_ptr<mock::MockOpenAI> mock_;
  std::unique_ptr<GatewayProcess> gateway_;
  int expected_exit_status_ = 0;  // the gateway's, checked by TearDown
};

}  // namespace oa::testing
