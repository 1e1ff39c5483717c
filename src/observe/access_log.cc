#include "observe/access_log.h"

#include "base/strings.h"
#include "observe/fingerprint.h"
#include "observe/log.h"

namespace oa::observe {

void LogAccess(const AccessRecord& r) {
  if (!LogEnabled(LogLevel::kInfo)) return;
  static const upstream::ForwardOutcome kNone;
  const upstream::ForwardOutcome& out = r.outcome != nullptr ? *r.outcome : kNone;
  const std::string grpc_status =
      r.grpc_status ? StrCat(" grpc_status=", *r.grpc_status) : std::string();
  const std::string upstream_ms =
      out.upstream_first_byte
          ? absl::StrFormat("%.1f", absl::ToDoubleMilliseconds(*out.upstream_first_byte))
          : "-";
  const char* ended = out.client_gone    ? " ended=client_gone"
                      : out.upstream_cut ? " ended=upstream_cut"
                                         : "";
  OA_LOG(kInfo,
         "access front=%s client=%s method=%s path=%s rpc=%s%s status=%d ms=%.1f upstream_ms=%s "
         "bytes_in=%d bytes_out=%d key=%s request_id=%s%s%s",
         r.front, r.client, r.method, r.target.substr(0, r.target.find('?')), r.rpc, grpc_status,
         r.status, absl::ToDoubleMilliseconds(r.elapsed), upstream_ms, out.request_body_bytes,
         out.response_body_bytes, KeyFingerprint(r.authorization),
         out.request_id.empty() ? "-" : out.request_id, out.retried ? " retried=1" : "", ended);
}

}  // namespace oa::observe
