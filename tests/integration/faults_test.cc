// Faults, through the real binary: what the upstream or a client can do wrong, and what
// the gateway must still do. The caller of a broken call gets a prompt answer in OpenAI's
// shape, or a stream cut so that it can tell; every other call carries on; a broken
// upstream connection is never reused; a slow reader holds the upstream back instead of
// filling the gateway's memory; and a client that leaves takes its upstream call with it,
// leaking nothing.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "fixture.h"

namespace oa::testing {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kChat = R"({"model":"gpt-4o-mini","messages":[]})";
constexpr std::string_view kStreamedChat = R"({"model":"gpt-4o-mini","stream":true})";

Headers With(std::initializer_list<std::pair<std::string, std::string>> extra) {
  Headers headers = kAuth;
  headers.insert(headers.end(), extra.begin(), extra.end());
  return headers;
}

std::string Joined(const std::vector<Piece>& pieces) {
  std::string out;
  for (const Piece& piece : pieces) out += piece.bytes;
  return out;
}

long Millis(Clock::duration d) { return std::chrono::duration_cast<milliseconds>(d).count(); }

// The value of the sample `series` (name and labels exactly as exposed) in `text`, or -1.
double Sample(const std::string& text, std::string_view series) {
  const std::string start = "\n" + std::string(series) + " ";
  const size_t at = ("\n" + text).find(start);
  return at == std::string::npos ? -1 : std::atof(text.c_str() + at + start.size() - 1);
}

class Faults : public GatewayTest {
 protected:
  void SetUp() override {
    StartAll({"--upstream-idle-timeout", "1s", "--upstream-first-byte-timeout", "3s"});
  }

  std::string Metrics() { return Client().Call("GET", "/metrics", {}).body; }

