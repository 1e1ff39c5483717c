#include "observe/access_log.h"

#include "base/strings.h"
#include "observe/fingerprint.h"
#include "observe/log.h"
#include "observe/metrics.h"

namespace oa::observe {

namespace {

void CountCall(const AccessRecord& r) {
  CallSummary call;
  call.front = r.front == "grpc" ? Front::kGrpc : Front::kRest;
  call.rpc = r.rpc;
  call.http_status = r.status;
  call.grpc_code = r.grpc_status.value_or(-1);
  call.elapsed = r.elapsed;
  call.outcome = r.outcome;
  metrics().CallEnded(call);
}

void LogAccess(const AccessRecord& r) {
  static const upstream::ForwardOutcome kNone;
  const upstream::ForwardOutcome& out = r.outcome != nullptr ? *r.outcome : kNone;
  const auto text = [](std::string_view key, std::string_view value) {
    return LogField{key, std::string(value.empty() ? "-" : value), false};
  };
  const auto number = [](std::string_view key, std::string value) {
    return LogField{key, std::move(value), true};
  };
  std::vector<LogField> fields;
  fields.reserve(16);
  fields.push_back(text("front", r.front));
  fields.push_back(text("client", r.client));
  fields.push_back(text("method", r.method));
  fields.push_back(text("path", r.target.substr(0, r.target.find('?'))));
  fields.push_back(text("rpc", r.rpc));
  if (r.grpc_status) fields.push_back(number("grpc_status", StrCat(*r.grpc_status)));
  fields.push_back(number("status", StrCat(r.status)));
  fields.push_back(number("ms", absl::StrFormat("%.1f", absl::ToDoubleMilliseconds(r.elapsed))));
  fields.push_back(
      out.upstream_first_byte
          ? number("upstream_ms",
                   absl::StrFormat("%.1f", absl::ToDoubleMilliseconds(*out.upstream_first_byte)))
          : text("upstream_ms", "-"));
  fields.push_back(number("bytes_in", StrCat(out.request_body_bytes)));
  fields.push_back(number("bytes_out", StrCat(out.response_body_bytes)));
  fields.push_back(text("key", KeyFingerprint(r.authorization)));
  // The upstream's id names the call at OpenAI; the client's own, when the upstream gave
  // none (the gateway answered itself, or the upstream failed).
  fields.push_back(
      text("request_id", out.request_id.empty() ? r.client_request_id : out.request_id));
  if (out.retried) fields.push_back(number("retried", "1"));
  if (out.client_gone) fields.push_back(text("ended", "client_gone"));
  if (out.upstream_cut && !out.client_gone) fields.push_back(text("ended", "upstream_cut"));
  WriteLog(LogLevel::kInfo, "access", fields);
}

}  // namespace

void RecordCall(const AccessRecord& record) {
  CountCall(record);
  if (LogEnabled(LogLevel::kInfo)) LogAccess(record);
}

}  // namespace oa::observe
