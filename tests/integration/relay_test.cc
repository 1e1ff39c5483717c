// The REST relay end to end: the real binary between a raw HTTP client and the mock.
#include <openssl/evp.h>
#include <poll.h>

#include <boost/asio/write.hpp>

#include "absl/strings/str_cat.h"
#include "fixture.h"

namespace oa::testing {
namespace {

using std::chrono::milliseconds;

std::string Hex(const unsigned char* bytes, unsigned int len) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 15];
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), digest, &len, EVP_sha256(), nullptr);
  return Hex(digest, len);
}

class Relay : public GatewayTest {
 protected:
  void SetUp() override { StartAll(); }
};

TEST_F(Relay, RequestArrivesUpstreamUnchanged) {
  const std::string body =
      R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"h\u00e9llo \"q\""}],)"
      R"("future_field":{"nested":[1,2.5,null,true]},"temperature":0})";
  TestClient client = Client();
  Headers headers = kAuth;
  headers.insert(headers.end(), {{"Content-Type", "application/json"},
                                 {"OpenAI-Organization", "org-123"},
                                 {"OpenAI-Project", "proj_456"},
                                 {"OpenAI-Beta", "assistants=v2"},
                                 {"Idempotency-Key", "idem-789"},
                                 {"X-Stainless-Lang", "js"},
                                 {"X-Stainless-Retry-Count", "0"},
                                 {"Accept", "application/json"},
                                 {"Accept-Encoding", "gzip, br"},
                                 {"User-Agent", "OpenAI/JS 4.0"},
                                 {"Connection", "keep-alive, X-Hop"},
                                 {"X-Hop", "must-not-pass"},
                                 {"Keep-Alive", "timeout=5"}});
  const Reply reply =
      client.Call("POST", "/v1/chat/completions?trace=1&include[]=a", headers, body);
  ASSERT_EQ(reply.status, 200) << reply.body;

  const auto requests = mock_->requests();
  ASSERT_EQ(requests.size(), 1u);
  const mock::RecordedRequest& got = requests[0];
  EXPECT_EQ(got.method, "POST");
  EXPECT_EQ(got.target, "/v1/chat/completions?trace=1&include[]=a");
  EXPECT_EQ(got.body_prefix, body);
  EXPECT_EQ(got.body_sha256, Sha256Hex(body));
  EXPECT_EQ(got.header("authorization"), std::string("Bearer ") + kKey);
  for (const char* name :
       {"Content-Type", "OpenAI-Organization", "OpenAI-Project", "OpenAI-Beta", "Idempotency-Key",
        "X-Stainless-Lang", "X-Stainless-Retry-Count", "Accept", "Accept-Encoding", "User-Agent"}) {
    EXPECT_EQ(got.header(name), [&] {
      for (const auto& [n, v] : headers) {
        if (n == name) return v;
      }
      return std::string();
    }()) << name;
  }
  EXPECT_EQ(got.header("Content-Length"), std::to_string(body.size()));
  EXPECT_EQ(got.header("Host"), "127.0.0.1:" + std::to_string(mock_->port()));
  EXPECT_EQ(got.header("X-Hop"), "");
  EXPECT_EQ(got.header("Keep-Alive"), "");
}

TEST_F(Relay, ResponseArrivesUnchanged) {
  TestClient client = Client();
  Headers headers = kAuth;
  headers.push_back({"x-mock-header", "x-ratelimit-remaining-tokens: 149984"});
  headers.push_back({"x-mock-header", "openai-organization: org-abc"});
  headers.push_back({"x-mock-header", "set-cookie: a=1"});
  headers.push_back({"x-mock-header", "set-cookie: b=2"});
  headers.push_back({"Origin", "https://app.example"});
  const Reply reply = client.Call("GET", "/v1/models", headers);
  ASSERT_EQ(reply.status, 200);
  EXPECT_TRUE(reply.complete);
  EXPECT_EQ(reply.header("x-request-id"), mock_->requests().at(0).request_id);
  EXPECT_EQ(reply.header("openai-processing-ms"), "1");
  EXPECT_EQ(reply.header("x-ratelimit-remaining-tokens"), "149984");
  EXPECT_EQ(reply.header("openai-organization"), "org-abc");
  EXPECT_EQ(reply.header_count("set-cookie"), 2u);
  EXPECT_EQ(reply.header("content-type"), "application/json");
  EXPECT_EQ(reply.header("access-control-allow-origin"), "*");
  EXPECT_NE(reply.body.find("\"object\":\"list\""), std::string::npos) << reply.body;
}

