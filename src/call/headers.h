// Which headers cross the gateway, both ways, on both fronts: the one place that decides
// what happens to a header. Every name falls in one class, and one table says where each
// class crosses:
//
//   class        names                                  REST     REST    gRPC       upstream
//                                                       request  answer  metadata   header to
//                                                                        to header  metadata
//   kHopByHop    Connection, Keep-Alive, TE, Trailer,   no       no      no         no
//                Transfer-Encoding, Upgrade, Expect,
//                Proxy-*; and any a Connection names
//   kFraming     Host, Content-Length                   set by the gateway, never relayed
//   kTransport   :pseudo, grpc-*, *-bin                 yes      yes     no         no
//   kTranscoded  Authorization, Content-Type,           yes      yes     no: the transcoder
//                User-Agent, Accept-Encoding                             sets them  no
//   kOpenAi      x-request-id, retry-after, openai-*,   yes      yes     yes        yes
//                x-ratelimit-*
//   kEndToEnd    every other name                       yes      yes     yes        no
//
// REST relays a message as it came (DESIGN.md: end-to-end headers pass unchanged). A gRPC
// call's metadata goes upstream as a REST caller's headers would, but gRPC's own and HTTP/2's
// have no HTTP/1.1 meaning, binary metadata no HTTP/1.1 form, and what the transcoded
// request needs is the transcoder's to write. Of an answer, a gRPC caller gets only what
// carries OpenAI's meaning: the rest describes the HTTP answer that was transcoded.
// CORS headers of an answer are the front's own (http/cors.h replaces them).
#pragma once

#include <boost/beast/http/field.hpp>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "net/http1_parser.h"

namespace oa::call {

enum class HeaderClass { kHopByHop, kFraming, kTransport, kTranscoded, kOpenAi, kEndToEnd };

// Where a header is going.
enum class Crossing { kRestRequest, kRestAnswer, kGrpcRequest, kGrpcAnswer };

// `code` is Beast's code for `name` (field::unknown when it has none); any case.
HeaderClass Classify(boost::beast::http::field code, std::string_view name);
HeaderClass Classify(std::string_view name);

// Whether a header of `name` crosses at `where` (the table above).
bool Crosses(Crossing where, std::string_view name);
bool Crosses(Crossing where, HeaderClass c);

// Calls `visit(name, value)` for each field of `from` that crosses at `where` (a REST
// crossing), in order, less those its Connection header names.
void ForEachCrossing(const net::MessageHead& from, Crossing where,
                     absl::FunctionRef<void(std::string_view name, std::string_view value)> visit);

}  // namespace oa::call
