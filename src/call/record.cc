#include "call/record.h"

namespace oa::call {

void RecordCall(observe::AccessRecord& record, const upstream::ForwardOutcome* exchange) {
  if (exchange != nullptr) {
    record.bytes_in = exchange->request_body_bytes;
    record.bytes_out += exchange->response_body_bytes;
    record.upstream_request_id = exchange->request_id;
    record.upstream_first_byte = exchange->upstream_first_byte;
    record.retried = exchange->retried;
    record.client_gone = exchange->client_gone;
    record.upstream_cut = exchange->upstream_cut;
  }
  observe::RecordCall(record);
}

}  // namespace oa::call
