// The sink implementations behind make_sink (internal to alerts/).
#pragma once

#include <memory>
#include <string>

#include "alerts/dispatcher.h"

namespace leakscope {

std::unique_ptr<Sink> make_stdout_sink();
// Opens FILE for appending now; throws FatalError(Usage) when it cannot.
std::unique_ptr<Sink> make_jsonl_sink(const std::string& path);
// URL: "http://HOST[:PORT][/PREFIX]"; throws FatalError(Usage) when malformed.
std::unique_ptr<Sink> make_alertmanager_sink(const std::string& url);
// Socket: $LEAKSCOPE_JOURNAL_SOCKET (read now) or /run/systemd/journal/socket.
std::unique_ptr<Sink> make_journald_sink();
std::unique_ptr<Sink> make_exec_sink(const std::string& command);

// Fixed MESSAGE_ID of leakscope leak alerts in the journal.
inline constexpr const char* kJournalMessageId = "5c1e0a8f3b6d4e27a9f04d6b2c8e1f73";

}  // namespace leakscope