TEST_F(Relay, UpstreamErrorsPassThroughWithTheirHeaders) {
  TestClient client = Client();
  Headers headers = kAuth;
  headers.push_back({"x-mock-status", "429"});
  const Reply reply = client.Call("POST", "/v1/embeddings", headers, R"({"input":"x"})");
  EXPECT_EQ(reply.status, 429);
  EXPECT_EQ(reply.header("retry-after"), "1");
  EXPECT_EQ(reply.header("x-ratelimit-remaining-requests"), "0");
  EXPECT_NE(reply.body.find("rate_limit_exceeded"), std::string::npos) << reply.body;
  // The connection stays usable after an error relayed from upstream.
  EXPECT_EQ(client.Call("GET", "/v1/models", kAuth).status, 200);
}

TEST_F(Relay, CompressedAnswersStayCompressed) {
  TestClient client = Client();
  Headers headers = kAuth;
  headers.push_back({"Accept-Encoding", "gzip"});
  headers.push_back({"x-mock-gzip", "1"});
  const Reply reply = client.Call("GET", "/v1/models", headers);
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.header("content-encoding"), "gzip");
  ASSERT_GE(reply.body.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(reply.body[0]), 0x1f);  // gzip magic, not JSON
  EXPECT_EQ(static_cast<unsigned char>(reply.body[1]), 0x8b);
}

TEST_F(Relay, ServerSentEventsArriveAsTheyAreSent) {
  TestClient client = Client();
  Headers headers = kAuth;
  headers.push_back({"Content-Type", "application/json"});
  headers.push_back({"x-mock-sse-events", "5"});
  headers.push_back({"x-mock-sse-interval-ms", "300"});
  client.Send("POST", "/v1/chat/completions", headers,
              R"({"model":"gpt-4o-mini","stream":true,"messages":[]})");
  std::vector<Piece> pieces;
  const Reply reply = client.ReadPieces(pieces);
  ASSERT_EQ(reply.status, 200);
  ASSERT_TRUE(reply.complete) << reply.error;
  EXPECT_EQ(reply.header("content-type").rfind("text/event-stream", 0), 0u);
  std::string all;
  for (const Piece& p : pieces) all += p.bytes;
  EXPECT_NE(all.find("tok0"), std::string::npos);
  EXPECT_EQ(all.substr(all.size() - 14), "data: [DONE]\n\n");
  // The mock spaces 5 events 300 ms apart: a relay that buffered would deliver them all at
  // once. Relayed live, the first piece comes long before the last.
  ASSERT_GE(pieces.size(), 2u);
  EXPECT_GE(pieces.back().at - pieces.front().at, milliseconds(600));
  EXPECT_NE(pieces.front().bytes.find("tok0"), std::string::npos);
  EXPECT_EQ(pieces.front().bytes.find("[DONE]"), std::string::npos);
}

TEST_F(Relay, StreamedAnswerEndsOnceAndTheConnectionCarriesOn) {
  // The upstream's last chunk arrives alone, after the last event: the client must see
  // the body end once, then the answer to its next request on the same connection.
  TestClient client = Client();
  Headers headers = kAuth;
  headers.push_back({"x-mock-sse-events", "3"});
  headers.push_back({"x-mock-sse-interval-ms", "50"});
  const Reply stream = client.Call("POST", "/v1/chat/completions", headers, R"({"stream":true})");
  ASSERT_EQ(stream.status, 200);
  ASSERT_TRUE(stream.complete) << stream.error;
  EXPECT_EQ(stream.body.substr(stream.body.size() - 14), "data: [DONE]\n\n");
  const Reply next = client.Call("GET", "/v1/models", kAuth);
  EXPECT_EQ(next.status, 200) << next.error;
  EXPECT_TRUE(next.complete) << next.error;
}

