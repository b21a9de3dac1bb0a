#pragma once
// The KMS's queries (schema: migrations/kms). Each function runs one transaction on the given
// connection; they are called on the database worker's thread only.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/connection>
#include <string>
#include <vector>

#include "fls/common/clock.h"
#include "fls/common/iso_time.h"
#include "fls/kms_server/verdict.h"

namespace fls::kms {

struct SidecarRow {
  std::string sidecar_id;
  std::string service_name;
  std::string status;
};

struct SealedKeys {
  std::string sidecar_id;
  std::vector<std::uint8_t> row_key_sealed;
  std::vector<std::uint8_t> batch_key_sealed;
  std::vector<std::uint8_t> batch_public_key;
};

// Marks every challenged or registered sidecar terminated (their connections died with the
// previous run). Returns how many.
std::size_t terminate_all_open(pqxx::connection& c);

// False if the id already exists.
bool insert_sidecar(pqxx::connection& c, const std::string& sidecar_id, const std::string& service_name,
                    const SealedKeys& keys);
void set_status(pqxx::connection& c, const std::string& sidecar_id, const std::string& status);
std::vector<SidecarRow> list_sidecars(pqxx::connection& c);
// Any one registration's sealed keys, to check the master key at start.
std::optional<SealedKeys> any_keys(pqxx::connection& c);
std::optional<SealedKeys> keys_of(pqxx::connection& c, const std::string& sidecar_id);

struct NewBatch {
  std::string batch_id;
  std::string sidecar_id;
  std::string signature;  // as the sidecar sent it; no NUL characters (PostgreSQL text has none)
};
// Stores the batches in one transaction. For each, in order: true if it was new, false if its
// id already existed (or came earlier in the list).
std::vector<bool> insert_batches(pqxx::connection& c, const std::vector<NewBatch>& batches);
std::optional<KnownBatch> find_batch(pqxx::connection& c, const std::string& batch_id);
// Batch ids received from sidecars of `service` within [start, end] (KMS clock), oldest first.
std::vector<std::string> batches_in_window(pqxx::connection& c, const std::string& service, const Instant& start,
                                           const Instant& end);

struct HealthcheckRow {
  std::string healthcheck_id;
  std::string sidecar_id;
  std::string level;
  EpochMillis created_ms;
  std::optional<nlohmann::json> response;
};
void insert_healthcheck(pqxx::connection& c, const HealthcheckRow& row);
// False if no pending health check has that id.
bool complete_healthcheck(pqxx::connection& c, const std::string& healthcheck_id, const nlohmann::json& response);
std::optional<HealthcheckRow> find_healthcheck(pqxx::connection& c, const std::string& healthcheck_id);

struct InquiryRow {
  std::string inquiry_id;
  std::string service_name;
  Instant start;
  Instant end;
  EpochMillis created_ms;
  std::vector<std::string> asked;
  bool completed;
};
struct InquiryResponseRow {
  std::string sidecar_id;
  std::optional<std::string> batch_id;
  std::string body;
  std::int64_t total;
  std::int64_t item;
};
void insert_inquiry(pqxx::connection& c, const InquiryRow& row);
void insert_inquiry_response(pqxx::connection& c, const std::string& inquiry_id, const InquiryResponseRow& row);
void complete_inquiry(pqxx::connection& c, const std::string& inquiry_id);
std::optional<InquiryRow> find_inquiry(pqxx::connection& c, const std::string& inquiry_id);
std::vector<InquiryResponseRow> inquiry_responses(pqxx::connection& c, const std::string& inquiry_id);

}  // namespace fls::kms