  // After a fault, nothing of the call may stay behind: no busy upstream connection, no
  // call in flight, no open stream.
  void ExpectNothingHeld() {
    EXPECT_TRUE(mock::MockOpenAI::WaitFor(
        [&] {
          const std::string m = Metrics();
          return Sample(m, R"(oa_upstream_connections{state="busy"})") == 0 &&
                 Sample(m, R"(oa_requests_in_flight{front="rest"})") == 0 &&
                 Sample(m, "oa_open_streams") == 0;
        },
        milliseconds(3000)))
        << Metrics();
  }
};

TEST_F(Faults, UpstreamResetBeforeAnsweringIs502) {
  const Reply reply =
      Client().Call("POST", "/v1/chat/completions", With({{"x-mock-break", "reset"}}), kChat);
  EXPECT_EQ(reply.status, 502);
  EXPECT_NE(reply.body.find(R"("code":"upstream_unavailable")"), std::string::npos) << reply.body;
  EXPECT_EQ(Client().Call("POST", "/v1/chat/completions", kAuth, kChat).status, 200);
  ExpectNothingHeld();
}

// A switch of protocols nobody asked for, or interim answers without end, are a broken
// upstream: 502, and the connection is not used again.
TEST_F(Faults, UnaskedSwitchOrEndlessInterimAnswersAre502) {
  Headers switched = With({{"x-mock-interim", "101"}});
  Reply reply = Client().Call("POST", "/v1/chat/completions", switched, kChat);
  EXPECT_EQ(reply.status, 502);
  EXPECT_NE(reply.body.find("switched protocols"), std::string::npos) << reply.body;

  Headers endless = kAuth;
  for (int i = 0; i < 9; ++i) endless.push_back({"x-mock-interim", "103"});
  reply = Client().Call("POST", "/v1/chat/completions", endless, kChat);
  EXPECT_EQ(reply.status, 502);
  EXPECT_NE(reply.body.find("more than 8 interim"), std::string::npos) << reply.body;

  EXPECT_EQ(Client().Call("POST", "/v1/chat/completions", kAuth, kChat).status, 200);
  ExpectNothingHeld();
}

// The head of an answer whose first bytes came with it waits to go out with the first
// piece of its body. An upstream that breaks off before that piece (here inside the
// first chunk's size line) still shows the caller the answer start and then its cut.
TEST_F(Faults, UpstreamCutBeforeTheFirstPieceShowsTheAnswerCut) {
  const Reply reply = Client().Call("POST", "/v1/chat/completions",
                                    With({{"x-mock-break", "in-first-chunk-size"}}), kChat);
  EXPECT_EQ(reply.status, 200) << reply.error;
  EXPECT_EQ(reply.header("transfer-encoding"), "chunked");
  EXPECT_FALSE(reply.complete);
  EXPECT_EQ(Client().Call("POST", "/v1/chat/completions", kAuth, kChat).status, 200);
  ExpectNothingHeld();
}

TEST_F(Faults, UpstreamResetMidStreamCutsTheStreamAndItsConnectionIsNotReused) {
  TestClient client = Client();
  client.Send("POST", "/v1/chat/completions",
              With({{"x-mock-sse-events", "5"},
                    {"x-mock-sse-interval-ms", "200"},
                    {"x-mock-sse-reset-at", "2"}}),
              kStreamedChat);
  std::vector<Piece> pieces;
  const Reply reply = client.ReadPieces(pieces);
  const std::string body = Joined(pieces);
  EXPECT_EQ(reply.status, 200);  // the answer had started
  EXPECT_FALSE(reply.complete);  // but no clean end: the client can tell
  EXPECT_EQ(body.find("[DONE]"), std::string::npos);
  EXPECT_NE(body.find("tok1"), std::string::npos) << body;
  EXPECT_TRUE(LogHas("ended=upstream_cut")) << gateway_->Log();

  const int accepted = mock_->accepted_connections();
  EXPECT_EQ(Client().Call("POST", "/v1/chat/completions", kAuth, kChat).status, 200);
  EXPECT_EQ(mock_->accepted_connections(), accepted + 1);  // a new connection, not the reset one
  ExpectNothingHeld();
}

TEST_F(Faults, UpstreamResetOrCloseMidBodyCutsTheDownload) {
  for (const char* how : {"reset-mid-body", "mid-body-chunked", "mid-body"}) {
    const Reply reply =
        Client().Call("GET", "/v1/files/file-1/content", With({{"x-mock-break", how}}));
    EXPECT_EQ(reply.status, 200) << how;
    EXPECT_FALSE(reply.complete) << how;
    EXPECT_EQ(reply.body.size(), 1000u) << how;
  }
  EXPECT_EQ(Client().Call("GET", "/v1/models", kAuth).status, 200);
  ExpectNothingHeld();
}

TEST_F(Faults, UpstreamStallingMidBodyIsCutAfterTheIdleTimeout) {
  const Clock::time_point start = Clock::now();
  const Reply reply =
      Client().Call("GET", "/v1/files/file-1/content", With({{"x-mock-break", "stall-mid-body"}}));
  const long elapsed = Millis(Clock::now() - start);
  EXPECT_EQ(reply.status, 200);
  EXPECT_FALSE(reply.complete);
  EXPECT_EQ(reply.body.size(), 1000u);
  EXPECT_GE(elapsed, 900);    // --upstream-idle-timeout 1s, not sooner
  EXPECT_LT(elapsed, 10000);  // and not a hang
  // The stalled upstream connection was closed, not parked in the pool.
  EXPECT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->open_connections() == 0; },
                                        milliseconds(3000)));
  ExpectNothingHeld();
}

TEST_F(Faults, EveryOtherCallCarriesOnThroughTheFaults) {
  // A stream of 30 events, 100 ms apart, on its own connection, while each fault happens
  // on others.
  std::atomic<bool> stream_done = false;
  Reply stream_reply;
  std::thread stream([&] {
    TestClient client = Client();
    client.Send("POST", "/v1/chat/completions",
                With({{"x-mock-sse-events", "30"}, {"x-mock-sse-interval-ms", "100"}}),
                kStreamedChat);
    std::vector<Piece> pieces;
    stream_reply = client.ReadPieces(pieces);
    stream_reply.body = Joined(pieces);
    stream_done = true;
  });
  for (const char* how : {"reset", "before-headers", "garbage", "reset-mid-body",
                          "mid-body-chunked", "mid-body", "stall-mid-body"}) {
    const Reply reply =
        Client().Call("GET", "/v1/files/file-1/content", With({{"x-mock-break", how}}));
    EXPECT_FALSE(reply.status == 200 && reply.complete) << how;
    EXPECT_EQ(Client().Call("GET", "/v1/models", kAuth).status, 200) << "after " << how;
  }
  stream.join();
  EXPECT_TRUE(stream_done);
  EXPECT_EQ(stream_reply.status, 200);
  EXPECT_TRUE(stream_reply.complete) << stream_reply.error;
  EXPECT_NE(stream_reply.body.find("data: [DONE]"), std::string::npos);
  ExpectNothingHeld();
}

