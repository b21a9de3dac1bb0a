#include "fls/common/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <string>

namespace fls {
namespace {

spdlog::level::level_enum to_level(std::string_view name) {
  if (name == "warning") return spdlog::level::warn;
  if (name == "fatal") return spdlog::level::critical;
  return spdlog::level::from_str(std::string(name));
}

}  // namespace

bool is_log_level(std::string_view name) {
  // from_str answers "off" for names it does not know.
  return name == "off" || to_level(name) != spdlog::level::off;
}

void init_logging(std::string_view level) {
  auto logger = spdlog::stdout_logger_mt("fls");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  logger->set_level(to_level(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace fls
