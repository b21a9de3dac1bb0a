#pragma once
// An inquiry's responses in PostgreSQL (schema: migrations/kms): stored with the outcome of their
// verification, and the verdict read back with SQL over those outcomes, so that reading it costs
// the same whatever the bodies hold. Called on database threads only.
#include <chrono>
#include <cstddef>
#include <optional>
#include <pqxx/connection>
#include <string>
#include <vector>

#include "fls/common/clock.h"
#include "fls/kms_server/inquiry_report.h"
#include "fls/kms_server/records.h"
#include "fls/kms_server/verdict.h"

namespace fls::kms {

// A batch as the KMS holds it, with what decides whose it is.
struct HeldBatch {
  KnownBatch batch;
  std::string scope;
  std::string service_name;  // of the registration that delivered it
};

// Every batch with one of `batch_ids` (lower-case UUIDs), in whatever scope.
std::vector<HeldBatch> held_batches(pqxx::connection& c, const std::vector<std::string>& batch_ids);

// The batch of `held` with that id that a response of `sender` answers for: the one in the
// sender's scope, or else one delivered without a credential (kOpenScope) by a registration of
// the sender's service, as batches from before credentials or from KMS_REGISTRATION=open are.
// nullptr if there is none.
const KnownBatch* batch_for(const std::vector<HeldBatch>& held, const std::string& batch_id, const SenderScope& sender);

struct VerifiedResponse {
  std::string inquiry_id;
  InquiryResponseRow row;
  std::optional<ResultVerdict> verdict;  // set for a result: a response that carries a batch and counts
};

// Stores them, with their outcomes and the sequence runs of their verified rows, in one
// transaction.
void insert_inquiry_responses(pqxx::connection& c, const std::vector<VerifiedResponse>& responses);

// The verdict as it stands at `now` (an inquiry older than `timeout` counts as complete), with the
// results offset .. offset + limit in order of arrival; nullopt when there is no such inquiry.
std::optional<InquiryReport> read_inquiry_report(pqxx::connection& c, const std::string& inquiry_id, EpochMillis now,
                                                 std::chrono::milliseconds timeout, std::size_t offset,
                                                 std::size_t limit);

}  // namespace fls::kms
