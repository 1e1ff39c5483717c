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

JsonReadResult ReadEvent(const SseEvent& event, google::protobuf::Message& message) {
  const auto& d = *message.GetDescriptor();
  if (IsErrorEvent(event, d)) {
    JsonReadResult result;
    result.status = absl::InternalError(EventErrorMessage(event.data));
    return result;
  }
  const bool named = NamedShape(d) && !event.event.empty();
  if (named) {
    message.GetReflection()->SetString(&message, d.FindFieldByName("event"), event.event);
    google::protobuf::Message* data =
        message.GetReflection()->MutableMessage(&message, d.FindFieldByName("data"));
    JsonReadResult result = ReadJson(event.data, *data);
    if (!result.status.ok()) {
      result.status = absl::InternalError(StrCat("the data of event '", event.event, "' is not a ",
                                                 data->GetDescriptor()->full_name(), ": ",
                                                 result.status.message()));
    }
    return result;
  }
  JsonReadResult result = ReadJson(event.data, message);
  if (!result.status.ok()) {
    result.status = absl::InternalError(StrCat("an event from the upstream is not a ",
                                               d.full_name(), ": ", result.status.message()));
  }
  return result;
}

}  // namespace oa::transcode