// A name that cannot resolve. Its first label is 64 bytes, one more than DNS allows, so the
// C library fails it without asking any name server: the test sends no packet off the
// machine, and its result does not depend on what the network's resolver says.
TEST(UnresolvableUpstream, NameThatDoesNotResolveIs502Promptly) {
  const std::string host = std::string(64, 'n') + ".invalid";
  GatewayProcess gateway(
      {"--upstream", "http://" + host + "/v1", "--log-level", "debug", "--workers", "1"});
  ASSERT_TRUE(gateway.Start()) << gateway.Log();
  TestClient client(gateway.port());
  const Clock::time_point start = Clock::now();
  const Reply reply = client.Call("POST", "/v1/chat/completions", kAuth, kChat);
  EXPECT_LT(Millis(Clock::now() - start), 5000);
  EXPECT_EQ(reply.status, 502);
  EXPECT_NE(reply.body.find(R"("code":"upstream_unavailable")"), std::string::npos) << reply.body;
  EXPECT_NE(reply.body.find("resolving upstream"), std::string::npos) << reply.body;
  // The worker carries on: the next call gets the same clear answer.
  EXPECT_EQ(TestClient(gateway.port()).Call("GET", "/v1/models", kAuth).status, 502);
  EXPECT_EQ(TestClient(gateway.port()).Call("GET", "/health", {}).status, 200);
  const std::string metrics = TestClient(gateway.port()).Call("GET", "/metrics", {}).body;
  EXPECT_GE(Sample(metrics, R"(oa_upstream_errors_total{kind="resolve"})"), 1) << metrics;
  EXPECT_EQ(gateway.Log().find(kKey), std::string::npos);
  EXPECT_EQ(gateway.Stop(), 0);
}

// ---- slow readers -------------------------------------------------------------------------

class SlowClient : public Faults {
 protected:
  // Waits until the mock has written nothing more for 500 ms, and returns how much it
  // wrote in all.
  uint64_t WaitUntilTheMockIsHeldBack() {
    uint64_t written = 0;
    EXPECT_TRUE(mock::MockOpenAI::WaitFor(
        [&] {
          const uint64_t before = mock_->bytes_written();
          // Deliberate: being held back is making no progress, seen only over a window.
          std::this_thread::sleep_for(milliseconds(500));
          written = mock_->bytes_written();
          return written == before;
        },
        milliseconds(20000)));
    return written;
  }
};

// The mock writes as fast as its socket takes bytes. With backpressure, a client that stops
// reading stops the mock within what the socket buffers on the way hold (a few MiB each);
// without it, the gateway would read the whole answer into its memory.
TEST_F(SlowClient, UndrainedDownloadHoldsTheUpstreamBackNotTheGatewaysMemory) {
  constexpr uint64_t kSize = 1ull << 30;  // 1 GiB, far more than any buffer on the way
  const long rss_before = gateway_->RssKib();
  TestClient slow = Client();
  slow.Send("GET", "/v1/files/file-1/content", With({{"x-mock-bytes", std::to_string(kSize)}}));
  std::vector<Piece> pieces;
  slow.ReadPieces(pieces, [](const Piece&) { return false; });  // the head, then nothing
  const uint64_t written = WaitUntilTheMockIsHeldBack();
  EXPECT_LT(written, 64ull << 20) << "the mock wrote " << written << " bytes";
  const long growth = gateway_->RssKib() - rss_before;
  EXPECT_LT(growth, 16 * 1024) << "RSS grew by " << growth << " KiB";
  std::printf("undrained download: mock held at %llu bytes of %llu; gateway RSS +%ld KiB\n",
              static_cast<unsigned long long>(written), static_cast<unsigned long long>(kSize),
              growth);

  // Others are served meanwhile, plain and streamed.
  EXPECT_EQ(Client().Call("GET", "/v1/models", kAuth).status, 200);
  const Reply streamed = Client().Call("POST", "/v1/chat/completions", kAuth, kStreamedChat);
  EXPECT_TRUE(streamed.complete);

  // Reading again lets the upstream go on.
  pieces.clear();
  uint64_t read = 0;
  slow.ReadPieces(pieces, [&](const Piece& p) { return (read += p.bytes.size()) < (32u << 20); });
  EXPECT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->bytes_written() > written; },
                                        milliseconds(3000)));
}

