#pragma once
// Typed reading of environment variables; every failure names the variable.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>

namespace fls {

// A bad or missing setting. what() is one line that starts with the variable's name.
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Looks a variable up; nullopt when unset. Tests pass a map, main passes getenv.
using EnvLookup = std::function<std::optional<std::string>(const std::string& name)>;
EnvLookup process_environment();

class EnvReader {
 public:
  explicit EnvReader(EnvLookup lookup) : lookup_(std::move(lookup)) {}

  std::string text(const std::string& name, const std::string& fallback) const;
  std::string required_text(const std::string& name) const;
  std::optional<std::string> optional_text(const std::string& name) const;
  std::uint16_t port(const std::string& name, std::uint16_t fallback) const;
  // An integer in [min, max].
  std::int64_t integer(const std::string& name, std::int64_t fallback, std::int64_t min, std::int64_t max) const;
  // Milliseconds, at least 1.
  std::chrono::milliseconds millis(const std::string& name, std::int64_t fallback) const;
  bool boolean(const std::string& name, bool fallback) const;
  // <prefix>_LOG_LEVEL (default info) and <prefix>_LOG_FORMAT (default text), checked.
  void log_settings(const std::string& prefix, std::string& level, std::string& format) const;

 private:
  EnvLookup lookup_;
};

}  // namespace fls
