// ServerTls::Load: a certificate (or chain) and its key load; a missing, unreadable,
// encrypted or mismatched file stops start-up with one line naming the setting at fault.
#include "net/server_tls.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

namespace oa::net {
namespace {

using ::testing::HasSubstr;

using Key = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

Key EcKey() { return Key(EVP_EC_gen("P-256"), EVP_PKEY_free); }
Key Ed25519Key() { return Key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"), EVP_PKEY_free); }

template <class Write>
std::string Pem(Write write) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  EXPECT_EQ(write(bio.get()), 1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

std::string KeyPem(EVP_PKEY* key, const char* password = nullptr) {
  return Pem([&](BIO* bio) {
    if (password == nullptr)
      return PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
    return PEM_write_bio_PKCS8PrivateKey(bio, key, EVP_aes_128_cbc(), nullptr, 0, nullptr,
                                         const_cast<char*>(password));
  });
}

// A self-signed certificate for `key`, named `cn`.
std::string CertificatePem(EVP_PKEY* key, const char* cn) {
  std::unique_ptr<X509, decltype(&X509_free)> cert(X509_new(), X509_free);
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn),
                             -1, -1, 0);
  X509_set_issuer_name(cert.get(), name);
  EXPECT_GT(X509_sign(cert.get(), key, EVP_sha256()), 0);
  return Pem([&](BIO* bio) { return PEM_write_bio_X509(bio, cert.get()); });
}

class ServerTlsLoad : public ::testing::Test {
 protected:
  ServerTlsLoad() : key_(EcKey()), cert_pem_(CertificatePem(key_.get(), "localhost")) {
    // A folder of this test's own: CTest runs the cases of this fixture in parallel
    // processes, which would otherwise write and remove each other's files.
    std::string pattern = ::testing::TempDir() + "server_tls_XXXXXX";
    EXPECT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern + "/";
  }
  ~ServerTlsLoad() override {
    for (const std::string& path : paths_) std::remove(path.c_str());
    rmdir(dir_.c_str());
  }

  // A file in the test's own temporary folder, removed when the test ends.
  std::string Write(const std::string& name, const std::string& text) {
    const std::string path = dir_ + name;
    std::ofstream(path, std::ios::binary) << text;
    paths_.push_back(path);
    return path;
  }

  // The one-line message of a load that must fail.
  std::string Failure(const std::string& cert_file, const std::string& key_file) {
    absl::StatusOr<std::unique_ptr<ServerTls>> tls = ServerTls::Load(cert_file, key_file);
    EXPECT_FALSE(tls.ok());
    if (tls.ok()) return "";
    EXPECT_EQ(tls.status().code(), absl::StatusCode::kInvalidArgument);
    const std::string message(tls.status().message());
    EXPECT_EQ(message.find('\n'), std::string::npos) << "one line: " << message;
    return message;
  }

  Key key_;
  std::string cert_pem_;
  std::string dir_;  // ends with '/'
  std::vector<std::string> paths_;
};

TEST_F(ServerTlsLoad, CertificateAndItsKeyLoad) {
  const std::string key_pem = KeyPem(key_.get());
  absl::StatusOr<std::unique_ptr<ServerTls>> tls =
      ServerTls::Load(Write("cert.pem", cert_pem_), Write("key.pem", key_pem));
  ASSERT_TRUE(tls.ok()) << tls.status();
  // gRPC's TLS gets exactly what the files hold.
  EXPECT_EQ((*tls)->cert_chain_pem(), cert_pem_);
  EXPECT_EQ((*tls)->private_key_pem(), key_pem);
}

TEST_F(ServerTlsLoad, ChainWithIntermediatesLoads) {
  const Key other = EcKey();
  const std::string chain = cert_pem_ + CertificatePem(other.get(), "intermediate");
  EXPECT_TRUE(
      ServerTls::Load(Write("chain.pem", chain), Write("key.pem", KeyPem(key_.get()))).ok());
}

TEST_F(ServerTlsLoad, MissingFilesNameTheirSetting) {
  const std::string key = Write("key.pem", KeyPem(key_.get()));
  const std::string cert = Write("cert.pem", cert_pem_);
  const std::string missing = dir_ + "no_such.pem";
  EXPECT_THAT(Failure(missing, key), HasSubstr("--tls-cert: cannot read '" + missing + "'"));
  EXPECT_THAT(Failure(cert, missing), HasSubstr("--tls-key: cannot read '" + missing + "'"));
  const std::string empty = Write("empty.pem", "");
  EXPECT_THAT(Failure(cert, empty), HasSubstr("--tls-key: '" + empty + "' is empty or not a file"));
  EXPECT_THAT(Failure(dir_, key), HasSubstr("is empty or not a file"));
}

TEST_F(ServerTlsLoad, FilesThatAreNotPemNameTheirSetting) {
  const std::string key = Write("key.pem", KeyPem(key_.get()));
  const std::string cert = Write("cert.pem", cert_pem_);
  const std::string garbage = Write("garbage.pem", "not a PEM file\n");
  EXPECT_THAT(Failure(garbage, key), HasSubstr("--tls-cert: '" + garbage + "' holds no PEM"));
  EXPECT_THAT(Failure(cert, garbage), HasSubstr("--tls-key: '" + garbage + "' holds no"));
  // The two files swapped.
  EXPECT_THAT(Failure(key, cert), HasSubstr("--tls-cert: "));
}

TEST_F(ServerTlsLoad, KeyOfAnotherCertificateIsRefused) {
  const std::string cert = Write("cert.pem", cert_pem_);
  const Key other = EcKey();
  const Key other_type = Ed25519Key();
  for (EVP_PKEY* wrong : {other.get(), other_type.get()}) {
    const std::string key = Write("wrong.key", KeyPem(wrong));
    EXPECT_THAT(Failure(cert, key), HasSubstr("--tls-key: '" + key +
                                              "' is not the key of the "
                                              "certificate in '" +
                                              cert + "'"));
  }
}

TEST_F(ServerTlsLoad, EncryptedKeyFailsInsteadOfAskingForItsPassword) {
  const std::string cert = Write("cert.pem", cert_pem_);
  const std::string key = Write("encrypted.key", KeyPem(key_.get(), "secret"));
  EXPECT_THAT(Failure(cert, key), HasSubstr("--tls-key: '" + key + "' holds no unencrypted"));
}

}  // namespace
}  // namespace oa::net
