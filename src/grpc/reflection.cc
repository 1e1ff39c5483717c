#include "grpc/reflection.h"

#include <google/protobuf/descriptor.pb.h>

#include "base/strings.h"
#include "grpc/byte_buffers.h"
#include "grpc/health/v1/health.pb.h"
#include "grpc/message_reader.h"
#include "grpc/ordered_reactor.h"
#include "grpc/reflection/v1/reflection.pb.h"
#include "grpc/reflection/v1alpha/reflection.pb.h"

namespace oa::grpc_front {

namespace pb = grpc::reflection::v1alpha;

namespace {

using google::protobuf::FileDescriptor;

// Answers each request as it arrives; one write in flight at a time, so requests wait
// while an answer is being written.
class ReflectionReactor final : public OrderedReactor {
 public:
  ReflectionReactor(const route::Descriptors& descriptors, const std::vector<std::string>& services)
      : answers_(descriptors, services) {
    StartRead(&in_);
  }

  void ReadDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status::OK);  // the client has no more questions
      return;
    }
    pb::ServerReflectionRequest request;
    const absl::Status read = ReadMessage(in_, request, ReflectionAnswers::kMaxRequestBytes);
    if (!read.ok()) {
      Finish(grpc::Status(static_cast<grpc::StatusCode>(read.code()), std::string(read.message())));
      return;
    }
    out_ = ToBuffer(answers_.Answer(request).SerializeAsString());
    StartWrite(&out_);
  }

  void WriteDone(bool ok) override {
    if (!ok) {
      Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
      return;
    }
    StartRead(&in_);
  }

  void Done() override { delete this; }

 private:
  ReflectionAnswers answers_;
  grpc::ByteBuffer in_;
  grpc::ByteBuffer out_;
};

}  // namespace

pb::ServerReflectionResponse ReflectionAnswers::Answer(const pb::ServerReflectionRequest& request) {
  pb::ServerReflectionResponse response;
  response.set_valid_host(request.host());
  *response.mutable_original_request() = request;
  // Our API in the gateway's pool; the health service's messages in the pool of the
  // C++ compiled into the binary.
  const auto* pool = descriptors_.pool;
  const auto* builtin = google::protobuf::DescriptorPool::generated_pool();
  const auto either = [&](auto find) { return find(pool) ? find(pool) : find(builtin); };
  switch (request.message_request_case()) {
    case pb::ServerReflectionRequest::kListServices:
      for (const std::string& name : services_) {
        response.mutable_list_services_response()->add_service()->set_name(name);
      }
      break;
    case pb::ServerReflectionRequest::kFileByFilename:
      AddFile(either([&](auto* p) { return p->FindFileByName(request.file_by_filename()); }),
              response, StrCat("no file named ", request.file_by_filename()));
      break;
    case pb::ServerReflectionRequest::kFileContainingSymbol:
      AddFile(either([&](auto* p) {
                return p->FindFileContainingSymbol(request.file_containing_symbol());
              }),
              response, StrCat("no symbol named ", request.file_containing_symbol()));
      break;
    case pb::ServerReflectionRequest::kFileContainingExtension: {
      const auto& ask = request.file_containing_extension();
      const auto* type = pool->FindMessageTypeByName(ask.containing_type());
      const auto* extension =
          type == nullptr ? nullptr : pool->FindExtensionByNumber(type, ask.extension_number());
      AddFile(extension == nullptr ? nullptr : extension->file(), response,
              StrCat("no extension ", ask.extension_number(), " of ", ask.containing_type()));
      break;
    }
    case pb::ServerReflectionRequest::kAllExtensionNumbersOfType: {
      const auto* type = pool->FindMessageTypeByName(request.all_extension_numbers_of_type());
      if (type == nullptr) {
        NotFound(response, StrCat("no type named ", request.all_extension_numbers_of_type()));
        break;
      }
      std::vector<const google::protobuf::FieldDescriptor*> extensions;
      pool->FindAllExtensions(type, &extensions);
      auto* numbers = response.mutable_all_extension_numbers_response();
      numbers->set_base_type_name(type->full_name());
      for (const auto* e : extensions) numbers->add_extension_number(e->number());
      break;
    }
    default:
      response.mutable_error_response()->set_error_code(
          static_cast<int>(grpc::StatusCode::UNIMPLEMENTED));
      response.mutable_error_response()->set_error_message("unknown reflection request");
  }
  return response;
}

void ReflectionAnswers::AddFile(const FileDescriptor* file, pb::ServerReflectionResponse& response,
                                const std::string& missing) {
  if (file == nullptr) {
    NotFound(response, missing);
    return;
  }
  auto* files = response.mutable_file_descriptor_response();
  std::vector<const FileDescriptor*> todo = {file};
  while (!todo.empty()) {
    const FileDescriptor* f = todo.back();
    todo.pop_back();
    if (!sent_.insert(f->name()).second && f != file) continue;
    google::protobuf::FileDescriptorProto proto;
    f->CopyTo(&proto);
    f->CopyJsonNameTo(&proto);
    files->add_file_descriptor_proto(proto.SerializeAsString());
    for (int i = 0; i < f->dependency_count(); ++i) todo.push_back(f->dependency(i));
  }
}

void ReflectionAnswers::NotFound(pb::ServerReflectionResponse& response,
                                 const std::string& message) {
  response.mutable_error_response()->set_error_code(static_cast<int>(grpc::StatusCode::NOT_FOUND));
  response.mutable_error_response()->set_error_message(message);
}

bool IsReflectionMethod(std::string_view method) {
  return method == "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo" ||
         method == "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";
}

grpc::ServerGenericBidiReactor* NewReflectionReactor(const route::Descriptors& descriptors,
                                                     const std::vector<std::string>& services) {
  // Naming a message of each links its generated file in, which puts its descriptors in
  // the generated pool (a static library member nothing names is left out).
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  (void)grpc::reflection::v1::ServerReflectionRequest::descriptor();
  return OrderedReactor::Constructed(new ReflectionReactor(descriptors, services));
}

}  // namespace oa::grpc_front
