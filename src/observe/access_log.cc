#include "observe/access_log.h"

#include <array>
#include <charconv>
#include <iterator>

#include "observe/fingerprint.h"
#include "observe/log.h"
#include "observe/metrics.h"

namespace oa::observe {

namespace {

void CountCall(const AccessRecord& r) {
  CallSummary call;
  call.front = r.front;
  call.rpc = r.rpc;
  call.http_status = r.status;
  call.grpc_code = r.grpc_status.value_or(-1);
  call.elapsed = r.elapsed;
  call.upstream_first_byte = r.upstream_first_byte;
  call.bytes_in = r.bytes_in;
  call.bytes_out = r.bytes_out;
  metrics().CallEnded(call);
  if (const WebSocketTally* ws = r.websocket) metrics().WebSocketEnded(r.front, *ws);
}

// Formats a number into a buffer of its own, for a LogField to view. It keeps a length,
// not a pointer into the buffer, so that a copy views its own digits.
class Number {
 public:
  explicit Number(uint64_t n) { SetEnd(std::to_chars(digits_, std::end(digits_), n).ptr); }
  // Milliseconds with one decimal, as "812.4".
  explicit Number(absl::Duration d) {
    const int64_t tenths = (absl::ToInt64Microseconds(d) + 50) / 100;  // rounded
    char* end = std::to_chars(digits_, std::end(digits_) - 2, tenths / 10).ptr;
    *end++ = '.';
    *end++ = static_cast<char>('0' + tenths % 10);
    SetEnd(end);
  }
  std::string_view view() const { return {digits_, size_}; }

 private:
  void SetEnd(const char* end) { size_ = static_cast<size_t>(end - digits_); }

  char digits_[24] = {};
  size_t size_ = 0;
};

void LogAccess(const AccessRecord& r) {
  const auto text = [](std::string_view key, std::string_view value) {
    return LogField{key, value.empty() ? "-" : value, false};
  };
  const auto number = [](std::string_view key, const Number& value) {
    return LogField{key, value.view(), true};
  };
  const Number status(static_cast<uint64_t>(r.status));
  const Number grpc_status(static_cast<uint64_t>(r.grpc_status.value_or(0)));
  const Number ms(r.elapsed);
  const Number upstream_ms(r.upstream_first_byte.value_or(absl::ZeroDuration()));
  const Number bytes_in(r.bytes_in);
  const Number bytes_out(r.bytes_out);
  const std::string key = ShortFingerprint(r.authorization);
  std::array<LogField, 20> fields;
  size_t n = 0;
  fields[n++] = text("front", InfoOf(r.front).name);
  fields[n++] = text("client", r.client);
  fields[n++] = text("method", r.method);
  fields[n++] = text("path", r.target.substr(0, r.target.find('?')));
  fields[n++] = text("rpc", r.rpc);
  if (r.grpc_status) fields[n++] = number("grpc_status", grpc_status);
  fields[n++] = number("status", status);
  fields[n++] = number("ms", ms);
  fields[n++] =
      r.upstream_first_byte ? number("upstream_ms", upstream_ms) : text("upstream_ms", "-");
  fields[n++] = number("bytes_in", bytes_in);
  fields[n++] = number("bytes_out", bytes_out);
  fields[n++] = text("key", key);
  // The upstream's id names the call at OpenAI; the client's own, when the upstream gave
  // none (the gateway answered itself, or the upstream failed).
  fields[n++] = text("request_id",
                     r.upstream_request_id.empty() ? r.client_request_id : r.upstream_request_id);
  if (r.retried) fields[n++] = {"retried", "1", true};
  if (r.client_gone) fields[n++] = text("ended", "client_gone");
  if (r.upstream_cut && !r.client_gone) fields[n++] = text("ended", "upstream_cut");
  std::optional<Number> frames_in;
  std::optional<Number> frames_out;
  std::optional<Number> close_code;
  if (const WebSocketTally* ws = r.websocket) {
    frames_in.emplace(ws->frames_in);
    frames_out.emplace(ws->frames_out);
    fields[n++] = number("frames_in", *frames_in);
    fields[n++] = number("frames_out", *frames_out);
    fields[n++] = text("closed_by", ws->closed_by);
    if (ws->close_code) {
      close_code.emplace(*ws->close_code);
      fields[n++] = number("close_code", *close_code);
    } else {
      fields[n++] = text("close_code", "-");
    }
  }
  WriteLog(LogLevel::kInfo, "access", absl::MakeConstSpan(fields.data(), n));
}

}  // namespace

void RecordCall(const AccessRecord& record) {
  CountCall(record);
  if (LogEnabled(LogLevel::kInfo)) LogAccess(record);
}

}  // namespace oa::observe
