#include "observe/fingerprint.h"

#include <openssl/evp.h>

#include <array>
#include <memory>

#include "absl/hash/hash.h"
#include "base/strings.h"

namespace oa::observe {

namespace {

// The fingerprint itself: the first 8 hex digits of SHA-256 over `credential`.
std::string Sha256Prefix(std::string_view credential) {
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
      !EVP_DigestFinal_ex(context.get(), digest, &digest_len) || digest_len < 4) {
    return "?";
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 4; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

}  // namespace

std::string KeyFingerprint(std::string_view authorization) {
  std::string_view credential = TrimAscii(authorization);
  if (StartsWithIgnoreCase(credential, "bearer ")) {
    credential = TrimAscii(credential.substr(7));
  } else if (EqualsIgnoreCase(credential, "bearer")) {
    credential = {};  // "Bearer " with no key (e.g. an unset $OPENAI_API_KEY) names no key
  }
  if (credential.empty()) return "-";
  // A fingerprint is taken per call (the access log), and a gateway sees few keys, each
  // many times: each thread remembers recent ones, by a 64-bit hash of the key (not the
  // key), in a small direct-mapped table. The hash is seeded per process, so it names
  // nothing outside it.
  struct Remembered {
    size_t hash = 0;
    std::string fingerprint;  // empty: the slot is free
  };
  thread_local std::array<Remembered, 64> recent;
  const size_t hash = absl::HashOf(credential);
  Remembered& slot = recent[hash % recent.size()];
  if (!slot.fingerprint.empty() && slot.hash == hash) return slot.fingerprint;
  std::string fingerprint = Sha256Prefix(credential);
  if (fingerprint != "?") {  // a failure is not remembered: the next call tries again
    slot.fingerprint = fingerprint;
    slot.hash = hash;
  }
  return fingerprint;
}

}  // namespace oa::observe
