#pragma once
// A schema migration compiled into the executable from migrations/<set>/<name>.sql.
#include <string>
#include <vector>

namespace fls {

struct Migration {
  std::string name;  // file name without .sql; applied in name order
  std::string sql;
};

namespace migrations {
const std::vector<Migration>& sidecar();
const std::vector<Migration>& kms();
}  // namespace migrations

}  // namespace fls
