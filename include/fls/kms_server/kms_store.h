#pragma once
// What fls-kms keeps, behind one seam: every call returns at once, and later runs exactly one
// of its callbacks on the I/O thread, `done` with the result once it is committed, or `failed`
// (already logged). Calls take effect in the order they are made, except inquiry responses,
// which are verified side by side (see store_inquiry_response). PgKmsStore keeps it in
// PostgreSQL; tests of the rooms above it use an in-memory one.
#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "fls/kms_server/inquiry_report.h"
#include "fls/kms_server/records.h"

namespace fls::kms {

class KmsStore {
 public:
  template <class T>
  using Done = std::function<void(T)>;
  using Failed = std::function<void()>;

  virtual ~KmsStore() = default;

  // Registrations. register_sidecar checks the credential and the limits and stores the
  // registration as `challenged`, in one transaction.
  virtual void register_sidecar(NewRegistration registration, RegistrationLimits limits, Done<RegistrationResult> done,
                                Failed failed) = 0;
  virtual void set_status(std::string sidecar_id, std::string status, Done<bool> done, Failed failed) = 0;
  // Deletes closed registrations created before `cutoff` that never delivered a batch.
  virtual void prune_registrations(EpochMillis cutoff, Done<std::size_t> done, Failed failed) = 0;
  virtual void list_sidecars(std::size_t offset, std::size_t limit, Done<std::vector<SidecarRow>> done,
                             Failed failed) = 0;

  // A batch signature: true if it was new in its scope, false if that id was there already.
  virtual void store_batch(NewBatch batch, Done<bool> done, Failed failed) = 0;

  virtual void create_credential(CredentialRow row, TokenHash token_hash, Done<bool> done, Failed failed) = 0;
  virtual void list_credentials(std::size_t offset, std::size_t limit, Done<std::vector<CredentialRow>> done,
                                Failed failed) = 0;
  virtual void revoke_credential(std::string credential_id, Done<std::optional<CredentialRow>> done, Failed failed) = 0;
  // nullopt when there is no such credential or it is revoked.
  virtual void replace_credential_token(std::string credential_id, TokenHash token_hash,
                                        Done<std::optional<CredentialRow>> done, Failed failed) = 0;

  virtual void create_healthcheck(HealthcheckRow row, Done<bool> done, Failed failed) = 0;
  // False if no pending health check has that id.
  virtual void complete_healthcheck(std::string healthcheck_id, nlohmann::json response, Done<bool> done,
                                    Failed failed) = 0;
  virtual void find_healthcheck(std::string healthcheck_id, Done<std::optional<HealthcheckRow>> done,
                                Failed failed) = 0;

  virtual void create_inquiry(InquiryRow row, Done<bool> done, Failed failed) = 0;
  // Verifies the response, when it carries a batch and counts, within its sender's scope (only
  // batches and row keys of the sender's own credential can verify as its results), and stores
  // it with that outcome. Responses are verified and stored side by side, so they may be stored
  // in any order among themselves (`arrival` orders them), but each before its `done` runs.
  virtual void store_inquiry_response(std::string inquiry_id, InquiryResponseRow row, SenderScope sender,
                                      Done<StoredResponse> done, Failed failed) = 0;
  virtual void complete_inquiry(std::string inquiry_id, Done<bool> done, Failed failed) = 0;
  // The verdict as it stands at `now`, from the stored outcomes: summary, counts and progress,
  // and the results `offset`..`offset + limit` in order of arrival. nullopt when there is no
  // such inquiry. An inquiry older than `timeout` counts as complete.
  virtual void read_inquiry(std::string inquiry_id, EpochMillis now, std::chrono::milliseconds timeout,
                            std::size_t offset, std::size_t limit, Done<std::optional<InquiryReport>> done,
                            Failed failed) = 0;

  virtual void record_admin_action(AdminAction action, Done<bool> done, Failed failed) = 0;
  virtual void list_admin_actions(std::size_t offset, std::size_t limit, Done<std::vector<AdminAction>> done,
                                  Failed failed) = 0;
};

}  // namespace fls::kms
