// The record of a finished call, whichever front it came by: its access line and its
// metrics. The front fills in what it knows of the caller and of any answer it made
// itself; RecordCall adds what the exchange with the upstream did. observe/ reads the
// record alone, and knows nothing of the forwarder.
//
//   observe::AccessRecord record;
//   record.front = "rest"; record.status = 200; ...
//   call::RecordCall(record, &outcome);  // or nullptr: the call never reached the upstream
#pragma once

#include "observe/access_log.h"
#include "upstream/forwarder.h"

namespace oa::call {

// Counts the call in the metrics and writes its access line. `exchange`, when the call
// reached the forwarder, gives the request body's bytes, the upstream's request id and
// first-byte time and how the exchange ended; the body it relayed adds to the record's
// `bytes_out`, which holds the body of an answer the gateway made itself.
void RecordCall(observe::AccessRecord& record, const upstream::ForwardOutcome* exchange);

}  // namespace oa::call
