// One client connection of the REST front: reads requests one after the other
// (keep-alive, pipelining), answers what the gateway owns itself (/health, CORS
// preflight, its own errors) and forwards every /v1 call to the upstream.
//
// The session is a coroutine whose frame owns the socket and every buffer, so it lives
// exactly as long as its pending operations (the self-owning session of Beast's
// examples, written as a coroutine). A watched deadline bounds every read and write.
#pragma once

#include <boost/beast/core/flat_buffer.hpp>

#include "config/settings.h"
#include "http/cors.h"
#include "http/server.h"
#include "net/stream.h"
#include "route/route_table.h"
#include "upstream/forwarder.h"
#include "upstream/pool.h"

namespace oa::http {

// What every session of one worker shares; owned by the worker, used on its thread only.
struct FrontContext {
  const config::Settings& settings;
  const route::RouteTable& routes;
  const Cors& cors;
  upstream::Pool& pool;
  const upstream::ForwardLimits& forward_limits;
  Http2Handoff* http2 = nullptr;  // takes HTTP/2 connections (gRPC); nullptr: none
  int listener_fd = -1;
};

// Serves `socket` until the client leaves, a timeout passes or an error ends it.
net::asio::awaitable<void> ServeConnection(net::tcp::socket socket, FrontContext& context);

}  // namespace oa::http
