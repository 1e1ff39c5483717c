#include "transcode/sse_reader.h"

#include "base/strings.h"

namespace oa::transcode {

void SseReader::Feed(std::string_view bytes) { buffer_.append(bytes); }

std::optional<SseEvent> SseReader::Next() {
  while (status_.ok()) {
    if (ready_) {
      std::optional<SseEvent> out = std::move(ready_);
      ready_.reset();
      return out;
    }
    // A CR ending the previous piece may be half of a CRLF.
    if (after_cr_ && !buffer_.empty()) {
      if (buffer_.front() == '\n') buffer_.erase(0, 1);
      after_cr_ = false;
    }
    const size_t end = buffer_.find_first_of("\r\n", scanned_);
    if (end == std::string::npos) {
      scanned_ = buffer_.size();
      if (buffer_.size() + pending_.data.size() > max_event_bytes_) {
        status_ = absl::ResourceExhaustedError(
            StrCat("an SSE event from the upstream passed ", max_event_bytes_, " bytes"));
      }
      return std::nullopt;
    }
    size_t next = end + 1;
    if (buffer_[end] == '\r') {
      if (next < buffer_.size()) {
        if (buffer_[next] == '\n') ++next;
      } else {
        after_cr_ = true;
      }
    }
    const std::string line = buffer_.substr(0, end);
    buffer_.erase(0, next);
    scanned_ = 0;
    Line(line);
    if (pending_.data.size() > max_event_bytes_) {
      status_ = absl::ResourceExhaustedError(
          StrCat("an SSE event from the upstream passed ", max_event_bytes_, " bytes"));
    }
  }
  return std::nullopt;
}

void SseReader::Line(std::string_view line) {
  if (line.empty()) {
    if (has_data_) ready_ = std::move(pending_);
    pending_ = SseEvent{};
    has_data_ = false;
    return;
  }
  if (line.front() == ':') return;
  const size_t colon = line.find(':');
  std::string_view name = line.substr(0, colon);
  std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
  if (value.starts_with(' ')) value.remove_prefix(1);
  if (name == "data") {
    if (has_data_) pending_.data += '\n';
    pending_.data.append(value);
    has_data_ = true;
  } else if (name == "event") {
    pending_.event = std::string(value);
  } else if (name == "id") {
    pending_.id = std::string(value);
  }
}

}  // namespace oa::transcode
