#include "fls/kms_server/kms_db.h"

#include <set>

#include <pqxx/pqxx>

#include "fls/store/pg_sql.h"

namespace fls::kms {
namespace {

pqxx::binarystring binary(const std::vector<std::uint8_t>& bytes) {
  return pqxx::binarystring(bytes.data(), bytes.size());
}

std::vector<std::uint8_t> bytes_of(const pqxx::field& field) {
  const pqxx::binarystring value(field);
  return std::vector<std::uint8_t>(value.data(), value.data() + value.size());
}

Instant instant_from_micros(std::int64_t micros) {
  std::int64_t seconds = micros / 1'000'000;
  std::int64_t rest = micros % 1'000'000;
  if (rest < 0) {
    rest += 1'000'000;
    --seconds;
  }
  return Instant{seconds, static_cast<std::int32_t>(rest * 1000)};
}

void record_status(pqxx::work& tx, const std::string& sidecar_id, const std::string& status) {
  tx.exec_params("INSERT INTO kms_sidecar_status_history (sidecar_id, status) VALUES ($1, $2)", sidecar_id, status);
}

std::optional<SealedKeys> keys_from(const pqxx::result& rows) {
  if (rows.empty()) return std::nullopt;
  return SealedKeys{rows[0][0].c_str(), bytes_of(rows[0][1]), bytes_of(rows[0][2]), bytes_of(rows[0][3])};
}

}  // namespace

std::size_t terminate_all_open(pqxx::connection& c) {
  pqxx::work tx(c);
  const auto rows = tx.exec(
      "UPDATE kms_sidecars SET status = 'terminated' WHERE status IN ('challenged', 'registered') RETURNING sidecar_id");
  for (const auto& row : rows) record_status(tx, row[0].c_str(), "terminated");
  tx.commit();
  return rows.size();
}

bool insert_sidecar(pqxx::connection& c, const std::string& sidecar_id, const std::string& service_name,
                    const SealedKeys& keys) {
  pqxx::work tx(c);
  const auto inserted = tx.exec_params(
      "INSERT INTO kms_sidecars (sidecar_id, service_name, status) VALUES ($1, $2, 'challenged') "
      "ON CONFLICT DO NOTHING RETURNING sidecar_id",
      sidecar_id, service_name);
  if (inserted.empty()) return false;
  tx.exec_params("INSERT INTO kms_keys (sidecar_id, row_key_sealed, batch_key_sealed, batch_public_key) "
                 "VALUES ($1, $2, $3, $4)",
                 sidecar_id, binary(keys.row_key_sealed), binary(keys.batch_key_sealed), binary(keys.batch_public_key));
  record_status(tx, sidecar_id, "challenged");
  tx.commit();
  return true;
}

void set_status(pqxx::connection& c, const std::string& sidecar_id, const std::string& status) {
  pqxx::work tx(c);
  tx.exec_params("UPDATE kms_sidecars SET status = $2 WHERE sidecar_id = $1", sidecar_id, status);
  record_status(tx, sidecar_id, status);
  tx.commit();
}

std::vector<SidecarRow> list_sidecars(pqxx::connection& c) {
  pqxx::read_transaction tx(c);
  std::vector<SidecarRow> out;
  for (const auto& row : tx.exec("SELECT sidecar_id, service_name, status FROM kms_sidecars ORDER BY created, sidecar_id")) {
    out.push_back(SidecarRow{row[0].c_str(), row[1].c_str(), row[2].c_str()});
  }
  return out;
}

std::optional<SealedKeys> any_keys(pqxx::connection& c) {
  pqxx::read_transaction tx(c);
  return keys_from(tx.exec("SELECT sidecar_id, row_key_sealed, batch_key_sealed, batch_public_key FROM kms_keys LIMIT 1"));
}

std::optional<SealedKeys> keys_of(pqxx::connection& c, const std::string& sidecar_id) {
  pqxx::read_transaction tx(c);
  return keys_from(tx.exec_params(
      "SELECT sidecar_id, row_key_sealed, batch_key_sealed, batch_public_key FROM kms_keys WHERE sidecar_id = $1",
      sidecar_id));
}

std::vector<bool> insert_batches(pqxx::connection& c, const std::vector<NewBatch>& batches) {
  // One statement for all of them: the rows travel as one JSON array, which needs no quoting
  // of our own whatever the signatures contain.
  // An id repeated within the list is sent once, its first occurrence, so which signature is
  // stored never depends on the order PostgreSQL reads the rows in.
  nlohmann::json rows = nlohmann::json::array();
  std::set<std::string> listed;
  for (const auto& b : batches) {
    if (!listed.insert(b.batch_id).second) continue;
    rows.push_back({{"batch_id", b.batch_id}, {"sidecar_id", b.sidecar_id}, {"signature", b.signature}});
  }
  pqxx::work tx(c);
  const auto result = tx.exec_params(
      "INSERT INTO kms_batches (batch_id, sidecar_id, signature) "
      "SELECT batch_id, sidecar_id, signature FROM json_to_recordset($1::json) "
      "AS r(batch_id uuid, sidecar_id uuid, signature text) "
      "ON CONFLICT DO NOTHING RETURNING batch_id",
      rows.dump());
  tx.commit();
  std::set<std::string> inserted;
  for (const auto& row : result) inserted.insert(row[0].c_str());
  std::vector<bool> out;
  out.reserve(batches.size());
  for (const auto& b : batches) out.push_back(inserted.erase(b.batch_id) != 0);  // a repeat finds it gone
  return out;
}

std::optional<KnownBatch> find_batch(pqxx::connection& c, const std::string& batch_id) {
  pqxx::read_transaction tx(c);
  const auto rows = tx.exec_params("SELECT batch_id, sidecar_id, signature, " FLS_SQL_TO_MILLIS("received")
                                   " FROM kms_batches WHERE batch_id = $1",
                                   batch_id);
  if (rows.empty()) return std::nullopt;
  return KnownBatch{rows[0][0].c_str(), rows[0][1].c_str(), rows[0][2].c_str(), rows[0][3].as<EpochMillis>()};
}

std::vector<std::string> batches_in_window(pqxx::connection& c, const std::string& service, const Instant& start,
                                           const Instant& end) {
  pqxx::read_transaction tx(c);
  std::vector<std::string> out;
  for (const auto& row : tx.exec_params(
           "SELECT b.batch_id FROM kms_batches b JOIN kms_sidecars s ON s.sidecar_id = b.sidecar_id "
           "WHERE s.service_name = $1 AND b.received BETWEEN " FLS_SQL_FROM_MICROS("$2") " AND " FLS_SQL_FROM_MICROS("$3")
           " ORDER BY b.received, b.batch_id",
           service, start.micros_ceil(), end.micros_floor())) {
    out.push_back(row[0].c_str());
  }
  return out;
}

void insert_healthcheck(pqxx::connection& c, const HealthcheckRow& row) {
  pqxx::work tx(c);
  tx.exec_params("INSERT INTO kms_healthchecks (healthcheck_id, sidecar_id, level, created) VALUES ($1, $2, $3, "
                 FLS_SQL_FROM_MILLIS("$4") ")",
                 row.healthcheck_id, row.sidecar_id, row.level, row.created_ms);
  tx.commit();
}

bool complete_healthcheck(pqxx::connection& c, const std::string& healthcheck_id, const nlohmann::json& response) {
  pqxx::work tx(c);
  const auto updated = tx.exec_params(
      "UPDATE kms_healthchecks SET response = $2::jsonb, completed = clock_timestamp() "
      "WHERE healthcheck_id = $1 AND completed IS NULL RETURNING healthcheck_id",
      healthcheck_id, response.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  tx.commit();
  return !updated.empty();
}

std::optional<HealthcheckRow> find_healthcheck(pqxx::connection& c, const std::string& healthcheck_id) {
  pqxx::read_transaction tx(c);
  const auto rows = tx.exec_params("SELECT healthcheck_id, sidecar_id, level, " FLS_SQL_TO_MILLIS("created")
                                   ", response::text FROM kms_healthchecks WHERE healthcheck_id = $1",
                                   healthcheck_id);
  if (rows.empty()) return std::nullopt;
  HealthcheckRow out{rows[0][0].c_str(), rows[0][1].c_str(), rows[0][2].c_str(), rows[0][3].as<EpochMillis>(), {}};
  if (!rows[0][4].is_null()) out.response = nlohmann::json::parse(rows[0][4].c_str(), nullptr, false);
  return out;
}

void insert_inquiry(pqxx::connection& c, const InquiryRow& row) {
  pqxx::work tx(c);
  tx.exec_params("INSERT INTO kms_inquiries (inquiry_id, service_name, start_time, end_time, created, asked) "
                 "VALUES ($1, $2, " FLS_SQL_FROM_MICROS("$3") ", " FLS_SQL_FROM_MICROS("$4") ", "
                 FLS_SQL_FROM_MILLIS("$5") ", $6::uuid[])",
                 row.inquiry_id, row.service_name, row.start.micros_floor(), row.end.micros_floor(), row.created_ms,
                 uuid_array_literal(row.asked));
  tx.commit();
}

void insert_inquiry_response(pqxx::connection& c, const std::string& inquiry_id, const InquiryResponseRow& row) {
  pqxx::work tx(c);
  tx.exec_params("INSERT INTO kms_inquiry_responses (inquiry_id, sidecar_id, batch_id, body, total, item) "
                 "VALUES ($1, $2, $3, $4, $5, $6)",
                 inquiry_id, row.sidecar_id, row.batch_id ? row.batch_id->c_str() : nullptr,
                 row.batch_id ? row.body.c_str() : nullptr, row.total, row.item);
  tx.commit();
}

void complete_inquiry(pqxx::connection& c, const std::string& inquiry_id) {
  pqxx::work tx(c);
  tx.exec_params("UPDATE kms_inquiries SET completed = clock_timestamp() WHERE inquiry_id = $1 AND completed IS NULL",
                 inquiry_id);
  tx.commit();
}

std::optional<InquiryRow> find_inquiry(pqxx::connection& c, const std::string& inquiry_id) {
  pqxx::read_transaction tx(c);
  const auto rows = tx.exec_params(
      "SELECT inquiry_id, service_name, " FLS_SQL_TO_MICROS("start_time") ", " FLS_SQL_TO_MICROS("end_time") ", "
      FLS_SQL_TO_MILLIS("created") ", array_to_string(asked, ','), completed IS NOT NULL "
      "FROM kms_inquiries WHERE inquiry_id = $1",
      inquiry_id);
  if (rows.empty()) return std::nullopt;
  InquiryRow out{rows[0][0].c_str(),
                 rows[0][1].c_str(),
                 instant_from_micros(rows[0][2].as<std::int64_t>()),
                 instant_from_micros(rows[0][3].as<std::int64_t>()),
                 rows[0][4].as<EpochMillis>(),
                 {},
                 rows[0][6].as<bool>()};
  std::string asked = rows[0][5].c_str();
  for (std::size_t start = 0; start < asked.size();) {
    const auto comma = asked.find(',', start);
    out.asked.push_back(asked.substr(start, comma - start));
    start = comma == std::string::npos ? asked.size() : comma + 1;
  }
  return out;
}

std::vector<InquiryResponseRow> inquiry_responses(pqxx::connection& c, const std::string& inquiry_id) {
  pqxx::read_transaction tx(c);
  std::vector<InquiryResponseRow> out;
  for (const auto& row : tx.exec_params("SELECT sidecar_id, batch_id, body, total, item FROM kms_inquiry_responses "
                                        "WHERE inquiry_id = $1 ORDER BY received, item",
                                        inquiry_id)) {
    out.push_back(InquiryResponseRow{row[0].c_str(),
                                     row[1].is_null() ? std::nullopt : std::optional<std::string>(row[1].c_str()),
                                     row[2].is_null() ? std::string() : std::string(row[2].c_str()),
                                     row[3].as<std::int64_t>(), row[4].as<std::int64_t>()});
  }
  return out;
}

}  // namespace fls::kms
