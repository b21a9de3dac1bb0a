#include "fls/config/command_line.h"

#include <iostream>

#include "fls/common/version.h"

namespace fls {

StartUp start_up(int argc, char** argv, const std::string& program, const char* usage,
                 const std::function<void(const EnvReader&)>& load_config) {
  const std::string command = argc > 1 ? argv[1] : "";
  if (command == "--help" || command == "-h") {
    std::cout << usage;
    return {false, 0};
  }
  if (command == "--version") {
    std::cout << program << " " << kVersion << "\n";
    return {false, 0};
  }
  if (!command.empty() && command != "migrate") {
    std::cerr << "unknown argument '" << command << "'\n" << usage;
    return {false, 2};
  }
  try {
    load_config(EnvReader(process_environment()));
  } catch (const ConfigError& e) {
    std::cerr << "configuration error: " << e.what() << "\n";
    return {false, 2};
  }
  return {command == "migrate", std::nullopt};
}

}  // namespace fls
