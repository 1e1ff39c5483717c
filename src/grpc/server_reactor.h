// grpc++'s side of a call (front.cc serves with grpc++'s callback API): a reactor that
// is the call's transport (transport.h). grpc++ runs its reactions on its own threads;
// they reach the call on its worker through notifications posted there.
#pragma once

#include <grpcpp/generic/async_generic_service.h>

#include "call/errors.h"
#include "grpc/call.h"
#include "route/route_table.h"

namespace oa::grpc_front {

// A reactor serving `route` for the call `ctx`. It deletes itself when the call is done.
grpc::ServerGenericBidiReactor* NewCallReactor(grpc::GenericCallbackServerContext* ctx,
                                               const route::Route& route, CallContext& context);

// A reactor that ends the call `ctx` at once with `error` (and logs it).
grpc::ServerGenericBidiReactor* NewFailedReactor(grpc::GenericCallbackServerContext* ctx,
                                                 const call::CallError& error);

}  // namespace oa::grpc_front
