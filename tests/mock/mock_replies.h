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

// Members of a JSON object as (key, raw JSON value) pairs.
using Members = std::vector<std::pair<std::string, std::string>>;

// The assistants, threads and runs created on the mock, so that later calls see what earlier
// ones made. Used by the server's thread only.
class ObjectStore {
 public:
  struct Run {
    std::string id;
    std::string thread_id;
    std::string assistant_id;
    std::string model;
    Members echoed = {};  // what the run repeats of its creation request
  };

  // A new id, e.g. "asst_mock3"; one sequence for every kind of object.
  std::string NewId(std::string_view prefix);
  // Remembers the model an assistant was created with; "" when `id` was not created here.
  void AddAssistant(std::string id, std::string model);
  std::string AssistantModel(std::string_view id) const;
  const Run& AddRun(Run run);
  const Run* FindRun(std::string_view thread_id, std::string_view run_id) const;
  void Clear();

 private:
  std::vector<std::pair<std::string, std::string>> assistant_models_;
  std::vector<Run> runs_;
  uint64_t next_number_ = 1;
};

// x-mock-* headers armed through the control path POST /__mock/override?path=P&times=N, for
// callers that cannot put them on their requests themselves (a gRPC client goes through a
// gateway that forwards only the headers OpenAI knows). The x-mock-* headers of the control
// request apply, as if sent with it, to each of the next N (default 1) requests whose path
// (without query) is P (default: any path). Used by the server's thread only.
class Overrides {
 public:
  // Arms the x-mock-* headers of the control request `control`. False when its query is bad
  // or it carries no x-mock-* header.
  bool Arm(const RecordedRequest& control);
  // `request` with the headers of the first armed override that matches it in front of its
  // own ones (so that they win), which uses that override once; `request` itself otherwise.
  RecordedRequest Apply(const RecordedRequest& request);
  void Clear() { armed_.clear(); }

 private:
  struct Armed {
    std::string path;  // "" for any
    int64_t remaining = 1;
    std::vector<std::pair<std::string, std::string>> headers;
  };
  std::vector<Armed> armed_;
};

// What the mock remembers between requests.
struct MockState {
  FileStore files;
  ObjectStore objects;
  Overrides overrides;

  void Clear() {
    files.Clear();
    objects.Clear();
    overrides.Clear();
  }
};

// A server-sent event stream: completion chunks, the events of an assistants run, or those of
// a Responses API response.
struct EventStream {
  enum class Api { kChat, kCompletion, kRun, kResponse };
  Api api = Api::kChat;
  std::string model;
  // kChat, kCompletion: chunks before `data: [DONE]`, the last with finish_reason "stop".
  // kRun: thread.message.delta events between thread.run.created, thread.run.in_progress and
  // thread.run.completed, then `event: done` with `data: [DONE]`.
  // kResponse: response.output_text.delta events between response.created and
  // response.completed (the Responses API sends no [DONE]).
  int events = 3;
  std::chrono::milliseconds interval{0};
  int error_at = -1;              // kChat, kCompletion: this event is an error object, and the last
  int reset_at = -1;              // reset the connection (TCP RST) instead of writing this event
  std::string id = {};            // kRun: the run's id; kResponse: the response's id
  std::string thread_id = {};     // kRun
  std::string assistant_id = {};  // kRun
  Members echoed = {};            // kRun, kResponse: what the objects repeat of the request
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
    kReset,        // reset the connection (TCP RST) without answering
    kTruncated,    // promise `pattern_bytes`, send kTruncatedBytesSent of them, then `cut`
    kRaw,          // send `raw` as it is (not a whole or valid answer), close
  };
  // How a kTruncated answer ends.
  enum class Cut {
    kClose,  // FIN
    kReset,  // RST
    kStall,  // nothing more, the connection held open until the peer leaves
  };

  Kind kind = Kind::kBody;
  unsigned status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // besides the framing ones
  std::string body;
  EventStream stream;
  uint64_t pattern_bytes = 0;
  bool chunked = false;       // kPattern, kTruncated: chunked instead of Content-Length
  Cut cut = Cut::kClose;      // kTruncated
  bool headers_only = false;  // a HEAD request: the headers that GET would get, no body
  std::chrono::milliseconds delay{0};
  std::vector<unsigned> interim;  // 1xx answers sent, in order, before the answer
  std::string raw;                // kRaw
};

// The answer to `request`, whose body is sampled by `body`. Armed overrides apply to it;
// uploads, deletions and creations update `state`.
Plan PlanReply(const RecordedRequest& request, const BodySample& body, MockState& state);

// A 200 answer with a JSON body.
Plan JsonPlan(std::string body);
// An OpenAI-shaped JSON error; 429 carries the rate-limit headers too.
Plan ErrorPlan(unsigned status);

// The number of server-sent events that `stream` writes, its end marker included if any.
int StreamLength(const EventStream& stream);
// The `index`th event of `stream` (0 <= index < StreamLength), "data: ...\n\n" or, where
// OpenAI names its events, "event: name\ndata: ...\n\n".
std::string StreamEvent(const EventStream& stream, int index);

// Byte `index` of generated file content: (index * 31 + 7) % 251.
char PatternByte(uint64_t index);
// Fills `out` with the pattern bytes starting at `offset`.
void FillPattern(uint64_t offset, std::span<char> out);

// Control-path bodies: the recorded requests as a JSON array (each body's first 1 MiB as
// body_base64), and the connection and WebSocket counters.
std::string RecordedRequestsJson(const std::vector<RecordedRequest>& requests);
std::string StatsJson(int accepted, int open, int aborted, int open_websockets);

}  // namespace oa::mock

#endif  // OA_TESTS_MOCK_MOCK_REPLIES_H_
