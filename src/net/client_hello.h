// The protocols a TLS client offers, read from its ClientHello before any TLS is done.
// The hello is the first thing a client sends and travels in the clear, so the front can
// look at its ALPN extension and choose who terminates TLS: gRPC's own TLS for gRPC
// clients, the REST front's for everyone else (see http/session.cc).
//
// Usage:
//   const ClientHello hello = ParseClientHello(bytes_read_so_far);
//   if (hello.state == ClientHello::State::kIncomplete) ... read more, parse again ...
//   if (hello.state == ClientHello::State::kComplete && OffersOnlyHttp2(hello.alpn)) ...
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace oa::net {

struct ClientHello {
  enum class State {
    kIncomplete,  // a prefix of a well-formed hello so far: more bytes are needed
    kComplete,    // the whole hello was read; `alpn` says what it offers
    kNotTls,      // not a TLS ClientHello (plaintext HTTP, garbage, a malformed hello)
  };
  State state = State::kIncomplete;
  // The ALPN protocol names in the client's order of preference; empty when the hello
  // has no ALPN extension.
  std::vector<std::string> alpn;
};

// Parses the ClientHello at the start of `bytes`, the first bytes of a connection. The
// hello may span several TLS records; bytes after it are ignored. Never reads outside
// `bytes`, whatever they hold.
ClientHello ParseClientHello(std::string_view bytes);

// True when `alpn` offers HTTP/2 ("h2", or gRPC's "grpc-exp") and not "http/1.1". gRPC
// clients (gRPC C-core and its wrappers, grpc-js, grpc-go, grpc-java) offer exactly that;
// HTTP clients that can speak HTTP/2 (curl, browsers) offer http/1.1 as well.
bool OffersOnlyHttp2(const std::vector<std::string>& alpn);

}  // namespace oa::net
