#pragma once
// Process-wide logging set-up: spdlog to standard output.
#include <string_view>

namespace fls {

// Accepts spdlog's level names (trace, debug, info, warn, error, critical, off), plus
// "warning" and "fatal" as the original sidecar's operators wrote them.
bool is_log_level(std::string_view name);

// "text" (a readable line) or "json" (one object per line: time, level, message).
bool is_log_format(std::string_view name);

// Installs the default logger writing to stdout with the given level and format.
void init_logging(std::string_view level, std::string_view format = "text");

}  // namespace fls
