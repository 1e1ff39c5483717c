// The front's TLS certificate and key (--tls-cert, --tls-key), read and checked once at
// start-up and shared by both fronts: the REST front terminates TLS with context(); the
// connections of gRPC clients go to gRPC's own TLS, which takes the same PEM text.
//
// Usage:
//   absl::StatusOr<std::unique_ptr<ServerTls>> tls = ServerTls::Load(cert_file, key_file);
//   if (!tls.ok()) ... stop: the message names the setting at fault ...
//   net::Stream stream(std::move(socket), (*tls)->context());
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "net/asio.h"

namespace oa::net {

class ServerTls {
 public:
  // `cert_file`: PEM, the server's certificate first, then any intermediates.
  // `key_file`: the PEM private key of that certificate, unencrypted.
  static absl::StatusOr<std::unique_ptr<ServerTls>> Load(const std::string& cert_file,
                                                         const std::string& key_file);

  // TLS 1.2 and later; ALPN selects http/1.1 when the client offers it, else h2 when it
  // offers that, else nothing. Thread-safe: every worker makes its connections' TLS state from it.
  asio::ssl::context& context() { return context_; }

  const std::string& cert_chain_pem() const { return cert_chain_pem_; }
  const std::string& private_key_pem() const { return private_key_pem_; }

 private:
  ServerTls();

  asio::ssl::context context_;
  std::string cert_chain_pem_;
  std::string private_key_pem_;
};

}  // namespace oa::net
