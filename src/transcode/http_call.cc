#include "transcode/http_call.h"

#include <algorithm>

#include "base/strings.h"
#include "route/dot_segments.h"
#include "transcode/field_names.h"
#include "transcode/json_shape.h"
#include "transcode/json_writer.h"
#include "transcode/multipart.h"

namespace oa::transcode {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

bool Unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

// `keep` lists the characters besides the unreserved ones that stay as they are.
std::string PercentEncode(std::string_view s, std::string_view keep) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (Unreserved(c) || keep.find(c) != std::string_view::npos) {
      out += c;
    } else {
      const auto b = static_cast<unsigned char>(c);
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 15];
    }
  }
  return out;
}

// Characters a path segment may hold as they are (RFC 3986 pchar, less what OpenAI's
// ids never need): model ids such as ft:gpt-4o:acme::abc keep their colons.
constexpr std::string_view kPathKeep = ":@!$&'()*+,;=";

// The field a path variable names, walking nested messages; nullptr with `at` unset when
// a message on the way is unset.
const Message* Resolve(const Message& root, const std::vector<std::string>& path,
                       const FieldDescriptor** at) {
  const Message* message = &root;
  *at = nullptr;
  for (size_t i = 0; i < path.size(); ++i) {
    const FieldDescriptor* field = message->GetDescriptor()->FindFieldByName(path[i]);
    if (field == nullptr || field->is_repeated()) return nullptr;
    if (i + 1 == path.size()) {
      *at = field;
      return message;
    }
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE ||
        !message->GetReflection()->HasField(*message, field)) {
      return nullptr;
    }
    message = &message->GetReflection()->GetMessage(*message, field);
  }
  return nullptr;
}

absl::StatusOr<std::string> ExpandPath(const route::Route& route, const Message& request) {
  const route::HttpTemplate& t = route.tmpl;
  std::string path;
  for (size_t i = 0; i < t.segments.size();) {
    const auto variable = std::find_if(t.variables.begin(), t.variables.end(), [&](const auto& v) {
      return v.start_segment == static_cast<int>(i);
    });
    path += '/';
    if (variable == t.variables.end()) {
      path += t.segments[i];
      ++i;
      continue;
    }
    const FieldDescriptor* field = nullptr;
    const Message* owner = Resolve(request, variable->field_path, &field);
    const std::string name = Join(variable->field_path, ".");
    if (owner == nullptr || field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
      return absl::InvalidArgumentError(StrCat("field '", name, "' is required (it is part of ",
                                               route.http_method, " ", route.path_template, ")"));
    }
    const std::string value = ScalarText(*owner, *field, -1);
    if (value.empty()) {
      return absl::InvalidArgumentError(StrCat("field '", name, "' is required (it is part of ",
                                               route.http_method, " ", route.path_template, ")"));
    }
    const std::string encoded =
        PercentEncode(value, variable->multi_segment ? StrCat(kPathKeep, "/") : kPathKeep);
    // "." and ".." are no ids: an upstream resolves them as dot segments, also inside a
    // value that encodes them ("../x" sent as "..%2Fx" and decoded), so the call would
    // reach another endpoint than the RPC's (route/dot_segments.h).
    if (route::LeavesItsPrefix(StrCat("/", encoded))) {
      return absl::InvalidArgumentError(
          StrCat("field '", name,
                 "' cannot be or hold a '.' or '..' path segment (it is part "
                 "of ",
                 route.http_method, " ", route.path_template, ")"));
    }
    path += encoded;
    i = variable->multi_segment ? t.segments.size() : static_cast<size_t>(variable->end_segment);
  }
  if (!t.verb.empty()) path += StrCat(":", t.verb);
  return path;
}

void AppendQuery(const Message& message, const FieldDescriptor& field, const std::string& key,
                 std::string& query);

// The keys of `object`'s extra field (json.proto's openai.v1.extra) as `key[name]=...`, or
// as `name=...` at the top (`key` empty), less those a set field or `elsewhere` (the URL
// path, the body) sends and the one named `skip_key`.
void AppendExtraQuery(const Message& object, const std::string& key, std::string_view skip_key,
                      const std::vector<const FieldDescriptor*>& elsewhere, std::string& query) {
  const JsonShape& shape = ShapeOf(*object.GetDescriptor());
  const auto& r = *object.GetReflection();
  if (shape.extra == nullptr || !r.HasField(object, shape.extra)) return;
  const Message& extra = r.GetMessage(object, shape.extra);
  const FieldDescriptor& fields = *extra.GetDescriptor()->FindFieldByName("fields");
  for (int i = 0, n = extra.GetReflection()->FieldSize(extra, &fields); i < n; ++i) {
    const Message& entry = extra.GetReflection()->GetRepeatedMessage(extra, &fields, i);
    const auto& e = *entry.GetDescriptor();
    const std::string name = entry.GetReflection()->GetString(entry, e.FindFieldByNumber(1));
    if (name == skip_key || ExtraKeyTaken(object, name, elsewhere)) continue;
    AppendQuery(entry, *e.FindFieldByNumber(2), key.empty() ? name : StrCat(key, "[", name, "]"),
                query);
  }
}

