// One server-sent event -> the wire form of one message of a streaming RPC's event type.
//
// Two shapes exist. Most streams send the event's object as `data` (its `type` inside),
// which is read as the whole message. The Assistants streams name the event in the SSE
// `event:` line and the spec models them as a message {string event; <message> data}:
// such a message gets the event's name and its data read into `data`.
//
// Usage:
//   if (IsEndOfStream(event)) continue;     // "data: [DONE]"
//   std::string wire;
//   JsonReadResult read = ReadEventWire(event, *event_type, wire);
//   if (!read.status.ok()) ...                // end the call with read.status
#pragma once

#include <google/protobuf/message.h>

#include "transcode/json_reader.h"
#include "transcode/sse_reader.h"

namespace oa::transcode {

// The marker OpenAI ends chat and completion streams with; not an event to deliver.
bool IsEndOfStream(const SseEvent& event);

// Whether the event reports an error rather than carrying a message of type `d`: an
// `error` event, or an `{"error":...}` object where `d` has no such field.
bool IsErrorEvent(const SseEvent& event, const google::protobuf::Descriptor& d);

// Appends to `out` the wire form of the message of type `d` that the event is (json_reader.h:
// ReadJsonWire). The status is not OK when the event is an error (IsErrorEvent: INTERNAL
// with OpenAI's message, EventErrorMessage) or when the data does not fit the message.
JsonReadResult ReadEventWire(const SseEvent& event, const google::protobuf::Descriptor& d,
                             std::string& out);

// The same into `message` (for tests). REQUIRES: `message` is empty.
JsonReadResult ReadEvent(const SseEvent& event, google::protobuf::Message& message);

}  // namespace oa::transcode
