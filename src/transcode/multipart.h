// Fields of a request message -> a multipart/form-data body, as OpenAI's SDKs send them:
//   - an openai.v1.FileUpload field is a file part (filename, content type, bytes);
//   - a scalar is a text part; a repeated field is one part per element named `key[]`;
//   - a nested message is flattened to `key[sub]` parts; Struct/Value/ListValue are JSON
//     text parts.
#pragma once

#include <google/protobuf/message.h>

#include <string>
#include <vector>

namespace oa::transcode {

struct MultipartBody {
  std::string content_type;  // "multipart/form-data; boundary=..."
  std::string body;
  // Set when a file part is left open for more bytes (`streamed` below): they go
  // between `body` and `tail`.
  std::string tail;
};

// True if any of `fields` is a set FileUpload field (or a non-empty repeated one).
bool HasFileUpload(const google::protobuf::Message& message,
                   const std::vector<const google::protobuf::FieldDescriptor*>& fields);

// `fields`: the message's fields that go in the body, in order. `streamed`, when set,
// is a singular FileUpload field among them whose part goes last and stays open: `body`
// ends with the bytes it holds so far, and `tail` closes it.
MultipartBody WriteMultipart(const google::protobuf::Message& message,
                             const std::vector<const google::protobuf::FieldDescriptor*>& fields,
                             const google::protobuf::FieldDescriptor* streamed = nullptr);

}  // namespace oa::transcode
