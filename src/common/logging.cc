#include "fls/common/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace fls {
namespace {

spdlog::level::level_enum to_level(std::string_view name) {
  if (name == "warning") return spdlog::level::warn;
  if (name == "fatal") return spdlog::level::critical;
  return spdlog::level::from_str(std::string(name));
}

using Fields = std::vector<std::pair<const char*, std::string>>;
thread_local Fields scoped_fields;
std::mutex process_fields_mutex;
Fields process_fields;

std::string quoted(const std::string& text) {
  return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The message as a quoted JSON string, then the fields, so log pipelines can parse every line.
class JsonMessageFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string out = quoted(std::string(msg.payload.data(), msg.payload.size()));
    auto append = [&out](const Fields& fields) {
      for (const auto& [name, value] : fields) out += std::string(",\"") + name + "\":" + quoted(value);
    };
    {
      std::lock_guard lock(process_fields_mutex);
      append(process_fields);
    }
    append(scoped_fields);
    dest.append(out.data(), out.data() + out.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessageFlag>(); }
};

}  // namespace

LogField::LogField(const char* name, std::string value) { scoped_fields.emplace_back(name, std::move(value)); }

LogField::~LogField() { scoped_fields.pop_back(); }

void set_process_log_field(const char* name, std::string value) {
  std::lock_guard lock(process_fields_mutex);
  for (auto& field : process_fields) {
    if (std::string_view(field.first) == name) {
      field.second = std::move(value);
      return;
    }
  }
  process_fields.emplace_back(name, std::move(value));
}

bool is_log_format(std::string_view name) { return name == "text" || name == "json"; }

bool is_log_level(std::string_view name) {
  // from_str answers "off" for names it does not know.
  return name == "off" || to_level(name) != spdlog::level::off;
}

void init_logging(std::string_view level, std::string_view format) {
  auto logger = spdlog::stdout_logger_mt("fls");
  if (format == "json") {
    auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","pid":%P,"message":%*})");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  }
  logger->set_level(to_level(level));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
}

}  // namespace fls
