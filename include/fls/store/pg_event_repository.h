#pragma once
// EventRepository on PostgreSQL, with the schema of migrations/sidecar: each group session
// writes with binary COPY on a libpq session of its own; recovery reads use libpqxx
// connections of their own.
#include <memory>
#include <string>

#include "fls/pg/pq_session.h"
#include "fls/store/event_repository.h"

namespace fls {

class PgGroupSession final : public GroupSession {
 public:
  // Connects lazily: the first use, and the first after a failure, (re)connect.
  explicit PgGroupSession(std::string uri) : uri_(std::move(uri)) {}

  GroupOutcome begin(const CommitGroup& group) override;
  GroupOutcome commit(const CommitGroup& group) override;
  void check_writable() override;

 private:
  // Runs `step` on the session, connecting first if needed; a throw drops the connection, so
  // whatever state it was in (broken, or inside a failed transaction), the retry starts anew.
  template <typename Step>
  auto on_session(Step step);
  // on_session for a step of the data path: its failure is a value.
  template <typename Step>
  GroupOutcome attempt(Step step);

  std::string uri_;
  std::unique_ptr<PqSession> session_;
  bool in_doubt_ = false;  // the last attempt failed after its transaction began: it may have committed
};

class PgEventRepository final : public EventRepository {
 public:
  explicit PgEventRepository(std::string uri) : uri_(std::move(uri)) {}

  std::unique_ptr<GroupSession> open_session() override;
  std::vector<OpenBatch> open_batches() override;
  std::vector<BatchRecord> unacknowledged_batches() override;

 private:
  std::string uri_;
};

}  // namespace fls