TEST_F(Relay, ClientLeavingMidStreamClosesTheUpstreamCall) {
  TestClient client = Client();
  Headers headers = kAuth;
  headers.push_back({"x-mock-sse-events", "1000"});
  headers.push_back({"x-mock-sse-interval-ms", "2000"});
  client.Send("POST", "/v1/chat/completions", headers, R"({"stream":true})");
  std::vector<Piece> pieces;
  client.ReadPieces(pieces, [](const Piece&) { return false; });  // first event, then leave
  ASSERT_EQ(pieces.size(), 1u);
  client.Close();
  // The mock writes its next event only 2 s later, so seeing the close sooner means the
  // gateway closed the upstream connection as soon as the client left.
  EXPECT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->aborted_responses() == 1; },
                                        milliseconds(1500)));
  EXPECT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->open_connections() == 0; },
                                        milliseconds(1500)));
}

TEST_F(Relay, UpstreamCutMidBodyCutsTheClient) {
  TestClient client = Client();
  Headers headers = kAuth;
  headers.push_back({"x-mock-break", "mid-body"});
  const Reply reply = client.Call("GET", "/v1/files/file-1/content", headers);
  EXPECT_EQ(reply.status, 200);
  EXPECT_FALSE(reply.complete);
  EXPECT_EQ(reply.body.size(), 1000u);
  EXPECT_TRUE(LogHas("ended=upstream_cut")) << gateway_->Log();
}

class RelayIdle : public GatewayTest {
 protected:
  void SetUp() override { StartAll({"--upstream-idle-timeout", "500ms"}); }
};

TEST_F(RelayIdle, SilentUpstreamStreamIsCutAfterTheIdleTimeout) {
  TestClient client = Client();
  Headers headers = kAuth;
  headers.push_back({"x-mock-sse-events", "3"});
  headers.push_back({"x-mock-sse-interval-ms", "3000"});
  client.Send("POST", "/v1/chat/completions", headers, R"({"stream":true})");
  std::vector<Piece> pieces;
  const Reply reply = client.ReadPieces(pieces);
  EXPECT_EQ(reply.status, 200);
  EXPECT_FALSE(reply.complete);  // cut, not ended: the client can tell
  ASSERT_EQ(pieces.size(), 1u);
  EXPECT_NE(pieces[0].bytes.find("tok0"), std::string::npos);
  EXPECT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->aborted_responses() == 1; },
                                        milliseconds(4000)));
}

TEST_F(Relay, ChunkedRequestBodyKeepsItsFraming) {
  TestClient client = Client();
  std::string raw = "POST /v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ";
  raw += kKey;
  raw += "\r\nContent-Type: multipart/form-data; boundary=b\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string part1 =
      "--b\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n";
  const std::string part2 =
      "--b\r\nContent-Disposition: form-data; name=\"file\"; "
      "filename=\"a.jsonl\"\r\n\r\n{}\r\n--b--\r\n";
  char size1[16], size2[16];
  snprintf(size1, sizeof size1, "%zx", part1.size());
  snprintf(size2, sizeof size2, "%zx", part2.size());
  raw += std::string(size1) + "\r\n" + part1 + "\r\n" + size2 + "\r\n" + part2 + "\r\n0\r\n\r\n";
  client.SendRaw(raw);
  const Reply reply = client.Read();
  ASSERT_EQ(reply.status, 200) << reply.body;
  const auto got = mock_->requests().at(0);
  EXPECT_TRUE(got.chunked);
  EXPECT_EQ(got.body_prefix, part1 + part2);
  EXPECT_NE(reply.body.find("\"filename\":\"a.jsonl\""), std::string::npos) << reply.body;
}

TEST_F(Relay, ExpectContinueIsAnsweredByTheGateway) {
  TestClient client = Client();
  std::string raw = "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ";
  raw += kKey;
  raw += "\r\nContent-Length: 13\r\nExpect: 100-continue\r\n\r\n";
  client.SendRaw(raw);
  const Reply interim = client.Read();
  EXPECT_EQ(interim.status, 100);
  client.SendRaw(R"({"input":"x"})");
  const Reply reply = client.Read();
  EXPECT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(mock_->requests().at(0).header("expect"), "");
}

