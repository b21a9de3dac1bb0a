#include "fls/store/pg_event_repository.h"

#include <pqxx/pqxx>
#include <stdexcept>
#include <string_view>

#include "fls/pg/connection_policy.h"
#include "fls/pg/pg_sql.h"
#include "fls/store/batch_archive.h"

namespace fls {

template <typename Step>
auto PgGroupSession::on_session(Step step) {
  try {
    if (!session_) session_ = std::make_unique<PqSession>(uri_);
    return step(*session_);
  } catch (...) {
    session_.reset();
    throw;
  }
}

template <typename Step>
GroupOutcome PgGroupSession::attempt(Step step) {
  try {
    return on_session(step);
  } catch (const std::exception& e) {
    return GroupOutcome::failed(e.what());
  }
}

GroupOutcome PgGroupSession::begin(const CommitGroup& group) {
  return attempt([&](PqSession& db) {
    if (in_doubt_ && !group.events.empty()) {
      const auto found =
          db.exec("SELECT 1 FROM events WHERE event_id = $1::uuid", {group.events.front().event_id.c_str()});
      if (PQntuples(found.get()) != 0) {  // the earlier attempt did commit; only its reply was lost
        in_doubt_ = false;
        return GroupOutcome::already_committed();
      }
    }
    in_doubt_ = true;
    db.exec("BEGIN");
    if (group.sidecar) {
      const auto& s = *group.sidecar;
      const std::string created = std::to_string(s.created_ms);
      db.exec(
          "INSERT INTO sidecars (sidecar_id, service_name, version, batch_public_key, created) "
          "VALUES ($1, $2, $3, $4, " FLS_SQL_FROM_MILLIS("$5") ") ON CONFLICT DO NOTHING",
          {s.sidecar_id.c_str(), s.service_name.c_str(), s.version.c_str(), s.batch_public_key_hex.c_str(),
           created.c_str()});
    }
    if (!group.new_batches.empty()) {
      db.copy_binary("batches (batch_id, sidecar_id, data, signature, created)", [&](BinaryCopyWriter& out) {
        for (const auto& b : group.new_batches) {
          out.row(5);
          out.uuid(b.batch_id);
          out.uuid(b.sidecar_id);
          if (b.data.empty()) {  // open: no data, signature or time yet
            out.null();
            out.null();
            out.null();
          } else {
            out.bytes(b.data);
            out.bytes(b.signature);
            out.timestamptz(b.created_ms);
          }
        }
      });
    }
    if (!group.events.empty()) {
      db.copy_binary("events (event_id, sidecar_id, batch_id, sequence, message, signature, created)",
                     [&](BinaryCopyWriter& out) {
                       for (const auto& e : group.events) {
                         out.row(7);
                         out.uuid(e.event_id);
                         out.uuid(e.sidecar_id);
                         out.uuid(e.batch_id);
                         out.int8(e.sequence);
                         out.bytes(e.payload);
                         out.bytes(e.signature);
                         out.timestamptz(e.created_ms);
                       }
                     });
    }
    return GroupOutcome::open();
  });
}

GroupOutcome PgGroupSession::commit(const CommitGroup& group) {
  return attempt([&](PqSession& db) {
    for (const auto& b : group.closed_batches) {
      const std::string created = std::to_string(b.created_ms);
      const auto updated =
          db.exec("UPDATE batches SET sidecar_id = $2, data = $3, signature = $4, created = " FLS_SQL_FROM_MILLIS(
                      "$5") " WHERE batch_id = $1",
                  {b.batch_id.c_str(), b.sidecar_id.c_str(), b.data.c_str(), b.signature.c_str(), created.c_str()});
      // The group that opened the batch is committed before this one changes it. Were its row
      // missing anyway, the batch would vanish without a trace: the group is not committed,
      // and the writer keeps retrying it and saying why.
      if (std::string_view(PQcmdTuples(updated.get())) != "1") {
        throw std::logic_error("batch " + b.batch_id + " is closed but its row is not in the database");
      }
    }
    for (const auto& b : group.resigned_batches) {
      db.exec("UPDATE batches SET sidecar_id = $2, signature = $3 WHERE batch_id = $1",
              {b.batch_id.c_str(), b.sidecar_id.c_str(), b.signature.c_str()});
    }
    if (!group.acknowledged.empty()) {
      const std::string ids = uuid_array_literal(group.acknowledged);
      db.exec("UPDATE batches SET acknowledged = now() WHERE batch_id = ANY($1::uuid[]) AND acknowledged IS NULL",
              {ids.c_str()});
    }
    db.exec("COMMIT");
    in_doubt_ = false;
    return GroupOutcome::committed();
  });
}

void PgGroupSession::check_writable() {
  // A kept connection may have been closed while idle (a restart, a pooler's timeout): that
  // alone is no outage, so a failure counts only if a new connection fails too.
  const bool reused = session_ != nullptr;
  for (int attempt = 0;; ++attempt) {
    try {
      on_session([](PqSession& db) {
        const auto standby = db.exec("SELECT pg_is_in_recovery()");
        if (std::string_view(PQgetvalue(standby.get(), 0, 0)) == "t") {
          throw std::runtime_error("the database is a read-only standby");
        }
      });
      return;
    } catch (...) {
      if (!reused || attempt > 0) throw;
    }
  }
}

std::unique_ptr<GroupSession> PgEventRepository::open_session() { return std::make_unique<PgGroupSession>(uri_); }

// Recovery reads run once per registration, on a connection of their own.
std::vector<OpenBatch> PgEventRepository::open_batches() {
  pqxx::connection conn(with_connection_policy(uri_));
  pqxx::read_transaction tx(conn);
  std::vector<std::string> ids;
  for (const auto& row : tx.exec("SELECT b.batch_id FROM batches b JOIN sidecars s ON s.sidecar_id = b.sidecar_id "
                                 "WHERE b.data IS NULL ORDER BY s.created, b.batch_id")) {
    ids.push_back(row[0].c_str());
  }
  auto rows = rows_from_events(tx, ids);
  std::vector<OpenBatch> out;
  for (const auto& id : ids) {
    if (auto it = rows.find(id); it != rows.end()) out.push_back(OpenBatch{id, std::move(it->second)});
  }
  return out;
}

std::vector<BatchRecord> PgEventRepository::unacknowledged_batches() {
  pqxx::connection conn(with_connection_policy(uri_));
  pqxx::read_transaction tx(conn);
  const auto rows = tx.exec("SELECT batch_id, sidecar_id, data, signature, " FLS_SQL_TO_MILLIS(
      "created") " FROM batches WHERE acknowledged IS NULL AND data IS NOT NULL "
                 "ORDER BY created, batch_id");
  std::vector<BatchRecord> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    out.push_back(
        BatchRecord{row[0].c_str(), row[1].c_str(), row[2].c_str(), row[3].c_str(), row[4].as<EpochMillis>()});
  }
  return out;
}

}  // namespace fls