TEST_F(SlowClient, UndrainedStreamHoldsTheUpstreamBack) {
  const long rss_before = gateway_->RssKib();
  TestClient slow = Client();
  // 400,000 events of some 200 bytes: about 80 MB if nothing held the mock back.
  slow.Send("POST", "/v1/chat/completions", With({{"x-mock-sse-events", "400000"}}), kStreamedChat);
  std::vector<Piece> pieces;
  slow.ReadPieces(pieces, [](const Piece&) { return false; });
  const uint64_t written = WaitUntilTheMockIsHeldBack();
  EXPECT_LT(written, 40ull << 20) << "the mock wrote " << written << " bytes";
  const long growth = gateway_->RssKib() - rss_before;
  EXPECT_LT(growth, 16 * 1024) << "RSS grew by " << growth << " KiB";
  std::printf("undrained stream: mock held at %llu bytes; gateway RSS +%ld KiB\n",
              static_cast<unsigned long long>(written), growth);
  EXPECT_EQ(Client().Call("GET", "/v1/models", kAuth).status, 200);
}

// ---- clients that leave -------------------------------------------------------------------

class Disconnect : public Faults {
 protected:
  // Closes `client` and returns how long the mock took to see its connection closed.
  long CloseAndTimeUpstreamClose(TestClient& client) {
    const Clock::time_point closed = Clock::now();
    client.Close();
    EXPECT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->open_connections() == 0; },
                                          milliseconds(3000)));
    return Millis(Clock::now() - closed);
  }
};

// The issue's target is 100 ms; the bound here is looser so that a loaded or sanitized
// run does not fail, while a gateway that waited for a timeout (seconds) still would.
constexpr long kPromptMs = 1000;

TEST_F(Disconnect, ClientLeavingMidUploadClosesTheUpstreamCall) {
  TestClient client = Client();
  std::string head = "POST /v1/files HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ";
  head += kKey;
  head += "\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 104857600\r\n\r\n";
  client.SendRaw(head);
  client.SendRaw(std::string(2 << 20, 'x'));  // 2 MiB of the promised 100 MiB
  ASSERT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->open_connections() == 1; },
                                        milliseconds(3000)));
  const long ms = CloseAndTimeUpstreamClose(client);
  EXPECT_LT(ms, kPromptMs);
  std::printf("client left mid-upload: upstream closed after %ld ms\n", ms);
  EXPECT_TRUE(mock_->requests().empty());  // the upstream never saw a whole request
  EXPECT_TRUE(LogHas("ended=client_gone")) << gateway_->Log();
}

// A long non-streamed completion: the client gives up before the upstream answers. The
// upstream call must end with it, not run on (and be billed) for no one.
TEST_F(Disconnect, ClientLeavingBeforeTheAnswerClosesTheUpstreamCall) {
  TestClient client = Client();
  client.Send("POST", "/v1/chat/completions", With({{"x-mock-delay-ms", "5000"}}), kChat);
  ASSERT_TRUE(
      mock::MockOpenAI::WaitFor([&] { return mock_->requests().size() == 1; }, milliseconds(3000)));
  const long ms = CloseAndTimeUpstreamClose(client);
  EXPECT_LT(ms, kPromptMs);
  std::printf("client left before the answer: upstream closed after %ld ms\n", ms);
  EXPECT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->aborted_responses() == 1; },
                                        milliseconds(3000)));
  EXPECT_TRUE(LogHas("ended=client_gone")) << gateway_->Log();
}

