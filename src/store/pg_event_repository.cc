#include "fls/store/pg_event_repository.h"

#include <pqxx/binarystring>
#include <pqxx/nontransaction>
#include <pqxx/stream_to>
#include <pqxx/pqxx>
#include <tuple>

#include "fls/common/hex.h"
#include "fls/common/iso_time.h"
#include "fls/store/batch_archive.h"
#include "fls/store/pg_sql.h"

namespace fls {

pqxx::connection& PgEventRepository::connection() {
  if (connection_ && !connection_->is_open()) connection_.reset();
  if (!connection_) {
    connection_ = std::make_unique<pqxx::connection>(uri_);
  }
  return *connection_;
}

void PgEventRepository::commit(const CommitGroup& group) {
  try {
    auto& conn = connection();
    if (in_doubt_ && !group.events.empty()) {
      pqxx::nontransaction check(conn);
      const auto found = check.exec_params("SELECT 1 FROM events WHERE event_id = $1::uuid",
                                           group.events.front().event_id);
      if (!found.empty()) {  // the earlier attempt did commit; only its reply was lost
        in_doubt_ = false;
        return;
      }
    }
    in_doubt_ = true;
    pqxx::work tx(conn);
    if (group.sidecar) {
      const auto& s = *group.sidecar;
      tx.exec_params("INSERT INTO sidecars (sidecar_id, service_name, version, batch_public_key, created) "
                     "VALUES ($1, $2, $3, $4, " FLS_SQL_FROM_MILLIS("$5") ") ON CONFLICT DO NOTHING",
                     s.sidecar_id, s.service_name, s.version, s.batch_public_key_hex, s.created_ms);
    }
    if (!group.new_batches.empty()) {
      // COPY, like the events: one round trip for every batch the group opens or closes.
      pqxx::stream_to copy(tx, "batches",
                           std::vector<std::string>{"batch_id", "sidecar_id", "data", "signature", "created"});
      for (const auto& b : group.new_batches) {
        const bool open = b.data.empty();  // an open batch has no data, signature or time yet
        const std::string created = open ? std::string() : format_iso_millis(b.created_ms);
        copy << std::make_tuple(b.batch_id, b.sidecar_id, open ? nullptr : b.data.c_str(),
                                open ? nullptr : b.signature.c_str(), open ? nullptr : created.c_str());
      }
      copy.complete();
    }
    if (!group.events.empty()) {
      pqxx::stream_to copy(tx, "events",
                           std::vector<std::string>{"event_id", "sidecar_id", "batch_id", "sequence",
                                                    "message", "signature", "created"});
      std::string message_hex;
      for (const auto& e : group.events) {
        message_hex = "\\x";
        message_hex += to_hex(reinterpret_cast<const std::uint8_t*>(e.payload.data()), e.payload.size());
        copy << std::make_tuple(e.event_id, e.sidecar_id, e.batch_id, e.sequence, message_hex,
                                e.signature, format_iso_millis(e.created_ms));
      }
      copy.complete();
    }
    for (const auto& b : group.closed_batches) {
      tx.exec_params("UPDATE batches SET sidecar_id = $2, data = $3, signature = $4, created = "
                     FLS_SQL_FROM_MILLIS("$5") " WHERE batch_id = $1",
                     b.batch_id, b.sidecar_id, b.data, b.signature, b.created_ms);
    }
    for (const auto& b : group.resigned_batches) {
      tx.exec_params("UPDATE batches SET sidecar_id = $2, signature = $3 WHERE batch_id = $1",
                     b.batch_id, b.sidecar_id, b.signature);
    }
    if (!group.acknowledged.empty()) {
      tx.exec_params("UPDATE batches SET acknowledged = now() WHERE batch_id = ANY($1::uuid[]) AND acknowledged IS NULL",
                     uuid_array_literal(group.acknowledged));
    }
    tx.commit();
    in_doubt_ = false;
  } catch (const pqxx::broken_connection&) {
    connection_.reset();
    throw;
  }
}

std::vector<OpenBatch> PgEventRepository::open_batches() {
  pqxx::read_transaction tx(connection());
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
  pqxx::read_transaction tx(connection());
  const auto rows = tx.exec("SELECT batch_id, sidecar_id, data, signature, " FLS_SQL_TO_MILLIS("created")
                            " FROM batches WHERE acknowledged IS NULL AND data IS NOT NULL "
                            "ORDER BY created, batch_id");
  std::vector<BatchRecord> out;
  out.reserve(rows.size());
  for (const auto& row : rows) {
    out.push_back(BatchRecord{row[0].c_str(), row[1].c_str(), row[2].c_str(), row[3].c_str(),
                              row[4].as<EpochMillis>()});
  }
  return out;
}

}  // namespace fls
