#include "tracer/traced_image.h"

namespace leakscope {

const char* origin_name(Origin origin) {
  switch (origin) {
    case Origin::Pid: return "pid";
    case Origin::Command: return "command";
    case Origin::Child: return "child";
    case Origin::Exec: return "exec";
    case Origin::Host: return "host";
  }
  return "pid";
}

const char* end_name(End end) {
  switch (end) {
    case End::None: return "";
    case End::Exit: return "exit";
    case End::Exec: return "exec";
    case End::Detach: return "detach";
  }
  return "";
}

}  // namespace leakscope