// An object's set fields as `key[name]=...`, then its extra keys no set field writes; a
// field or extra key named `skip_key` (a union's tag, written already) is left out.
void AppendObjectQuery(const Message& object, const std::string& key, std::string_view skip_key,
                       std::string& query) {
  const JsonShape& shape = ShapeOf(*object.GetDescriptor());
  const auto& r = *object.GetReflection();
  std::vector<const FieldDescriptor*> set;
  r.ListFields(object, &set);
  for (const FieldDescriptor* f : set) {
    if (f == shape.extra || WireName(*f) == skip_key) continue;
    AppendQuery(object, *f, StrCat(key, "[", WireName(*f), "]"), query);
  }
  AppendExtraQuery(object, key, skip_key, {}, query);
}

void AppendQuery(const Message& message, const FieldDescriptor& field, const std::string& key,
                 std::string& query) {
  const auto& r = *message.GetReflection();
  const auto add = [&](int index) {
    query += query.empty() ? '?' : '&';
    query += PercentEncode(key, "[]");
    query += '=';
    query += PercentEncode(ScalarText(message, field, index), "");
  };
  if (field.is_map()) {
    for (int i = 0, n = r.FieldSize(message, &field); i < n; ++i) {
      const Message& entry = r.GetRepeatedMessage(message, &field, i);
      const auto& d = *entry.GetDescriptor();
      AppendQuery(entry, *d.map_value(), StrCat(key, "[", ScalarText(entry, *d.map_key(), -1), "]"),
                  query);
    }
  } else if (field.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE) {
    if (field.is_repeated()) return;  // no query form for lists of objects
    const auto& d = *field.message_type();
    if (IsStruct(d) || IsListValue(d)) return;  // no query form for free objects either
    const Message& sub = r.GetMessage(message, &field);
    if (IsValue(d)) {  // a scalar in a Value (an extra key, a union's other) as its text
      std::vector<const FieldDescriptor*> kind;
      sub.GetReflection()->ListFields(sub, &kind);
      if (!kind.empty() && kind.front()->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE &&
          kind.front()->name() != "null_value") {
        AppendQuery(sub, *kind.front(), key, query);
      }
      return;
    }
    const JsonShape& shape = ShapeOf(d);
    std::vector<const FieldDescriptor*> set;
    sub.GetReflection()->ListFields(sub, &set);
    if (shape.form == JsonShape::Form::kList) {
      AppendQuery(sub, *shape.items, key, query);
    } else if (shape.is_union()) {  // its set variant, under the union's own key
      if (set.empty()) return;
      const FieldDescriptor& variant = *set.front();
      if (shape.form == JsonShape::Form::kTaggedUnion && &variant != shape.other &&
          variant.cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
          !IsStruct(*variant.message_type())) {
        query += query.empty() ? '?' : '&';
        query += StrCat(PercentEncode(StrCat(key, "[", shape.tag_key, "]"), "[]"), "=",
                        PercentEncode(shape.TagOf(variant), ""));
        AppendObjectQuery(sub.GetReflection()->GetMessage(sub, &variant), key, shape.tag_key,
                          query);
      } else {
        AppendQuery(sub, variant, key, query);
      }
    } else {
      AppendObjectQuery(sub, key, {}, query);
    }
  } else if (field.is_repeated()) {
    for (int i = 0, n = r.FieldSize(message, &field); i < n; ++i) add(i);
  } else {
    add(-1);
  }
}

// The first singular FileUpload field of `fields` set in `message`, or nullptr.
const FieldDescriptor* FirstFileSet(const Message& message,
                                    const std::vector<const FieldDescriptor*>& fields) {
  for (const FieldDescriptor* field : fields) {
    if (field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE && !field->is_repeated() &&
        IsFileUpload(*field->message_type()) && message.GetReflection()->HasField(message, field)) {
      return field;
    }
  }
  return nullptr;
}

// The fields of `message` but `skip` as the body: multipart/form-data when a file is
// set among them, else JSON.
void WriteFieldsBody(const Message& message, const std::vector<const FieldDescriptor*>& skip,
                     HttpCall& call) {
  std::vector<const FieldDescriptor*> fields;
  const auto& d = *message.GetDescriptor();
  for (int i = 0; i < d.field_count(); ++i) {
    if (std::find(skip.begin(), skip.end(), d.field(i)) == skip.end()) fields.push_back(d.field(i));
  }
  if (HasFileUpload(message, fields)) {
    MultipartBody multipart = WriteMultipart(message, fields);
    call.content_type = std::move(multipart.content_type);
    call.body = std::move(multipart.body);
  } else {
    call.content_type = "application/json";
    call.body = WriteJson(message, {.skip = skip});
  }
}

