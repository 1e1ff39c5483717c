#include "observe/fingerprint.h"

#include <openssl/evp.h>

#include <array>
#include <memory>

#include "absl/hash/hash.h"
#include "base/strings.h"

namespace oa::observe {

namespace {

constexpr size_t kShortDigits = 8;

// The credential in an Authorization value; empty when there is none.
std::string_view Credential(std::string_view authorization) {
  std::string_view credential = TrimAscii(authorization);
  if (StartsWithIgnoreCase(credential, "bearer ")) return TrimAscii(credential.substr(7));
  // "Bearer " with no key (e.g. an unset $OPENAI_API_KEY) names no key.
  if (EqualsIgnoreCase(credential, "bearer")) return {};
  return credential;
}

// SHA-256 over `credential`, in lower-case hex; "?" if OpenSSL failed.
std::string Sha256Hex(std::string_view credential) {
  // EVP_Digest looks the digest up and allocates a context on every call, which costs
  // several times the hashing of a key this short. SHA-256 is fetched once and each
  // thread keeps one context; the final step wipes the block that held the key.
  static EVP_MD* const sha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local const std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> context(
      EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  if (sha256 == nullptr || context == nullptr ||
      !EVP_DigestInit_ex2(context.get(), sha256, nullptr) ||
      !EVP_DigestUpdate(context.get(), credential.data(), credential.size()) ||
      !EVP_DigestFinal_ex(context.get(), digest, &digest_len) || digest_len != 32) {
    return "?";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(size_t{2} * digest_len, '0');
  for (size_t i = 0; i < digest_len; ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 15];
  }
  return out;
}

}  // namespace

std::string KeyFingerprint(std::string_view authorization) {
  const std::string_view credential = Credential(authorization);
  if (credential.empty()) return "-";
  return Sha256Hex(credential);
}

std::string ShortFingerprint(std::string_view authorization) {
  const std::string_view credential = Credential(authorization);
  if (credential.empty()) return "-";
  // A short fingerprint is written per call, and a gateway sees few keys, each many
  // times: each thread remembers recent ones, by a 64-bit hash of the key (not the key),
  // in a small direct-mapped table. The hash is seeded per process. It is not a
  // cryptographic hash, so a slot is trusted only for what it gives: a log label, which
  // decides nothing (identity is KeyFingerprint's, computed whole every time).
  struct Remembered {
    size_t hash = 0;
    std::string fingerprint;  // empty: the slot is free
  };
  thread_local std::array<Remembered, 64> recent;
  const size_t hash = absl::HashOf(credential);
  Remembered& slot = recent[hash % recent.size()];
  if (!slot.fingerprint.empty() && slot.hash == hash) return slot.fingerprint;
  std::string fingerprint = Sha256Hex(credential).substr(0, kShortDigits);
  if (fingerprint != "?") {  // a failure is not remembered: the next call tries again
    slot.fingerprint = fingerprint;
    slot.hash = hash;
  }
  return fingerprint;
}

}  // namespace oa::observe
