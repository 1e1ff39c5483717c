#include "transcode/event_reader.h"

#include "base/strings.h"
#include "transcode/status_map.h"

namespace oa::transcode {

using google::protobuf::FieldDescriptor;

bool IsEndOfStream(const SseEvent& event) { return event.data == "[DONE]"; }

namespace {

// Whether the stream's messages are the Assistants' {string event; <message> data}.
bool NamedShape(const google::protobuf::Descriptor& d) {
  const FieldDescriptor* event_field = d.FindFieldByName("event");
  const FieldDescriptor* data_field = d.FindFieldByName("data");
  return event_field != nullptr && data_field != nullptr &&
         event_field->type() == FieldDescriptor::TYPE_STRING &&
         data_field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
}

}  // namespace

bool IsErrorEvent(const SseEvent& event, const google::protobuf::Descriptor& d) {
  if (event.event == "error") return true;
  const bool named = NamedShape(d) && !event.event.empty();
  return !named && d.FindFieldByName("error") == nullptr && event.data.starts_with("{\"error\"");
}

JsonReadResult ReadEventWire(const SseEvent& event, const google::protobuf::Descriptor& d,
                             std::string& out) {
  if (IsErrorEvent(event, d)) {
    JsonReadResult result;
    result.status = absl::InternalError(EventErrorMessage(event.data));
    return result;
  }
  const bool named = NamedShape(d) && !event.event.empty();
  if (named) {
    const FieldDescriptor& event_field = *d.FindFieldByName("event");
    const FieldDescriptor& data_field = *d.FindFieldByName("data");
    std::string data;
    JsonReadResult result = ReadJsonWire(event.data, *data_field.message_type(), data);
    if (!result.status.ok()) {
      result.status = absl::InternalError(StrCat("the data of event '", event.event, "' is not a ",
                                                 data_field.message_type()->full_name(), ": ",
                                                 result.status.message()));
      return result;
    }
    for (const auto& [field, bytes] : {std::pair{&event_field, std::string_view(event.event)},
                                       std::pair{&data_field, std::string_view(data)}}) {
      // Each a length-delimited field: tag, length, bytes.
      for (uint64_t n : {uint64_t(field->number()) << 3 | 2, uint64_t{bytes.size()}}) {
        for (; n >= 0x80; n >>= 7) out += static_cast<char>((n & 0x7f) | 0x80);
        out += static_cast<char>(n);
      }
      out.append(bytes);
    }
    return result;
  }
  JsonReadResult result = ReadJsonWire(event.data, d, out);
  if (!result.status.ok()) {
    result.status = absl::InternalError(StrCat("an event from the upstream is not a ",
                                               d.full_name(), ": ", result.status.message()));
  }
  return result;
}

JsonReadResult ReadEvent(const SseEvent& event, google::protobuf::Message& message) {
  std::string wire;
  JsonReadResult result = ReadEventWire(event, *message.GetDescriptor(), wire);
  if (result.status.ok() && !ParseWireForm(wire, message)) {
    result.status = absl::InternalError("an event's wire form does not parse");
  }
  return result;
}

}  // namespace oa::transcode
