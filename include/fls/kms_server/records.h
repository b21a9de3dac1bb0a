#pragma once
// What fls-kms keeps (schema: migrations/kms), as plain values: the rows its store reads and
// writes, without any database type.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "fls/common/clock.h"
#include "fls/common/iso_time.h"
#include "fls/kms_server/tokens.h"

namespace fls::kms {

// The scope of registrations without a credential (KMS_REGISTRATION=open): batch ids and row
// keys are judged within a scope, which is otherwise the registration's credential id.
inline constexpr const char* kOpenScope = "00000000-0000-0000-0000-000000000000";

struct SidecarRow {
  std::string sidecar_id;
  std::string service_name;
  std::string status;
  std::optional<std::string> credential_id;
};

struct SealedKeys {
  std::string sidecar_id;
  std::vector<std::uint8_t> row_key_sealed;
  std::vector<std::uint8_t> batch_key_sealed;
  std::vector<std::uint8_t> batch_public_key;
  std::string scope;         // filled by keys_of
  std::string service_name;  // filled by keys_of
};

struct CredentialRow {
  std::string credential_id;
  std::string service_name;
  std::string label;
  EpochMillis created_ms = 0;
  std::optional<EpochMillis> revoked_ms;
};

struct RegistrationLimits {
  std::size_t per_credential;  // open registrations of one credential (or of no credential)
  std::size_t total;           // open registrations
};

struct NewRegistration {
  SealedKeys keys;  // its sidecar_id is the registration's id
  std::string service_name;
  std::optional<TokenHash> token_hash;  // from the connection's Authorization header
  bool credential_required;             // KMS_REGISTRATION=token
};

enum class RegistrationOutcome { registered, id_exists, unauthorized, too_many_for_credential, too_many };

struct RegistrationResult {
  RegistrationOutcome outcome;
  std::string scope;  // the credential id, or kOpenScope
};

struct NewBatch {
  std::string batch_id;
  std::string sidecar_id;
  std::string scope;      // the delivering registration's
  std::string signature;  // as the sidecar sent it; no NUL characters (PostgreSQL text has none)
};

struct HealthcheckRow {
  std::string healthcheck_id;
  std::string sidecar_id;
  std::string level;
  EpochMillis created_ms;
  std::optional<nlohmann::json> response;
};

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
  std::optional<std::string> problem;  // set: not counted as a result, a problem of the sender
  std::int64_t arrival = 0;            // its place among the inquiry's responses, in order of arrival
};

// Whose keys and batches a response is verified against: its sender's registration's scope and
// service (InquiryResponseRow::sidecar_id is the sender).
struct SenderScope {
  std::string scope;
  std::string service_name;
};

// What storing an inquiry response made of it.
struct StoredResponse {
  bool result = false;    // it carries a batch and counts: it was verified
  bool verified = false;  // ... and verification passed
};

struct AdminAction {
  std::int64_t action_id = 0;  // assigned by the database
  EpochMillis at_ms = 0;       // assigned by the database
  std::string role;
  std::string remote;
  std::string method;
  std::string path;
  std::optional<std::string> target;
  unsigned status = 0;
};

}  // namespace fls::kms
