// What the mock OpenAI server answers, decided from a received request alone: the OpenAI
// endpoint emulations, the x-mock-* overrides and the shapes of the bodies. No I/O happens
// here; mock_openai.cc writes the Plan that PlanReply returns onto the connection.

#ifndef OA_TESTS_MOCK_MOCK_REPLIES_H_
#define OA_TESTS_MOCK_MOCK_REPLIES_H_

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mock_openai.h"

namespace oa::mock {

// The bytes of a request body that the mock keeps: the first and the last ones.
struct BodySample {
  std::string_view head;  // body[0, head.size())
  std::string_view tail;  // body[size - tail.size(), size)
  uint64_t size = 0;

  // body[offset, offset + length) when it lies within the head or the tail.
  std::optional<std::string_view> Slice(uint64_t offset, uint64_t length) const;
  // Offsets of the occurrences of `needle` seen in the head or the tail, ascending.
  std::vector<uint64_t> FindAll(std::string_view needle) const;
};

// The files uploaded to the mock. Used by the server's thread only.
class FileStore {
 public:
  struct File {
    std::string id;
    std::string filename;
    std::string purpose;
    uint64_t bytes = 0;
  };

  const File& Add(std::string filename, std::string purpose, uint64_t bytes);
  const File* Find(std::string_view id) const;
  void Remove(std::string_view id);
  void Clear() { files_.clear(); }
  const std::vector<File>& files() const { return files_; }

 private:
  std::vector<File> files_;
  uint64_t next_number_ = 1;
};

// A server-sent event stream of completion chunks.
struct EventStream {
  enum class Api { kChat, kCompletion };
  Api api = Api::kChat;
  std::string model;
  int events = 3;  // chunks before `data: [DONE]`, the last with finish_reason "stop"
  std::chrono::milliseconds interval{0};
};

// How much of its promised body a kTruncated answer sends.
inline constexpr uint64_t kTruncatedBytesSent = 1000;

// How to answer one request.
struct Plan {
  enum class Kind {
    kBody,         // status, headers and `body`
    kEventStream,  // status, headers, then `stream` as chunked server-sent events
    kPattern,      // status, headers, then `pattern_bytes` of PatternByte()
    kHangUp,       // close without answering
    kTruncated,    // promise `pattern_bytes`, send kTruncatedBytesSent of them, close
    kGarbage,      // send a malformed status line, close
  };

  Kind kind = Kind::kBody;
  unsigned status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // besides the framing ones
  std::string body;
  EventStream stream;
  uint64_t pattern_bytes = 0;
  bool chunked = false;       // kPattern: chunked instead of Content-Length
  bool headers_only = false;  // a HEAD request: the headers that GET would get, no body
  std::chrono::milliseconds delay{0};
};

// The answer to `request`, whose body is sampled by `body`. Uploads and deletions of files
// update `files`.
Plan PlanReply(const RecordedRequest& request, const BodySample& body, FileStore& files);

// A 200 answer with a JSON body.
Plan JsonPlan(std::string body);
// An OpenAI-shaped JSON error; 429 carries the rate-limit headers too.
Plan ErrorPlan(unsigned status);

// The `index`th event of `stream`, "data: ...\n\n"; index == stream.events gives [DONE].
std::string StreamEvent(const EventStream& stream, int index);

// Byte `index` of generated file content: (index * 31 + 7) % 251.
char PatternByte(uint64_t index);
// Fills `out` with the pattern bytes starting at `offset`.
void FillPattern(uint64_t offset, std::span<char> out);

// Control-path bodies: the recorded requests as a JSON array, and the connection counters.
std::string RecordedRequestsJson(const std::vector<RecordedRequest>& requests);
std::string StatsJson(int accepted, int open, int aborted);

}  // namespace oa::mock

#endif  // OA_TESTS_MOCK_MOCK_REPLIES_H_