TEST_F(Relay, ExpectContinueFromAnHttp10ClientIsIgnored) {
  // Found by tests/fuzz/http_front_fuzz: an HTTP/1.0 client got "HTTP/1.1 100 Continue",
  // which RFC 9110 forbids (no 1xx to HTTP/1.0; its expectation is ignored).
  TestClient client = Client();
  std::string raw = "POST /v1/embeddings HTTP/1.0\r\nHost: x\r\nAuthorization: Bearer ";
  raw += kKey;
  raw += "\r\nContent-Length: 13\r\nExpect: 100-continue\r\n\r\n{\"input\":\"x\"}";
  client.SendRaw(raw);
  const Reply reply = client.Read();
  EXPECT_EQ(reply.status, 200) << reply.body;
  EXPECT_EQ(mock_->requests().at(0).header("expect"), "");
}

TEST_F(Relay, HeadRequestsGetHeadersOnly) {
  TestClient client = Client();
  const Reply reply = client.Call("HEAD", "/v1/models", kAuth);
  EXPECT_EQ(reply.status, 200);
  EXPECT_TRUE(reply.body.empty());
  EXPECT_EQ(client.Call("GET", "/v1/models", kAuth).status, 200);  // framing intact after
}

// A HEAD answer says how the GET's body would come: its length, or (to an HTTP/1.1
// caller) its chunked coding, never a length of 0 that the GET would not have.
TEST_F(Relay, HeadAnswersKeepTheFramingTheUpstreamDeclared) {
  TestClient client = Client();
  Headers sized = kAuth;
  sized.push_back({"x-mock-bytes", "1000"});
  Reply reply = client.Call("HEAD", "/v1/files/file-1/content", sized);
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.header("content-length"), "1000");
  EXPECT_TRUE(reply.body.empty());

  Headers chunked = sized;
  chunked.push_back({"x-mock-chunked", "1"});
  reply = client.Call("HEAD", "/v1/files/file-1/content", chunked);
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.header("transfer-encoding"), "chunked");
  EXPECT_EQ(reply.header_count("content-length"), 0u);
  EXPECT_TRUE(reply.body.empty());

  reply = client.Call("GET", "/v1/files/file-1/content", chunked);  // framing intact after
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body.size(), 1000u);
}

TEST_F(Relay, ModelIdsWithColonsReachUpstreamIntact) {
  TestClient client = Client();
  const Reply reply = client.Call("GET", "/v1/models/ft:gpt-4o:acme::abc123", kAuth);
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(mock_->requests().at(0).target, "/v1/models/ft:gpt-4o:acme::abc123");
  EXPECT_TRUE(LogHas("rpc=openai.v1.ModelsService/RetrieveModel")) << gateway_->Log();
}

TEST_F(Relay, EndpointsNewerThanTheProtosAreForwarded) {
  TestClient client = Client();
  const Reply reply = client.Call("POST", "/v1/brand/new/endpoint?x=%2F", kAuth, "{}");
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(mock_->requests().at(0).target, "/v1/brand/new/endpoint?x=%2F");
  EXPECT_TRUE(LogHas("rpc=unmodelled")) << gateway_->Log();
}

TEST_F(Relay, KeepAliveReusesBothConnections) {
  TestClient client = Client();
  for (int i = 0; i < 5; ++i) ASSERT_EQ(client.Call("GET", "/v1/models", kAuth).status, 200);
  // Two workers, each with a pool of its own; one client connection lands on one worker.
  EXPECT_EQ(mock_->accepted_connections(), 1);
}

