#include "net/server_tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string_view>

#include "base/strings.h"

namespace oa::net {
namespace {

absl::Status Bad(std::string_view option, std::string_view why) {
  return absl::InvalidArgumentError(StrCat("--", option, ": ", why));
}

absl::StatusOr<std::string> ReadFile(std::string_view option, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Bad(option, StrCat("cannot read '", path, "': ", std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();  // reads nothing from an empty file or a directory
  if (text.str().empty()) return Bad(option, StrCat("'", path, "' is empty or not a file"));
  return text.str();
}

// The protocol a client offers, if it offers it (`in`: ALPN's wire form).
const unsigned char* Offered(std::string_view protocol, const unsigned char* in,
                             unsigned int in_size) {
  for (unsigned int i = 0; i < in_size; i += 1 + in[i]) {
    const unsigned int size = in[i];
    if (i + 1 + size > in_size) break;
    if (std::string_view(reinterpret_cast<const char*>(in + i + 1), size) == protocol) {
      return in + i;
    }
  }
  return nullptr;
}

// ALPN's choice: http/1.1 when the client offers it (the REST front); else h2, which only
// a client offering h2 alone reaches (the workers give such clients to the gRPC front:
// worker/first_bytes.h); else no protocol at all, which RFC 7301 allows.
int SelectProtocol(SSL*, const unsigned char** out, unsigned char* out_size,
                   const unsigned char* in, unsigned int in_size, void*) {
  for (const std::string_view protocol : {"http/1.1", "h2"}) {
    if (const unsigned char* offered = Offered(protocol, in, in_size)) {
      *out = offered + 1;
      *out_size = *offered;
      return SSL_TLSEXT_ERR_OK;
    }
  }
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

ServerTls::ServerTls() : context_(asio::ssl::context::tls_server) {}

absl::StatusOr<std::unique_ptr<ServerTls>> ServerTls::Load(const std::string& cert_file,
                                                           const std::string& key_file) {
  absl::StatusOr<std::string> cert = ReadFile("tls-cert", cert_file);
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key = ReadFile("tls-key", key_file);
  if (!key.ok()) return key.status();

  std::unique_ptr<ServerTls> tls(new ServerTls());
  asio::ssl::context& context = tls->context_;
  SSL_CTX* native = context.native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  // Nothing here needs renegotiation, and a client could make the server pay for one
  // handshake after another on a single connection.
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION);
  // Left to itself, OpenSSL would ask for an encrypted key's password on the terminal and
  // hang start-up; with an empty password the key fails to load, with a message.
  context.set_password_callback(
      [](std::size_t, asio::ssl::context::password_purpose) { return std::string(); });

  const std::string mismatch = StrCat("'", key_file, "' is not the key of the certificate in '",
                                      cert_file, "' (--tls-cert)");
  error_code ec;
  context.use_certificate_chain(asio::buffer(*cert), ec);
  if (ec) {
    return Bad("tls-cert", StrCat("'", cert_file, "' holds no PEM certificate: ", ec.message()));
  }
  context.use_private_key(asio::buffer(*key), asio::ssl::context::pem, ec);
  if (ec && ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH) {
    return Bad("tls-key", mismatch);
  }
  if (ec) {
    return Bad("tls-key",
               StrCat("'", key_file, "' holds no unencrypted PEM private key: ", ec.message()));
  }
  // A key of another type (EC for an RSA certificate) loads beside the certificate
  // instead of failing: only this check sees it.
  if (SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    return Bad("tls-key", mismatch);
  }
  SSL_CTX_set_alpn_select_cb(native, SelectProtocol, nullptr);
  tls->cert_chain_pem_ = *std::move(cert);
  tls->private_key_pem_ = *std::move(key);
  return tls;
}

}  // namespace oa::net
