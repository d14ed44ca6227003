// target/node_process: what leakscope reads of a Node.js process — its
// cmdline and environ (NODE_OPTIONS, inspector options), /proc/PID/net/tcp
// and its fd links — cut from one input at "\n---\n".
#include "fuzz_input.h"
#include "target/node_process.h"
#include "target/process.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view rest = leakscope::fuzz::as_text(data, size);
  std::string_view cmdline = leakscope::fuzz::next_part(&rest, "\n---\n");
  std::string_view environ_text = leakscope::fuzz::next_part(&rest, "\n---\n");
  std::string_view tcp = leakscope::fuzz::next_part(&rest, "\n---\n");
  std::string_view link = rest;

  auto args = leakscope::split_nul(cmdline);
  auto node_options = leakscope::environ_value(environ_text, "NODE_OPTIONS");
  auto options = leakscope::parse_inspector_options(args, node_options.value_or(""));
  (void)leakscope::split_node_options(environ_text);
  if (!args.empty()) {
    (void)leakscope::is_node_executable_name(args[0]);
    (void)leakscope::parse_host_port(args.back());
  }
  uint16_t port = options.port.value_or(9229);
  (void)leakscope::parse_proc_net_tcp(tcp, port);
  (void)leakscope::parse_proc_net_tcp(tcp, 0);
  (void)leakscope::parse_socket_link(link);
  (void)leakscope::parse_host_port(link);
  return 0;
}
