#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "alerts/sinks.h"
#include "core/errors.h"

namespace leakscope {

namespace {

int open_append(const std::string& path) {
  return ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0644);
}

class JsonlSink : public Sink {
 public:
  JsonlSink(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~JsonlSink() override {
    if (fd_ >= 0) ::close(fd_);
  }
  JsonlSink(const JsonlSink&) = delete;
  JsonlSink& operator=(const JsonlSink&) = delete;

  std::string name() const override { return "jsonl:" + path_; }

  bool deliver(const AlertRecord& record, std::string* error) override {
    if (fd_ < 0) fd_ = open_append(path_);  // reopen after an earlier failure
    if (fd_ < 0) return fail(error, "open");
    std::string line = alert_to_json(record) + "\n";
    size_t done = 0;
    while (done < line.size()) {
      ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        bool r = fail(error, "write");
        ::close(fd_);
        fd_ = -1;
        return r;
      }
      done += static_cast<size_t>(n);
    }
    return true;
  }

 private:
  bool fail(std::string* error, const char* what) {
    if (error) *error = std::string(what) + " " + path_ + ": " + std::strerror(errno);
    return false;
  }

  std::string path_;
  int fd_ = -1;
};

}  // namespace

std::unique_ptr<Sink> make_jsonl_sink(const std::string& path) {
  int fd = open_append(path);
  if (fd < 0)
    throw FatalError(ExitCode::Usage,
                     "alert sink jsonl:" + path + ": cannot open: " + std::strerror(errno));
  return std::make_unique<JsonlSink>(path, fd);
}

}  // namespace leakscope
