#pragma once
// EventRepository on PostgreSQL, with the schema of migrations/sidecar: groups are written
// with binary COPY on a libpq session (also used by check_writable, on the same thread);
// recovery reads use libpqxx connections of their own.
#include <memory>
#include <string>

#include "fls/store/event_repository.h"
#include "fls/store/pq_session.h"

namespace fls {

class PgEventRepository final : public EventRepository {
 public:
  // Connects lazily: the first commit, and the first after a failure, (re)connect.
  explicit PgEventRepository(std::string uri) : uri_(std::move(uri)) {}

  void commit(const CommitGroup& group) override;
  void check_writable() override;
  std::vector<OpenBatch> open_batches() override;
  std::vector<BatchRecord> unacknowledged_batches() override;

 private:
  void write_group(PqSession& db, const CommitGroup& group);

  std::string uri_;
  std::unique_ptr<PqSession> session_;
  bool in_doubt_ = false;  // the last commit attempt failed: it may have committed anyway
};

}  // namespace fls