TEST_F(Disconnect, ClientLeavingMidDownloadClosesTheUpstreamCall) {
  TestClient client = Client();
  client.Send("GET", "/v1/files/file-1/content", With({{"x-mock-bytes", "1073741824"}}));
  std::vector<Piece> pieces;
  client.ReadPieces(pieces, [](const Piece&) { return false; });
  const long ms = CloseAndTimeUpstreamClose(client);
  EXPECT_LT(ms, kPromptMs);
  std::printf("client left mid-download: upstream closed after %ld ms\n", ms);
  EXPECT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->aborted_responses() == 1; },
                                        milliseconds(3000)));
}

TEST_F(Disconnect, ClientLeavingMidStreamClosesTheUpstreamCall) {
  TestClient client = Client();
  client.Send("POST", "/v1/chat/completions",
              With({{"x-mock-sse-events", "100"}, {"x-mock-sse-interval-ms", "5000"}}),
              kStreamedChat);
  std::vector<Piece> pieces;
  client.ReadPieces(pieces, [](const Piece&) { return false; });  // first event, then leave
  // The stream had started: the answer's head and its first event reached the client.
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_NE(pieces[0].bytes.find("data: "), std::string::npos) << pieces[0].bytes;
  const long ms = CloseAndTimeUpstreamClose(client);
  EXPECT_LT(ms, kPromptMs);
  std::printf("client left mid-stream: upstream closed after %ld ms\n", ms);
  // The mock was writing the stream when the gateway closed it (its next event was 5 s
  // away): the abort is the gateway's, not the end of a finished answer.
  EXPECT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->aborted_responses() == 1; },
                                        milliseconds(3000)));
}

TEST_F(Disconnect, ManyClientsLeavingLeakNoDescriptorsOrPoolSlots) {
  // Warm up: one call of each kind, so that lazily made things exist before the baseline.
  EXPECT_EQ(Client().Call("GET", "/v1/models", kAuth).status, 200);
  ExpectNothingHeld();
  ASSERT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->open_connections() <= 1; },
                                        milliseconds(3000)));
  const int fds_before = gateway_->OpenFds();
  const long rss_before = gateway_->RssKib();
  for (int round = 0; round < 20; ++round) {
    {
      TestClient upload = Client();
      upload.SendRaw(
          "POST /v1/files HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer " + std::string(kKey) +
          "\r\nContent-Type: multipart/form-data; boundary=b\r\nContent-Length: 1000000\r\n\r\n" +
          std::string(100000, 'x'));
      TestClient stream = Client();
      stream.Send("POST", "/v1/chat/completions",
                  With({{"x-mock-sse-events", "100"}, {"x-mock-sse-interval-ms", "1000"}}),
                  kStreamedChat);
      TestClient download = Client();
      download.Send("GET", "/v1/files/file-1/content", With({{"x-mock-bytes", "100000000"}}));
      std::vector<Piece> pieces;
      stream.ReadPieces(pieces, [](const Piece&) { return false; });
      download.ReadPieces(pieces, [](const Piece&) { return false; });
    }  // all three leave
  }
  ExpectNothingHeld();
  EXPECT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->open_connections() <= 1; },
                                        milliseconds(3000)));
  // Idle pooled connections may remain (at most one per worker here), nothing else.
  EXPECT_TRUE(mock::MockOpenAI::WaitFor([&] { return gateway_->OpenFds() <= fds_before + 2; },
                                        milliseconds(3000)))
      << "fds before " << fds_before << ", after " << gateway_->OpenFds();
  const long growth = gateway_->RssKib() - rss_before;
#if !defined(__SANITIZE_ADDRESS__)  // ASan keeps freed memory in quarantine
  EXPECT_LT(growth, 8 * 1024) << "RSS grew by " << growth << " KiB over 60 abandoned calls";
#endif
  std::printf("60 abandoned calls: fds %d -> %d, RSS +%ld KiB\n", fds_before, gateway_->OpenFds(),
              growth);
}

}  // namespace
}  // namespace oa::testing
