#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "alerts/sinks.h"

namespace leakscope {

namespace {

class StdoutSink : public Sink {
 public:
  std::string name() const override { return "stdout"; }

  bool deliver(const AlertRecord& record, std::string* error) override {
    std::string line = "ALERT " + std::string(alert_state_name(record.state)) + ": " +
                       record.summary() + " [" + record.fingerprint + "]\n";
    // One write() per line so that lines from other threads never interleave.
    size_t done = 0;
    while (done < line.size()) {
      ssize_t n = ::write(STDOUT_FILENO, line.data() + done, line.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        if (error) *error = std::string("stdout: ") + std::strerror(errno);
        return false;
      }
      done += static_cast<size_t>(n);
    }
    return true;
  }
};

}  // namespace

std::unique_ptr<Sink> make_stdout_sink() { return std::make_unique<StdoutSink>(); }

}  // namespace leakscope
