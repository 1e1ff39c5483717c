// One-way names for a caller's key. The key itself is never written anywhere; these are.
//
// - KeyFingerprint: SHA-256 of the credential, 64 hex digits: the key's identity wherever
//   one decides something (the allow-list, the rate limits' counters, Redis). Finding a
//   second key with the same fingerprint is as hard as breaking SHA-256.
// - ShortFingerprint: the first 8 of those digits, written in the access log (key=) to
//   tell callers apart when reading. 32 bits are far too few to identify a key by (a
//   colliding key is found in minutes), so nothing decides anything by them.
//
//   const std::string id = KeyFingerprint(request.Value(http::field::authorization));
//   record.key_fingerprint = id;       // the log shows ShortFingerprint(id)
#pragma once

#include <string>
#include <string_view>

namespace oa::observe {

// `authorization` is the whole header value ("Bearer sk-..."); the scheme ("Bearer", any
// case) and surrounding spaces are not part of the credential. Returns "-" for an empty
// credential, and "?" if hashing failed (which OpenSSL does only when out of memory).
std::string KeyFingerprint(std::string_view authorization);

// The first 8 hex digits of KeyFingerprint(authorization), for the access log. Each
// thread remembers recent keys' short fingerprints, so a call whose limits needed no
// full fingerprint does not pay for one.
std::string ShortFingerprint(std::string_view authorization);

}  // namespace oa::observe
