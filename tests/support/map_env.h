#pragma once
// An EnvReader over a fixed map instead of the process environment.
#include <map>
#include <optional>
#include <string>

#include "fls/config/env.h"

namespace fls::test {

using Env = std::map<std::string, std::string>;

inline EnvReader map_env(Env env) {
  return EnvReader([env = std::move(env)](const std::string& name) -> std::optional<std::string> {
    const auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  });
}

}  // namespace fls::test
