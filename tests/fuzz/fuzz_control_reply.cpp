// control/client + cli/control_replies: the bytes a tracer (or whatever
// listens on the control socket) answers, decoded as `leakscope
// status|report|attach|detach` decode them, then read by what each command
// makes of the reply (returned as text: nothing is printed or written). A
// malformed reply is FatalError, the one-line error a user sees; any other
// exception escapes and is a finding.
#include <string>
#include <vector>

#include "cli/control_replies.h"
#include "control/client.h"
#include "core/errors.h"
#include "fuzz_input.h"

namespace {

using leakscope::FatalError;

template <class Read>
void as_user_would(Read read) {
  try {
    (void)read();
  } catch (const FatalError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  leakscope::BytesReader source(leakscope::fuzz::as_text(data, size));
  leakscope::ClientReply reply;
  try {
    reply = leakscope::read_control_reply(source, "/run/leakscope/fuzz.sock", 60);
  } catch (const FatalError&) {
    return 0;
  }
  as_user_would([&] { return leakscope::status_text(reply.header); });
  as_user_would([&] { return leakscope::status_json_text(reply.header); });
  as_user_would([&] { return leakscope::action_message(reply.header); });
  // `report` as asked with the default format, with several, and with the
  // formats the reply's parts claim to be.
  std::vector<std::string> claimed;
  for (const auto& part : reply.parts) claimed.push_back(part.name);
  for (const std::vector<std::string>& formats :
       {std::vector<std::string>{"text"}, std::vector<std::string>{"json", "pprof"}, claimed})
    as_user_would([&] { return leakscope::report_parts(reply, formats).size(); });
  return 0;
}