// OpenAI asks for a stream in one of two ways: a bool `stream`, which is set to `on` or
// cleared, or (audio speech) a string `stream_format`, which a streaming call sets to
// "sse" unless the caller chose one. False if `message` has neither.
bool SetStream(Message& message, bool on) {
  const auto& d = *message.GetDescriptor();
  const auto& r = *message.GetReflection();
  const FieldDescriptor* stream = d.FindFieldByName("stream");
  if (stream != nullptr && stream->type() == FieldDescriptor::TYPE_BOOL && !stream->is_repeated()) {
    on ? r.SetBool(&message, stream, true) : r.ClearField(&message, stream);
    return true;
  }
  const FieldDescriptor* format = d.FindFieldByName("stream_format");
  if (format != nullptr && format->type() == FieldDescriptor::TYPE_STRING &&
      !format->is_repeated()) {
    if (on && !r.HasField(message, format)) r.SetString(&message, format, "sse");
    return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<HttpCall> BuildHttpCall(const route::Route& route, Message& request,
                                       bool stream_events) {
  if (!SetStream(request, stream_events) && !route.body.empty() && route.body != "*") {
    const FieldDescriptor* body = request.GetDescriptor()->FindFieldByName(route.body);
    if (body != nullptr && body->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE &&
        !body->is_repeated()) {
      SetStream(*request.GetReflection()->MutableMessage(&request, body), stream_events);
    }
  }
  HttpCall call;
  call.method = route.http_method;
  if (std::optional<std::string> field = FindNonFinite(request)) {
    return absl::InvalidArgumentError(
        StrCat("field '", *field, "' is NaN or infinite, which JSON cannot carry"));
  }
  absl::StatusOr<std::string> path = ExpandPath(route, request);
  if (!path.ok()) return path.status();
  call.target = *std::move(path);

  const auto& d = *request.GetDescriptor();
  std::vector<const FieldDescriptor*> in_path;
  for (const auto& variable : route.tmpl.variables) {
    if (variable.field_path.size() == 1) {
      in_path.push_back(d.FindFieldByName(variable.field_path.front()));
    }
  }
  const auto bound = [&](const FieldDescriptor* f) {
    return std::find(in_path.begin(), in_path.end(), f) != in_path.end();
  };

  std::vector<const FieldDescriptor*> set;
  request.GetReflection()->ListFields(request, &set);
  std::string query;
  if (route.body == "*") {
    std::vector<const FieldDescriptor*> body_fields;
    for (int i = 0; i < d.field_count(); ++i) {
      if (!bound(d.field(i))) body_fields.push_back(d.field(i));
    }
    if (route.method->client_streaming()) {
      const FieldDescriptor* file = FirstFileSet(request, body_fields);
      if (file == nullptr) {
        return absl::InvalidArgumentError(
            StrCat("the first message of ", route.rpc, " must set the file to upload (a ",
                   "FileUpload field); later messages carry more of its data"));
      }
      MultipartBody multipart = WriteMultipart(request, body_fields, file);
      call.content_type = std::move(multipart.content_type);
      call.body = std::move(multipart.body);
      call.body_tail = std::move(multipart.tail);
      call.streamed_file = file;
    } else {
      WriteFieldsBody(request, in_path, call);
    }
  } else {
    const FieldDescriptor* body_field =
        route.body.empty() ? nullptr : d.FindFieldByName(route.body);
    const FieldDescriptor* extra = ShapeOf(d).extra;
    for (const FieldDescriptor* field : set) {
      if (field == body_field || field == extra || bound(field)) continue;
      AppendQuery(request, *field, std::string(WireName(*field)), query);
    }
    // Query parameters newer than the protos: the request's own extra keys, as they are.
    std::vector<const FieldDescriptor*> elsewhere = in_path;
    if (body_field != nullptr) elsewhere.push_back(body_field);
    AppendExtraQuery(request, "", "", elsewhere, query);
    if (body_field != nullptr) {
      const bool is_message = body_field->cpp_type() == FieldDescriptor::CPPTYPE_MESSAGE;
      const auto& r = *request.GetReflection();
      if (is_message && !IsValue(*body_field->message_type()) &&
          !IsStruct(*body_field->message_type()) && !IsListValue(*body_field->message_type())) {
        WriteFieldsBody(r.GetMessage(request, body_field), {}, call);
      } else {
        // google.protobuf.Value / Struct / ListValue, a list, or a scalar: as JSON.
        call.content_type = "application/json";
        if (body_field->is_repeated()) {
          call.body += '[';
          for (int i = 0, n = r.FieldSize(request, body_field); i < n; ++i) {
            if (i > 0) call.body += ',';
            AppendFieldJson(request, *body_field, i, call.body);
          }
          call.body += ']';
        } else {
          AppendFieldJson(request, *body_field, -1, call.body);
        }
      }
    }
  }
  call.target += query;
  return call;
}

}  // namespace oa::transcode
