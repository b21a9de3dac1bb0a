#include "fls/config/env.h"

#include <cerrno>
#include <cstdlib>

#include "fls/common/logging.h"

namespace fls {
namespace {

std::optional<std::int64_t> parse_int(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (errno != 0 || end != text.c_str() + text.size()) return std::nullopt;
  return value;
}

}  // namespace

EnvLookup process_environment() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
}

std::optional<std::string> EnvReader::optional_text(const std::string& name) const {
  auto value = lookup_(name);
  if (value && value->empty()) return std::nullopt;  // an empty value counts as unset
  return value;
}

std::string EnvReader::text(const std::string& name, const std::string& fallback) const {
  return optional_text(name).value_or(fallback);
}

std::string EnvReader::required_text(const std::string& name) const {
  auto value = optional_text(name);
  if (!value) throw ConfigError(name + " is required but not set");
  return *value;
}

std::int64_t EnvReader::integer(const std::string& name, std::int64_t fallback, std::int64_t min,
                                std::int64_t max) const {
  const auto value = optional_text(name);
  if (!value) return fallback;
  const auto parsed = parse_int(*value);
  if (!parsed || *parsed < min || *parsed > max) {
    throw ConfigError(name + " must be a whole number from " + std::to_string(min) + " to " + std::to_string(max) +
                      ", got '" + *value + "'");
  }
  return *parsed;
}

std::uint16_t EnvReader::port(const std::string& name, std::uint16_t fallback) const {
  return static_cast<std::uint16_t>(integer(name, fallback, 1, 65535));
}

std::chrono::milliseconds EnvReader::millis(const std::string& name, std::int64_t fallback) const {
  return std::chrono::milliseconds(integer(name, fallback, 1, 24LL * 3600 * 1000 * 365));
}

bool EnvReader::boolean(const std::string& name, bool fallback) const {
  const auto value = optional_text(name);
  if (!value) return fallback;
  if (*value == "true" || *value == "1") return true;
  if (*value == "false" || *value == "0") return false;
  throw ConfigError(name + " must be true or false, got '" + *value + "'");
}

void EnvReader::log_settings(const std::string& prefix, std::string& level, std::string& format) const {
  level = text(prefix + "_LOG_LEVEL", "info");
  if (!is_log_level(level)) {
    throw ConfigError(prefix + "_LOG_LEVEL must be one of trace, debug, info, warn, error, critical, off; got '" +
                      level + "'");
  }
  format = text(prefix + "_LOG_FORMAT", "text");
  if (!is_log_format(format)) throw ConfigError(prefix + "_LOG_FORMAT must be text or json, got '" + format + "'");
}

}  // namespace fls
