#pragma once
// The command line both executables share: [migrate | --help | --version], then configuration
// from the environment.
#include <functional>
#include <optional>
#include <string>

#include "fls/config/env.h"

namespace fls {

struct StartUp {
  bool migrate_only = false;
  std::optional<int> exit_code;  // set: print nothing more, exit with it (help, version, bad input)
};

// Answers --help and --version, rejects unknown arguments, then runs `load_config` on the
// process environment, printing a ConfigError as one line on stderr (exit code 2).
StartUp start_up(int argc, char** argv, const std::string& program, const char* usage,
                 const std::function<void(const EnvReader&)>& load_config);

}  // namespace fls
