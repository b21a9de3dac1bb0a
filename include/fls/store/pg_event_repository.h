#pragma once
// EventRepository on PostgreSQL (libpqxx), with the schema of migrations/sidecar.
#include <memory>
#include <pqxx/connection>
#include <string>

#include "fls/store/event_repository.h"

namespace fls {

class PgEventRepository final : public EventRepository {
 public:
  // Connects lazily: the first call, and the first after a failure, (re)connect.
  explicit PgEventRepository(std::string uri) : uri_(std::move(uri)) {}

  void commit(const CommitGroup& group) override;
  std::vector<OpenBatch> open_batches() override;
  std::vector<BatchRecord> unacknowledged_batches() override;

 private:
  pqxx::connection& connection();

  std::string uri_;
  std::unique_ptr<pqxx::connection> connection_;
  bool in_doubt_ = false;  // the last commit attempt failed: it may have committed anyway
};

}  // namespace fls
