// Reads a process's signal dispositions from the kernel (bpf/signals.bpf.c):
// its own small BPF object, loaded on the first query (never at tracer
// start), with a task iterator attached for one query and detached after.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

struct leakscope_signals;  // the generated skeleton

namespace leakscope {

class SignalReader {
 public:
  explicit SignalReader(std::string btf_path) : btf_path_(std::move(btf_path)) {}
  ~SignalReader();
  SignalReader(const SignalReader&) = delete;
  SignalReader& operator=(const SignalReader&) = delete;

  // The handler installed for `signo` in process `pid`: 0 SIG_DFL, 1
  // SIG_IGN, else its user address; nullopt when it cannot be read (no
  // such process, signo out of range, the object did not load). Never
  // throws.
  std::optional<uint64_t> handler(pid_t pid, int signo);

 private:
  bool load();  // under mutex_

  struct SkelDeleter {
    void operator()(struct ::leakscope_signals* skel) const;
  };
  std::string btf_path_;
  std::mutex mutex_;
  std::unique_ptr<struct ::leakscope_signals, SkelDeleter> skel_;
  bool load_failed_ = false;  // tried once and failed: not retried
};

}  // namespace leakscope
