// Move-only owner of one attached BPF link: detached when destroyed.
#pragma once

#include <bpf/libbpf.h>

#include <utility>

namespace leakscope {

class Link {
 public:
  Link() = default;
  explicit Link(bpf_link* link) : link_(link) {}
  Link(Link&& other) noexcept : link_(std::exchange(other.link_, nullptr)) {}
  Link& operator=(Link&& other) noexcept {
    if (this != &other) {
      reset();
      link_ = std::exchange(other.link_, nullptr);
    }
    return *this;
  }
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;
  ~Link() { reset(); }

  void reset() {
    if (link_) bpf_link__destroy(std::exchange(link_, nullptr));
  }
  explicit operator bool() const { return link_ != nullptr; }
  bpf_link* get() const { return link_; }

 private:
  bpf_link* link_ = nullptr;
};

}  // namespace leakscope
