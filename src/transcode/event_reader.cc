#include "transcode/event_reader.h"

#include "base/strings.h"
#include "transcode/status_map.h"

namespace oa::transcode {

using google::protobuf::FieldDescriptor;

bool IsEndOfStream(const SseEvent& event) { return event.data == "[DONE]"; }

JsonReadResult ReadEvent(const SseEvent& event, google::protobuf::Message& message) {
  const auto& d = *message.GetDescriptor();
  const FieldDescriptor* event_field = d.FindFieldByName("event");
  const FieldDescriptor* data_field = d.FindFieldByName("data");
  const bool named = event_field != nullptr && data_field != nullptr &&
                     event_field->type() == FieldDescriptor::TYPE_STRING &&
                     data_field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
                     !event.event.empty();
  const bool error_object =
      !named && d.FindFieldByName("error") == nullptr && event.data.starts_with("{\"error\"");
  if (event.event == "error" || error_object) {
    JsonReadResult result;
    result.status = absl::InternalError(ErrorMessage(500, event.data));
    return result;
  }
  if (named) {
    message.GetReflection()->SetString(&message, event_field, event.event);
    google::protobuf::Message* data = message.GetReflection()->MutableMessage(&message, data_field);
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
