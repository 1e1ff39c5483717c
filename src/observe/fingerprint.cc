#include "observe/fingerprint.h"

#include <openssl/evp.h>

#include "base/strings.h"

namespace oa::observe {

std::string KeyFingerprint(std::string_view authorization) {
  std::string_view credential = TrimAscii(authorization);
  if (StartsWithIgnoreCase(credential, "bearer ")) {
    credential = TrimAscii(credential.substr(7));
  } else if (EqualsIgnoreCase(credential, "bearer")) {
    credential = {};  // "Bearer " with no key (e.g. an unset $OPENAI_API_KEY) names no key
  }
  if (credential.empty()) return "-";
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  EVP_Digest(credential.data(), credential.size(), digest, &digest_len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 4; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 15]);
  }
  return out;
}

}  // namespace oa::observe
