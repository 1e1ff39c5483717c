#include "test_client.h"

#include <poll.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <stdexcept>

#include "test_outputs.h"

namespace oa::testing {
namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using asio::ip::tcp;

namespace {
bool SameName(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

template <class Parser>
void TakeHeader(const Parser& parser, Reply& reply) {
  const auto& head = parser.get();
  reply.status = head.result_int();
  reply.reason = std::string(head.reason());
  for (const auto& field : head) {
    reply.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
  }
}

// The status line, headers and body read so far, as kept for the key scan.
std::string Describe(const Reply& reply) {
  std::string text = std::to_string(reply.status) + " " + reply.reason + "\n";
  for (const auto& [name, value] : reply.headers) text += name + ": " + value + "\n";
  return text + reply.body;
}
}  // namespace

std::string Reply::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (SameName(n, name)) return v;
  }
  return "";
}

size_t Reply::header_count(std::string_view name) const {
  size_t count = 0;
  for (const auto& [n, v] : headers) count += SameName(n, name);
  return count;
}

TestClient::TestClient(uint16_t port) : socket_(io_) {
  socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
}

TestClient::~TestClient() { Close(); }

void TestClient::Send(std::string_view method, std::string_view target, const Headers& headers,
                      std::string_view body) {
  std::string raw = std::string(method) + " " + std::string(target) + " HTTP/1.1\r\n";
  raw += "Host: gateway.test\r\n";
  for (const auto& [name, value] : headers) raw += name + ": " + value + "\r\n";
  if (!body.empty() || (method != "GET" && method != "HEAD" && method != "DELETE")) {
    raw += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  raw += "\r\n";
  raw += body;
  SendRaw(raw);
}

void TestClient::SendRaw(std::string_view bytes) {
  asio::write(socket_, asio::buffer(bytes.data(), bytes.size()));
}

Reply TestClient::Read(bool head_request) {
  std::vector<Piece> pieces;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(boost::none);
  parser.skip(head_request);
  Reply reply;
  boost::system::error_code ec;
  if (read_timeout_.count() == 0) {
    bhttp::read(socket_, buffer_, parser, ec);
  } else {
    parser.eager(true);
    while (!parser.is_done()) {
      if (!Readable(read_timeout_)) {
        ec = boost::asio::error::timed_out;
        break;
      }
      bhttp::read_some(socket_, buffer_, parser, ec);
      if (ec) break;
    }
  }
  if (parser.is_header_done()) TakeHeader(parser, reply);
  reply.body = parser.get().body();
  reply.complete = !ec && parser.is_done();
  if (ec) reply.error = ec.message();
  KeepOutput("rest-answers", Describe(reply));
  return reply;
}

Reply TestClient::Call(std::string_view method, std::string_view target, const Headers& headers,
                       std::string_view body) {
  Send(method, target, headers, body);
  return Read(method == "HEAD");
}

Reply TestClient::ReadPieces(std::vector<Piece>& pieces,
                             const std::function<bool(const Piece&)>& on_piece) {
  bhttp::response_parser<bhttp::buffer_body> parser;
  parser.body_limit(boost::none);
  Reply reply;
  boost::system::error_code ec;
  bhttp::read_header(socket_, buffer_, parser, ec);
  if (ec) {
    reply.error = ec.message();
    return reply;
  }
  TakeHeader(parser, reply);
  KeepOutput("rest-answers", Describe(reply));
  char buf[64 * 1024];
  while (!parser.is_done()) {
    parser.get().body().data = buf;
    parser.get().body().size = sizeof buf;
    bhttp::read_some(socket_, buffer_, parser, ec);
    if (ec == bhttp::error::need_buffer) ec = {};
    if (ec) {
      reply.error = ec.message();
      return reply;
    }
    const size_t got = sizeof buf - parser.get().body().size;
    if (got == 0) continue;
    pieces.push_back({std::chrono::steady_clock::now(), std::string(buf, got)});
    KeepOutput("rest-answers", pieces.back().bytes);
    if (on_piece && !on_piece(pieces.back())) return reply;
  }
  reply.complete = true;
  return reply;
}

void TestClient::SendGenerated(uint64_t size,
                               const std::function<void(uint64_t, std::string&)>& fill) {
  std::string chunk;
  for (uint64_t offset = 0; offset < size;) {
    chunk.resize(std::min<uint64_t>(1 << 20, size - offset));
    fill(offset, chunk);
    asio::write(socket_, asio::buffer(chunk));
    offset += chunk.size();
  }
}

std::string TestClient::ReadBytes(size_t n) {
  while (buffer_.size() < n) {
    pollfd pfd{socket_.native_handle(), POLLIN, 0};
    const int wait = read_timeout_.count() > 0 ? static_cast<int>(read_timeout_.count()) : -1;
    if (poll(&pfd, 1, wait) <= 0) break;
    boost::system::error_code ec;
    const size_t got = socket_.read_some(buffer_.prepare(n - buffer_.size()), ec);
    buffer_.commit(got);
    if (ec) break;
  }
  std::string bytes = boost::beast::buffers_to_string(buffer_.data());
  bytes.resize(std::min(bytes.size(), n));
  buffer_.consume(bytes.size());
  return bytes;
}

void TestClient::SetReadTimeout(std::chrono::milliseconds timeout) { read_timeout_ = timeout; }

bool TestClient::Readable(std::chrono::milliseconds timeout) {
  if (buffer_.size() > 0) return true;
  pollfd pfd{socket_.native_handle(), POLLIN, 0};
  return poll(&pfd, 1, static_cast<int>(timeout.count())) > 0;
}

bool TestClient::ClosedByPeer(std::chrono::milliseconds timeout) {
  pollfd pfd{socket_.native_handle(), POLLIN, 0};
  if (poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) return false;
  char byte;
  boost::system::error_code ec;
  const size_t n = socket_.read_some(asio::buffer(&byte, 1), ec);
  return n == 0 && ec;
}

void TestClient::HalfClose() { socket_.shutdown(tcp::socket::shutdown_send); }

void TestClient::Close() {
  boost::system::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace oa::testing
