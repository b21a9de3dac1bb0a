#pragma once
// Process-wide logging set-up: spdlog to standard output.
#include <string>
#include <string_view>

namespace fls {

// Accepts spdlog's level names (trace, debug, info, warn, error, critical, off), plus
// "warning" and "fatal" as the original sidecar's operators wrote them.
bool is_log_level(std::string_view name);

// "text" (a readable line) or "json" (one object per line: time, level, message).
bool is_log_format(std::string_view name);

// Fields that JSON log lines carry besides the message, so pipelines can filter on them.
// A LogField applies to what this thread logs while it lives; a process field (the current
// sidecar id) to every line from then on. Text lines ignore both: the message names them.
class LogField {
 public:
  LogField(const char* name, std::string value);
  ~LogField();
  LogField(const LogField&) = delete;
  LogField& operator=(const LogField&) = delete;
};
void set_process_log_field(const char* name, std::string value);

// Installs the default logger writing to stdout with the given level and format.
void init_logging(std::string_view level, std::string_view format = "text");

}  // namespace fls
