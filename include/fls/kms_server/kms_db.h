#pragma once
// The KMS's queries (schema: migrations/kms). Each function runs one transaction on the given
// connection; they are called on the database worker's thread only.
#include <array>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/connection>
#include <string>
#include <vector>

#include "fls/common/clock.h"
#include "fls/common/iso_time.h"
#include "fls/kms_server/records.h"
#include "fls/kms_server/verdict.h"

namespace fls::kms {

void insert_credential(pqxx::connection& c, const CredentialRow& row, const TokenHash& token_hash);
// `limit` + 1 rows at most, oldest first, so a caller can tell whether there are more.
std::vector<CredentialRow> list_credentials(pqxx::connection& c, std::size_t offset, std::size_t limit);
// Marks it revoked (once; a second call keeps the first time). nullopt if there is no such credential.
std::optional<CredentialRow> revoke_credential(pqxx::connection& c, const std::string& credential_id);
// Replaces its token. nullopt if there is no such credential or it is revoked.
std::optional<CredentialRow> replace_credential_token(pqxx::connection& c, const std::string& credential_id,
                                                      const TokenHash& token_hash);

// Checks the credential (valid, not revoked, for this service) and the limits, and stores the
// registration as `challenged`, all in one transaction.
RegistrationResult insert_sidecar(pqxx::connection& c, const NewRegistration& registration,
                                  const RegistrationLimits& limits);

// Marks every challenged or registered sidecar terminated (their connections died with the
// previous run). Returns how many.
std::size_t terminate_all_open(pqxx::connection& c);

void set_status(pqxx::connection& c, const std::string& sidecar_id, const std::string& status);
// `limit` + 1 rows at most, oldest first.
std::vector<SidecarRow> list_sidecars(pqxx::connection& c, std::size_t offset, std::size_t limit);
// Deletes registrations that are closed, never delivered a batch and were created before
// `created_before_ms`, with their keys, status history and health checks. Returns how many.
std::size_t prune_registrations(pqxx::connection& c, EpochMillis created_before_ms);
// Any one registration's sealed keys, to check the master key at start.
std::optional<SealedKeys> any_keys(pqxx::connection& c);
std::optional<SealedKeys> keys_of(pqxx::connection& c, const std::string& sidecar_id);

// Stores the batches in one transaction. For each, in order: true if it was new, false if its
// id already existed in its scope (or came earlier in the list).
std::vector<bool> insert_batches(pqxx::connection& c, const std::vector<NewBatch>& batches);

void insert_healthcheck(pqxx::connection& c, const HealthcheckRow& row);
// False if no pending health check has that id.
bool complete_healthcheck(pqxx::connection& c, const std::string& healthcheck_id, const nlohmann::json& response);
std::optional<HealthcheckRow> find_healthcheck(pqxx::connection& c, const std::string& healthcheck_id);

void insert_inquiry(pqxx::connection& c, const InquiryRow& row);
void complete_inquiry(pqxx::connection& c, const std::string& inquiry_id);

void insert_admin_action(pqxx::connection& c, const AdminAction& action);
// `limit` + 1 rows at most, oldest first.
std::vector<AdminAction> list_admin_actions(pqxx::connection& c, std::size_t offset, std::size_t limit);

}  // namespace fls::kms
