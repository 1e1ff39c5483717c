// The base of the gRPC front's reactors: gRPC's own ServerGenericBidiReactor, plus the
// order in which gRPC runs a reactor's code, told to ThreadSanitizer.
//
// gRPC runs reactions on its own threads and orders them with locks inside libgrpc, which
// Debian builds without TSan: TSan sees none of that order, so to it every reactor field
// set in the constructor or one reaction and read in the next looks like a race. What
// gRPC promises (grpcpp/support/server_callback.h) is:
//   - a reaction runs after the call that asked for it: StartRead -> OnReadDone,
//     StartWrite -> OnWriteDone;
//   - OnCancel runs after the method handler, hence after the reactor was constructed;
//   - OnDone runs after every other reaction has returned and after Finish;
// and nothing more: "reactions may be invoked concurrently". This class marks exactly
// those edges for TSan (a release where we ask, an acquire where gRPC reacts), so TSan
// checks our reactors against gRPC's real contract: fields shared by two reactions that
// gRPC may run at once (OnCancel beside OnReadDone) are still reported when unguarded.
// What gRPC's inline code does inside a Start* or Finish call, after our mark, cannot be
// marked from here (the reaction may already run when the call returns): tests/tsan.supp
// leaves those few functions of gRPC's to gRPC. Outside TSan builds the marks compile to
// nothing.
//
// Usage: derive, override ReadDone/WriteDone/Cancelled/Done instead of gRPC's On*
// reactions (which are final here), call StartRead/StartWrite/StartWriteAndFinish/Finish
// through the derived type, and create through Constructed():
//   return Constructed(new MyReactor(...));
#pragma once

#include <grpcpp/generic/async_generic_service.h>

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#endif

namespace oa::grpc_front {

class OrderedReactor : public grpc::ServerGenericBidiReactor {
 public:
  // Call on the new reactor before handing it to gRPC: OnCancel comes after this.
  template <class Reactor>
  static Reactor* Constructed(Reactor* reactor) {
    OrderedReactor* base = reactor;
    Release(&base->constructed_);
    return reactor;
  }

  // gRPC's calls of the same names, each marked as asked before gRPC hears of it.
  void StartRead(grpc::ByteBuffer* request) {
    Release(&read_asked_);
    grpc::ServerGenericBidiReactor::StartRead(request);
  }
  void StartWrite(const grpc::ByteBuffer* response) {
    Release(&write_asked_);
    grpc::ServerGenericBidiReactor::StartWrite(response);
  }
  void StartWriteAndFinish(const grpc::ByteBuffer* response, grpc::WriteOptions options,
                           grpc::Status status) {
    Release(&write_asked_);
    Release(&finish_asked_);
    grpc::ServerGenericBidiReactor::StartWriteAndFinish(response, options, std::move(status));
  }
  void Finish(grpc::Status status) {
    Release(&finish_asked_);
    grpc::ServerGenericBidiReactor::Finish(std::move(status));
  }

 protected:
  // The reactions, as gRPC's On* of the same meaning.
  virtual void ReadDone(bool /*ok*/) {}
  virtual void WriteDone(bool /*ok*/) {}
  virtual void Cancelled() {}
  virtual void Done() = 0;  // typically `delete this`

 private:
  // Acquires what `asked` released on entry; on return, releases what OnDone acquires.
  class Reaction {
   public:
    Reaction(OrderedReactor& reactor, char* asked) : reactor_(reactor) { Acquire(asked); }
    ~Reaction() { Release(&reactor_.reacted_); }
    Reaction(const Reaction&) = delete;
    Reaction& operator=(const Reaction&) = delete;

   private:
    OrderedReactor& reactor_;
  };

  void OnReadDone(bool ok) final {
    const Reaction reaction(*this, &read_asked_);
    ReadDone(ok);
  }
  void OnWriteDone(bool ok) final {
    const Reaction reaction(*this, &write_asked_);
    WriteDone(ok);
  }
  void OnCancel() final {
    const Reaction reaction(*this, &constructed_);
    Cancelled();
  }
  void OnDone() final {
    for (char* edge : {&constructed_, &read_asked_, &write_asked_, &finish_asked_, &reacted_}) {
      Acquire(edge);
    }
    Done();
  }

#if defined(__SANITIZE_THREAD__)
  static void Release(char* edge) { __tsan_release(edge); }
  static void Acquire(char* edge) { __tsan_acquire(edge); }
#else
  static void Release(char* /*edge*/) {}
  static void Acquire(char* /*edge*/) {}
#endif

  // Only their addresses matter: each names one edge of the order for TSan.
  char constructed_ = 0;
  char read_asked_ = 0;
  char write_asked_ = 0;
  char finish_asked_ = 0;
  char reacted_ = 0;
};

}  // namespace oa::grpc_front