// A client may end its side of the connection (a FIN) right after its request, with the
// request even: it still gets the whole answer, and then the end of the connection at
// once, not at the idle timeout (75 s).
TEST_F(Relay, AClientThatHalfClosesGetsItsAnswerAndThenTheEnd) {
  const std::string request =
      absl::StrCat("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ", kKey,
                   "\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
  for (int i = 0; i < 5; ++i) {
    TestClient client = Client();
    ASSERT_EQ(client.Call("GET", "/v1/models", kAuth).status, 200);
    client.SendRaw(request);  // the next request, and at once the end of ours
    client.HalfClose();
    const Reply reply = client.Read();
    EXPECT_EQ(reply.status, 200) << reply.body;
    EXPECT_TRUE(reply.complete);
    EXPECT_TRUE(client.ClosedByPeer(milliseconds(5000)));
  }
}

// Once the upstream has taken 20 ms the client is watched, and a half-close then reads as
// the client leaving (as nginx takes it): the call ends, and no answer comes.
TEST_F(Relay, AClientThatHalfClosesDuringASlowCallIsTakenAsGone) {
  TestClient client = Client();
  Headers headers = kAuth;
  headers.push_back({"x-mock-delay-ms", "3000"});
  client.Send("POST", "/v1/chat/completions", headers, "{}");
  client.HalfClose();
  // Closed, with nothing read, long before the mock would have answered.
  EXPECT_TRUE(client.ClosedByPeer(milliseconds(2000)));
}

// Interim answers from the upstream (100 Continue, 103 Early Hints) are read and left:
// the caller gets the final answer alone, and both connections carry on.
TEST_F(Relay, InterimAnswersAreLeftAndTheFinalOneRelayed) {
  TestClient client = Client();
  Headers headers = kAuth;
  headers.insert(headers.end(),
                 {{"x-mock-interim", "100"}, {"x-mock-interim", "103"}, {"x-mock-interim", "102"}});
  const Reply reply = client.Call("POST", "/v1/chat/completions", headers, "{}");
  EXPECT_EQ(reply.status, 200) << reply.body;
  EXPECT_TRUE(reply.complete);
  EXPECT_EQ(reply.header_count("link"), 0u);  // the Early Hints' header stays behind
  EXPECT_NE(reply.body.find(R"("object":"chat.completion")"), std::string::npos) << reply.body;
  EXPECT_EQ(client.Call("GET", "/v1/models", kAuth).status, 200);
  EXPECT_EQ(mock_->accepted_connections(), 1);
}

TEST_F(Relay, PipelinedRequestsAreAnsweredInOrder) {
  TestClient client = Client();
  std::string raw;
  for (const char* path : {"/v1/models/a", "/v1/models/b", "/v1/models/c"}) {
    raw += std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + kKey +
           "\r\n\r\n";
  }
  client.SendRaw(raw);
  for (const char* id : {"\"a\"", "\"b\"", "\"c\""}) {
    const Reply reply = client.Read();
    EXPECT_EQ(reply.status, 200);
    EXPECT_NE(reply.body.find(id), std::string::npos) << reply.body;
  }
}

// The next request arrives while the gateway watches the client during a slow answer:
// the watch reads it, and it is served next, not lost.
TEST_F(Relay, RequestPipelinedWhileTheUpstreamThinksIsAnsweredNext) {
  TestClient client = Client();
  const auto request = [](const char* path, const char* extra) {
    return std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + kKey +
           "\r\n" + extra + "\r\n";
  };
  client.SendRaw(request("/v1/models/a", "x-mock-delay-ms: 400\r\n"));
  ASSERT_TRUE(mock::MockOpenAI::WaitFor([&] { return mock_->requests().size() == 1; },
                                        std::chrono::milliseconds(3000)));
  client.SendRaw(request("/v1/models/b", ""));
  for (const char* id : {"\"a\"", "\"b\""}) {
    const Reply reply = client.Read();
    EXPECT_EQ(reply.status, 200);
    EXPECT_NE(reply.body.find(id), std::string::npos) << reply.body;
  }
  EXPECT_EQ(mock_->requests().size(), 2u);
}

class RelayLarge : public GatewayTest {
 protected:
  void SetUp() override { StartAll({"--workers", "1"}); }
};

TEST_F(RelayLarge, HundredMegabyteUploadStreamsWithBoundedMemory) {
  constexpr uint64_t kSize = 100ull << 20;
  const long rss_before = gateway_->RssKib();
  TestClient client = Client();
  std::string head = "POST /v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ";
  head += kKey;
  head += "\r\nContent-Type: application/octet-stream\r\nContent-Length: " + std::to_string(kSize) +
          "\r\n\r\n";
  client.SendRaw(head);
  EVP_MD_CTX* sha = EVP_MD_CTX_new();
  EVP_DigestInit_ex(sha, EVP_sha256(), nullptr);
  client.SendGenerated(kSize, [&](uint64_t offset, std::string& chunk) {
    for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = PatternByte(offset + i);
    EVP_DigestUpdate(sha, chunk.data(), chunk.size());
  });
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(sha, digest, &len);
  EVP_MD_CTX_free(sha);
  const Reply reply = client.Read();
  ASSERT_EQ(reply.status, 200) << reply.body;
  const auto got = mock_->requests().at(0);
  EXPECT_EQ(got.body_bytes, kSize);
  EXPECT_EQ(got.body_sha256, Hex(digest, len));
  // The gateway held a few pieces at a time, not the body: its peak RSS grew by far less
  // than the 100 MiB that went through it.
  const long growth = gateway_->PeakRssKib() - rss_before;
  RecordProperty("gateway_peak_rss_growth_kib", static_cast<int>(growth));
  EXPECT_LT(growth, 16 * 1024) << "before " << rss_before << " KiB, peak " << gateway_->PeakRssKib()
                               << " KiB";
}

TEST_F(RelayLarge, HundredMegabyteDownloadStreamsWithBoundedMemory) {
  constexpr uint64_t kSize = 100ull << 20;
  const long rss_before = gateway_->RssKib();
  TestClient client = Client();
  Headers headers = kAuth;
  headers.push_back({"x-mock-bytes", std::to_string(kSize)});
  client.Send("GET", "/v1/files/file-big/content", headers);
  uint64_t offset = 0;
  bool intact = true;
  std::vector<Piece> pieces;
  const Reply reply = client.ReadPieces(pieces, [&](const Piece& piece) {
    for (char c : piece.bytes) intact = intact && c == PatternByte(offset++);
    pieces.clear();  // keep the test's own memory flat too
    return true;
  });
  ASSERT_EQ(reply.status, 200);
  EXPECT_TRUE(reply.complete) << reply.error;
  EXPECT_EQ(offset, kSize);
  EXPECT_TRUE(intact);
  EXPECT_EQ(reply.header("content-length"), std::to_string(kSize));
  const long growth = gateway_->PeakRssKib() - rss_before;
  RecordProperty("gateway_peak_rss_growth_kib", static_cast<int>(growth));
  EXPECT_LT(growth, 16 * 1024) << "before " << rss_before << " KiB, peak " << gateway_->PeakRssKib()
                               << " KiB";
}

// An upstream that is a bare socket, to see what reaches it and when.
class RawUpstream {
 public:
  RawUpstream() : acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {}
  std::string base_url() {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/v1";
  }
  void Accept() { socket_ = acceptor_.accept(); }
  // What arrives within `timeout`, up to and including `until`.
  std::string ReadUntil(std::string_view until, milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    socket_.non_blocking(true);
    while (got_.find(until) == std::string::npos) {
      // Until bytes (or the end) arrive, or the time is up.
      const auto left =
          std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
      pollfd readable{.fd = socket_.native_handle(), .events = POLLIN, .revents = 0};
      if (left.count() <= 0 || ::poll(&readable, 1, static_cast<int>(left.count())) <= 0) break;
      char buf[4096];
      boost::system::error_code ec;
      const size_t n = socket_.read_some(boost::asio::buffer(buf), ec);
      if (ec == boost::asio::error::would_block) continue;
      if (ec) break;
      got_.append(buf, n);
    }
    return got_;
  }
  void Write(std::string_view bytes) {
    socket_.non_blocking(false);
    boost::asio::write(socket_, boost::asio::buffer(bytes));
  }

 private:
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::ip::tcp::socket socket_{io_};
  std::string got_;
};

// A body still to come finds the request's head already upstream, so the upstream sees
// a request starting rather than an idle connection that it may close.
TEST(RelayHead, GoesUpstreamBeforeABodyThatIsSlowToCome) {
  RawUpstream upstream;
  GatewayProcess gateway(
      {"--upstream", upstream.base_url(), "--workers", "1", "--drain-timeout", "1s"});
  ASSERT_TRUE(gateway.Start()) << gateway.Log();
  TestClient client(gateway.port());
  std::string head = "POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ";
  head += kKey;
  head += "\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n";
  client.SendRaw(head);
  upstream.Accept();
  const std::string early = upstream.ReadUntil("\r\n\r\n", milliseconds(3000));
  EXPECT_TRUE(early.starts_with("POST /v1/embeddings HTTP/1.1\r\n")) << early;
  EXPECT_TRUE(early.ends_with("Content-Length: 13\r\n\r\n")) << early;
  client.SendRaw(R"({"input":"x"})");
  EXPECT_TRUE(
      upstream.ReadUntil(R"({"input":"x"})", milliseconds(3000)).ends_with(R"({"input":"x"})"));
  upstream.Write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
  const Reply reply = client.Read();
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "ok");
  EXPECT_EQ(gateway.Stop(), 0);
}

}  // namespace
}  // namespace oa::testing
