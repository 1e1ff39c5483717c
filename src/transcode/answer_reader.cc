#include "transcode/answer_reader.h"

#include <google/protobuf/stubs/common.h>

#include <cctype>

#include "base/strings.h"
#include "transcode/event_reader.h"
#include "transcode/field_names.h"
#include "transcode/json_reader.h"
#include "transcode/json_shape.h"

namespace oa::transcode {
namespace {

constexpr size_t kMaxWholeAnswer = size_t{64} * 1024 * 1024;  // a unary answer is held whole
constexpr size_t kMaxErrorAnswer = size_t{1024} * 1024;

}  // namespace

AnswerReader::AnswerReader(const google::protobuf::Descriptor& output, bool streaming,
                           std::string_view rpc, google::protobuf::MessageFactory& factory)
    : output_(output),
      streaming_(streaming),
      rpc_(rpc),
      prototype_(*factory.GetPrototype(&output)) {}

void AnswerReader::Start(int http_status, std::string_view content_type) {
  content_type_ = std::string(content_type);
  if (http_status < 200 || http_status >= 300) {
    kind_ = Kind::kError;
  } else if (IsHttpBody(output_)) {
    kind_ = Kind::kBytes;
  } else if (StartsWithIgnoreCase(content_type, "text/event-stream")) {
    kind_ = streaming_ ? Kind::kEvents : Kind::kUnexpectedEvents;
  } else {
    kind_ = Kind::kJson;
  }
}

bool AnswerReader::Feed(std::string_view piece, std::vector<std::string>& out) {
  switch (kind_) {
    case Kind::kError:
    case Kind::kUnexpectedEvents:
      return Collect(piece, kMaxErrorAnswer, /*fail_past_it=*/false);  // keeps the start
    case Kind::kJson:
      return Collect(piece, kMaxWholeAnswer, /*fail_past_it=*/true);
    case Kind::kBytes:
      if (!streaming_) return Collect(piece, kMaxWholeAnswer, /*fail_past_it=*/true);
      if (!piece.empty()) out.push_back(HttpBodyMessage(piece));  // empty: a chunked end
      return true;
    case Kind::kEvents:
      return ReadEvents(piece, out);
  }
  return false;
}

absl::Status AnswerReader::Finish(std::vector<std::string>& out) {
  if (!failure_.ok()) return failure_;
  switch (kind_) {
    case Kind::kError:
      return absl::OkStatus();
    case Kind::kUnexpectedEvents:
      return absl::InternalError(
          StrCat("the upstream answered ", rpc_, " with an event stream; use its streaming form"));
    case Kind::kJson: {
      // A text answer (a transcription as text, SRT or VTT) goes whole to the field that
      // takes it, if the output type has one.
      if (const auto* text = ShapeOf(output_).text_answer; text != nullptr && !IsJson()) {
        if (!google::protobuf::internal::IsStructurallyValidUTF8(collected_)) {
          return absl::InternalError(
              StrCat("the upstream's ", content_type_, " answer is not UTF-8 text"));
        }
        std::unique_ptr<google::protobuf::Message> message = NewOutput();
        message->GetReflection()->SetString(message.get(), text, std::move(collected_));
        out.push_back(message->SerializePartialAsString());
        return absl::OkStatus();
      }
      // OpenAI answers some calls with an empty 200 (accepting a Realtime call, deleting
      // a response): the RPCs that return google.protobuf.Empty.
      const bool empty = collected_.empty() && output_.full_name() == "google.protobuf.Empty";
      std::string wire;
      const JsonReadResult read =
          empty ? JsonReadResult{} : ReadJsonWire(collected_, output_, wire);
      if (!read.status.ok()) {
        return absl::InternalError(StrCat("the upstream's answer is not a ", output_.full_name(),
                                          ": ", read.status.message()));
      }
      Count(read.mismatched, read.first_mismatch);
      out.push_back(std::move(wire));
      return absl::OkStatus();
    }
    case Kind::kBytes:
      if (!streaming_) out.push_back(HttpBodyMessage(collected_));  // held whole
      return absl::OkStatus();
    case Kind::kEvents:
      return events_.status();
  }
  return absl::OkStatus();
}

bool AnswerReader::IsJson() const {
  // No content type at all is read as JSON, as before; anything naming JSON is JSON.
  std::string lower = content_type_;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.empty() || lower.find("json") != std::string::npos;
}

std::unique_ptr<google::protobuf::Message> AnswerReader::NewOutput() const {
  return std::unique_ptr<google::protobuf::Message>(prototype_.New());
}

std::string AnswerReader::HttpBodyMessage(std::string_view data) {
  // Written as the wire has it (two length-delimited fields) rather than through a
  // message: a download's bytes are copied once, into the answer.
  const auto field = [&](std::string_view name, std::string_view value, std::string& out) {
    if (value.empty()) return;  // proto3: an empty string is not written
    uint32_t tag = static_cast<uint32_t>(output_.FindFieldByName(std::string(name))->number())
                       << 3 |
                   2;  // length-delimited
    for (uint64_t n : {uint64_t{tag}, uint64_t{value.size()}}) {
      for (; n >= 0x80; n >>= 7) out += static_cast<char>((n & 0x7f) | 0x80);
      out += static_cast<char>(n);
    }
    out.append(value);
  };
  std::string out;
  out.reserve(data.size() + content_type_.size() + 16);
  if (!content_type_sent_) {  // the first piece carries the type
    field("content_type", content_type_, out);
    content_type_sent_ = true;
  }
  field("data", data, out);
  return out;
}

// Holds `piece` for the end. Past `limit`, either fails the answer or keeps its start.
bool AnswerReader::Collect(std::string_view piece, size_t limit, bool fail_past_it) {
  if (collected_.size() + piece.size() > limit) {
    if (!fail_past_it) return true;
    failure_ =
        absl::ResourceExhaustedError(StrCat("the upstream's answer passed ", limit, " bytes",
                                            kind_ == Kind::kBytes ? "; use a streaming RPC" : ""));
    return false;
  }
  collected_.append(piece);
  return true;
}

bool AnswerReader::ReadEvents(std::string_view piece, std::vector<std::string>& out) {
  events_.Feed(piece);
  while (std::optional<SseEvent> event = events_.Next()) {
    if (IsEndOfStream(*event)) continue;
    std::string wire;
    const JsonReadResult read = ReadEventWire(*event, output_, wire);
    if (!read.status.ok()) {
      // As with an error answer, OpenAI's error goes along whole.
      if (IsErrorEvent(*event, output_)) error_event_ = std::move(event->data);
      failure_ = read.status;
      return false;
    }
    Count(read.mismatched, read.first_mismatch);
    out.push_back(std::move(wire));
  }
  if (!events_.status().ok()) {
    failure_ = events_.status();
    return false;
  }
  return true;
}

void AnswerReader::Count(int mismatched, const std::string& first) {
  if (mismatched > 0 && mismatched_ == 0) first_mismatch_ = first;
  mismatched_ += mismatched;
}

}  // namespace oa::transcode
