#include "fls/kms_server/kms_db.h"

#include <set>

#include <pqxx/pqxx>

#include "fls/pg/pg_sql.h"

namespace fls::kms {
namespace {

pqxx::binarystring binary(const std::vector<std::uint8_t>& bytes) {
  return pqxx::binarystring(bytes.data(), bytes.size());
}

std::vector<std::uint8_t> bytes_of(const pqxx::field& field) {
  const pqxx::binarystring value(field);
  return std::vector<std::uint8_t>(value.data(), value.data() + value.size());
}

void record_status(pqxx::work& tx, const std::string& sidecar_id, const std::string& status) {
  tx.exec_params("INSERT INTO kms_sidecar_status_history (sidecar_id, status) VALUES ($1, $2)", sidecar_id, status);
}

std::optional<SealedKeys> keys_from(const pqxx::result& rows) {
  if (rows.empty()) return std::nullopt;
  return SealedKeys{rows[0][0].c_str(),
                    bytes_of(rows[0][1]),
                    bytes_of(rows[0][2]),
                    bytes_of(rows[0][3]),
                    rows[0].size() > 4 ? rows[0][4].c_str() : "",
                    rows[0].size() > 5 ? rows[0][5].c_str() : ""};
}

std::optional<std::string> optional_text(const pqxx::field& field) {
  return field.is_null() ? std::nullopt : std::optional<std::string>(field.c_str());
}

}  // namespace

std::size_t terminate_all_open(pqxx::connection& c) {
  pqxx::work tx(c);
  const auto rows = tx.exec(
      "UPDATE kms_sidecars SET status = 'terminated' WHERE status IN ('challenged', 'registered') RETURNING "
      "sidecar_id");
  for (const auto& row : rows) record_status(tx, row[0].c_str(), "terminated");
  tx.commit();
  return rows.size();
}

RegistrationResult insert_sidecar(pqxx::connection& c, const NewRegistration& registration,
                                  const RegistrationLimits& limits) {
  pqxx::work tx(c);
  std::optional<std::string> credential_id;
  if (registration.token_hash) {
    // FOR UPDATE: registrations of one credential are counted one at a time.
    const auto found = tx.exec_params(
        "SELECT credential_id, service_name FROM kms_credentials WHERE token_sha256 = $1 AND revoked IS NULL "
        "FOR UPDATE",
        pqxx::binarystring(registration.token_hash->data(), registration.token_hash->size()));
    if (found.empty() || registration.service_name != found[0][1].c_str()) {
      return {RegistrationOutcome::unauthorized, {}};
    }
    credential_id = found[0][0].c_str();
  } else if (registration.credential_required) {
    return {RegistrationOutcome::unauthorized, {}};
  }
  const auto open_counts = tx.exec_params(
      "SELECT count(*), count(*) FILTER (WHERE credential_id IS NOT DISTINCT FROM $1::uuid) FROM kms_sidecars "
      "WHERE status IN ('challenged', 'registered')",
      credential_id ? credential_id->c_str() : nullptr);
  if (open_counts[0][0].as<std::size_t>() >= limits.total) return {RegistrationOutcome::too_many, {}};
  if (open_counts[0][1].as<std::size_t>() >= limits.per_credential) {
    return {RegistrationOutcome::too_many_for_credential, {}};
  }
  const auto& keys = registration.keys;
  const auto inserted = tx.exec_params(
      "INSERT INTO kms_sidecars (sidecar_id, service_name, status, credential_id) VALUES ($1, $2, 'challenged', $3) "
      "ON CONFLICT DO NOTHING RETURNING sidecar_id",
      keys.sidecar_id, registration.service_name, credential_id ? credential_id->c_str() : nullptr);
  if (inserted.empty()) return {RegistrationOutcome::id_exists, {}};
  tx.exec_params(
      "INSERT INTO kms_keys (sidecar_id, row_key_sealed, batch_key_sealed, batch_public_key) "
      "VALUES ($1, $2, $3, $4)",
      keys.sidecar_id, binary(keys.row_key_sealed), binary(keys.batch_key_sealed), binary(keys.batch_public_key));
  record_status(tx, keys.sidecar_id, "challenged");
  tx.commit();
  return {RegistrationOutcome::registered, credential_id.value_or(kOpenScope)};
}

void set_status(pqxx::connection& c, const std::string& sidecar_id, const std::string& status) {
  pqxx::work tx(c);
  tx.exec_params("UPDATE kms_sidecars SET status = $2 WHERE sidecar_id = $1", sidecar_id, status);
  record_status(tx, sidecar_id, status);
  tx.commit();
}

std::vector<SidecarRow> list_sidecars(pqxx::connection& c, std::size_t offset, std::size_t limit) {
  pqxx::read_transaction tx(c);
  std::vector<SidecarRow> out;
  for (const auto& row : tx.exec_params("SELECT sidecar_id, service_name, status, credential_id FROM kms_sidecars "
                                        "ORDER BY created, sidecar_id OFFSET $1 LIMIT $2",
                                        offset, limit + 1)) {
    out.push_back(SidecarRow{row[0].c_str(), row[1].c_str(), row[2].c_str(), optional_text(row[3])});
  }
  return out;
}

std::size_t prune_registrations(pqxx::connection& c, EpochMillis created_before_ms) {
  pqxx::work tx(c);
  const auto pruned = tx.exec_params(
      "SELECT sidecar_id FROM kms_sidecars s WHERE status IN ('terminated', 'suspended') "
      "AND created < " FLS_SQL_FROM_MILLIS("$1") " AND NOT EXISTS (SELECT 1 FROM kms_batches b WHERE b.sidecar_id = s.sidecar_id) "
      "FOR UPDATE",
      created_before_ms);
  if (pruned.empty()) return 0;
  std::vector<std::string> ids;
  for (const auto& row : pruned) ids.emplace_back(row[0].c_str());
  const std::string list = uuid_array_literal(ids);
  for (const char* table : {"kms_healthchecks", "kms_sidecar_status_history", "kms_keys", "kms_sidecars"}) {
    tx.exec_params(std::string("DELETE FROM ") + table + " WHERE sidecar_id = ANY ($1::uuid[])", list);
  }
  tx.commit();
  return ids.size();
}

static CredentialRow credential_from(const pqxx::row& row) {
  CredentialRow out{row[0].c_str(), row[1].c_str(), row[2].c_str(), row[3].as<EpochMillis>(), std::nullopt};
  if (!row[4].is_null()) out.revoked_ms = row[4].as<EpochMillis>();
  return out;
}

#define FLS_CREDENTIAL_COLUMNS \
  "credential_id, service_name, label, " FLS_SQL_TO_MILLIS("created") ", " FLS_SQL_TO_MILLIS("revoked")

void insert_credential(pqxx::connection& c, const CredentialRow& row, const TokenHash& token_hash) {
  pqxx::work tx(c);
  tx.exec_params(
      "INSERT INTO kms_credentials (credential_id, service_name, label, token_sha256, created) "
      "VALUES ($1, $2, $3, $4, " FLS_SQL_FROM_MILLIS("$5") ")",
      row.credential_id, row.service_name, row.label, pqxx::binarystring(token_hash.data(), token_hash.size()),
      row.created_ms);
  tx.commit();
}

std::vector<CredentialRow> list_credentials(pqxx::connection& c, std::size_t offset, std::size_t limit) {
  pqxx::read_transaction tx(c);
  std::vector<CredentialRow> out;
  for (const auto& row : tx.exec_params("SELECT " FLS_CREDENTIAL_COLUMNS " FROM kms_credentials "
                                        "ORDER BY created, credential_id OFFSET $1 LIMIT $2",
                                        offset, limit + 1)) {
    out.push_back(credential_from(row));
  }
  return out;
}

std::optional<CredentialRow> revoke_credential(pqxx::connection& c, const std::string& credential_id) {
  pqxx::work tx(c);
  const auto rows = tx.exec_params(
      "UPDATE kms_credentials SET revoked = coalesce(revoked, clock_timestamp()) "
      "WHERE credential_id = $1 RETURNING " FLS_CREDENTIAL_COLUMNS,
      credential_id);
  tx.commit();
  if (rows.empty()) return std::nullopt;
  return credential_from(rows[0]);
}

std::optional<CredentialRow> replace_credential_token(pqxx::connection& c, const std::string& credential_id,
                                                      const TokenHash& token_hash) {
  pqxx::work tx(c);
  const auto rows = tx.exec_params(
      "UPDATE kms_credentials SET token_sha256 = $2 "
      "WHERE credential_id = $1 AND revoked IS NULL RETURNING " FLS_CREDENTIAL_COLUMNS,
      credential_id, pqxx::binarystring(token_hash.data(), token_hash.size()));
  tx.commit();
  if (rows.empty()) return std::nullopt;
  return credential_from(rows[0]);
}

std::optional<SealedKeys> any_keys(pqxx::connection& c) {
  pqxx::read_transaction tx(c);
  return keys_from(
      tx.exec("SELECT sidecar_id, row_key_sealed, batch_key_sealed, batch_public_key FROM kms_keys LIMIT 1"));
}

std::optional<SealedKeys> keys_of(pqxx::connection& c, const std::string& sidecar_id) {
  pqxx::read_transaction tx(c);
  return keys_from(
      tx.exec_params("SELECT k.sidecar_id, row_key_sealed, batch_key_sealed, batch_public_key, "
                     "coalesce(s.credential_id, '" +
                         std::string(kOpenScope) +
                         "'), s.service_name "
                         "FROM kms_keys k JOIN kms_sidecars s USING (sidecar_id) WHERE k.sidecar_id = $1",
                     sidecar_id));
}

std::vector<bool> insert_batches(pqxx::connection& c, const std::vector<NewBatch>& batches) {
  // One statement for all of them: the rows travel as one JSON array, which needs no quoting
  // of our own whatever the signatures contain.
  // An id repeated within the list is sent once, its first occurrence, so which signature is
  // stored never depends on the order PostgreSQL reads the rows in.
  nlohmann::json rows = nlohmann::json::array();
  std::set<std::pair<std::string, std::string>> listed;  // (scope, batch id)
  for (const auto& b : batches) {
    if (!listed.emplace(b.scope, b.batch_id).second) continue;
    rows.push_back(
        {{"scope", b.scope}, {"batch_id", b.batch_id}, {"sidecar_id", b.sidecar_id}, {"signature", b.signature}});
  }
  pqxx::work tx(c);
  const auto result = tx.exec_params(
      "INSERT INTO kms_batches (scope, batch_id, sidecar_id, signature) "
      "SELECT scope, batch_id, sidecar_id, signature FROM json_to_recordset($1::json) "
      "AS r(scope uuid, batch_id uuid, sidecar_id uuid, signature text) "
      "ON CONFLICT DO NOTHING RETURNING scope, batch_id",
      rows.dump());
  tx.commit();
  std::set<std::pair<std::string, std::string>> inserted;
  for (const auto& row : result) inserted.emplace(row[0].c_str(), row[1].c_str());
  std::vector<bool> out;
  out.reserve(batches.size());
  for (const auto& b : batches) out.push_back(inserted.erase({b.scope, b.batch_id}) != 0);  // a repeat finds it gone
  return out;
}

void insert_healthcheck(pqxx::connection& c, const HealthcheckRow& row) {
  pqxx::work tx(c);
  tx.exec_params(
      "INSERT INTO kms_healthchecks (healthcheck_id, sidecar_id, level, created) VALUES ($1, $2, "
      "$3, " FLS_SQL_FROM_MILLIS("$4") ")",
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
  const auto rows = tx.exec_params("SELECT healthcheck_id, sidecar_id, level, " FLS_SQL_TO_MILLIS(
                                       "created") ", response::text FROM kms_healthchecks WHERE healthcheck_id = $1",
                                   healthcheck_id);
  if (rows.empty()) return std::nullopt;
  HealthcheckRow out{rows[0][0].c_str(), rows[0][1].c_str(), rows[0][2].c_str(), rows[0][3].as<EpochMillis>(), {}};
  if (!rows[0][4].is_null()) out.response = nlohmann::json::parse(rows[0][4].c_str(), nullptr, false);
  return out;
}

void insert_inquiry(pqxx::connection& c, const InquiryRow& row) {
  pqxx::work tx(c);
  tx.exec_params(
      "INSERT INTO kms_inquiries (inquiry_id, service_name, start_time, end_time, created, asked) "
      "VALUES ($1, $2, " FLS_SQL_FROM_MICROS("$3") ", " FLS_SQL_FROM_MICROS("$4") ", " FLS_SQL_FROM_MILLIS(
          "$5") ", $6::uuid[])",
      row.inquiry_id, row.service_name, row.start.micros_floor(), row.end.micros_floor(), row.created_ms,
      uuid_array_literal(row.asked));
  tx.commit();
}

void complete_inquiry(pqxx::connection& c, const std::string& inquiry_id) {
  pqxx::work tx(c);
  tx.exec_params("UPDATE kms_inquiries SET completed = clock_timestamp() WHERE inquiry_id = $1 AND completed IS NULL",
                 inquiry_id);
  tx.commit();
}

void insert_admin_action(pqxx::connection& c, const AdminAction& action) {
  pqxx::work tx(c);
  tx.exec_params(
      "INSERT INTO kms_admin_actions (role, remote, method, path, target, status) "
      "VALUES ($1, $2, $3, $4, $5, $6)",
      action.role, action.remote, action.method, action.path, action.target ? action.target->c_str() : nullptr,
      action.status);
  tx.commit();
}

std::vector<AdminAction> list_admin_actions(pqxx::connection& c, std::size_t offset, std::size_t limit) {
  pqxx::read_transaction tx(c);
  std::vector<AdminAction> out;
  for (const auto& row :
       tx.exec_params("SELECT action_id, " FLS_SQL_TO_MILLIS(
                          "at") ", role, remote, method, path, "
                                "target, status FROM kms_admin_actions ORDER BY action_id OFFSET $1 LIMIT $2",
                      offset, limit + 1)) {
    out.push_back(AdminAction{row[0].as<std::int64_t>(), row[1].as<EpochMillis>(), row[2].c_str(), row[3].c_str(),
                              row[4].c_str(), row[5].c_str(), optional_text(row[6]), row[7].as<unsigned>()});
  }
  return out;
}

}  // namespace fls::kms
