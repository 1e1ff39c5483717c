// The gateway's own gRPC services where the workers serve HTTP/2 (http2_session.h):
// gRPC health checking (grpc.health.v1.Health: Check and Watch) and server reflection
// (reflection.h's answers), each a coroutine on the call's worker over its transport.
//
// Health answers for the whole server (service "") and for each service the gateway
// serves, SERVING until shutdown begins (SetServing), then NOT_SERVING; other names are
// NOT_FOUND. Watch sends the status at once and again whenever it changes (looked at
// every second), until the client leaves.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "grpc/call_state.h"
#include "route/descriptors.h"

namespace oa::grpc_front {

struct LocalServices {
  const route::Descriptors& descriptors;
  const std::vector<std::string>& services;  // full names, sorted
  const std::atomic<bool>& serving;
};

// Whether `method` ("/package.Service/Method") is one of them.
bool IsLocalMethod(std::string_view method);

// Serves the call of `method` (IsLocalMethod) through `call`'s transport, on its worker.
// `services` outlives the call.
void StartLocalCall(std::shared_ptr<CallSignals> call, std::string_view method,
                    const LocalServices& services);

}  // namespace oa::grpc_front
