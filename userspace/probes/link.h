// Move-only owner of one attached BPF link, made by libbpf or by a raw
// BPF_LINK_CREATE (uprobe_multi.h): detached when destroyed.
#pragma once

#include <bpf/libbpf.h>
#include <unistd.h>

#include <utility>

namespace leakscope {

class Link {
 public:
  Link() = default;
  explicit Link(bpf_link* link) : link_(link) {}
  // A link's fd from BPF_LINK_CREATE; closing it detaches the link.
  static Link from_fd(int fd) {
    Link l;
    l.fd_ = fd;
    return l;
  }
  Link(Link&& other) noexcept
      : link_(std::exchange(other.link_, nullptr)), fd_(std::exchange(other.fd_, -1)) {}
  Link& operator=(Link&& other) noexcept {
    if (this != &other) {
      reset();
      link_ = std::exchange(other.link_, nullptr);
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;
  ~Link() { reset(); }

  void reset() {
    if (link_) bpf_link__destroy(std::exchange(link_, nullptr));
    if (fd_ >= 0) ::close(std::exchange(fd_, -1));
  }
  explicit operator bool() const { return link_ != nullptr || fd_ >= 0; }
  // The libbpf link; null for one made by fd.
  bpf_link* get() const { return link_; }

 private:
  bpf_link* link_ = nullptr;
  int fd_ = -1;
};

}  // namespace leakscope
