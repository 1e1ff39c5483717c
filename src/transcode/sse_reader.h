// text/event-stream -> events, incrementally: the upstream's SSE answer is read in pieces
// of any size and split into events (WHATWG HTML, "server-sent events"): lines end in
// LF, CRLF or CR; `data:` lines join with LF; `event:` names the event; a line starting
// with ':' is a comment; a blank line ends the event.
//
// Usage:
//   SseReader reader;
//   reader.Feed(piece);
//   while (std::optional<SseEvent> e = reader.Next()) { ... e->data ... }
//   if (!reader.status().ok()) ...   // an event passed the size limit
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace oa::transcode {

struct SseEvent {
  std::string event;  // empty: the default, "message"
  std::string data;
  std::string id;
};

class SseReader {
 public:
  explicit SseReader(size_t max_event_bytes = size_t{16} * 1024 * 1024)
      : max_event_bytes_(max_event_bytes) {}

  void Feed(std::string_view bytes);
  // The next complete event, or nullopt until more bytes arrive. Events with no data
  // line are not dispatched, as the standard says.
  std::optional<SseEvent> Next();
  // RESOURCE_EXHAUSTED once an event grew past the limit; it stays set.
  const absl::Status& status() const { return status_; }

 private:
  void Line(std::string_view line);

  size_t max_event_bytes_;
  std::string buffer_;  // bytes not yet split into lines
  size_t scanned_ = 0;  // how much of buffer_ is known to hold no line end
  bool after_cr_ = false;
  SseEvent pending_;
  bool has_data_ = false;
  std::optional<SseEvent> ready_;
  absl::Status status_;
};

}  // namespace oa::transcode
