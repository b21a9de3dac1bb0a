#pragma once
// The central KMS (protocol.md §4 server side and §7): it accepts sidecar connections (each a
// SidecarSession), carries out the admin API's commands (admin_api), waits on inquiries
// (InquiryTracker) and serves their verdicts (inquiry_report), keeping everything in a KmsStore.
//
// Everything here runs on the io_context's single thread. The store does its work elsewhere
// (PgKmsStore: one database thread, in submission order) and answers on this thread; a
// sidecar's requests are answered only after what they change is committed.
//
// Access control (docs/security.md): a sidecar registers with a credential of its service,
// presented as a bearer token on the WebSocket upgrade and checked in the registration's own
// transaction; what it delivers and answers is judged within that credential's scope. Admin
// requests act as the admin or the auditor, and every change they make is recorded.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "fls/common/clock.h"
#include "fls/common/ids.h"
#include "fls/config/kms_config.h"
#include "fls/http/http_server.h"
#include "fls/kms_server/admin_api.h"
#include "fls/kms_server/inquiry_tracker.h"
#include "fls/kms_server/key_vault.h"
#include "fls/kms_server/kms_store.h"
#include "fls/kms_server/sidecar_session.h"

namespace fls::kms {

struct KmsServiceOptions {
  std::optional<std::string> admin_token;    // none (dev mode only): every admin request is the admin's
  std::optional<std::string> auditor_token;  // may read and start inquiries
  std::chrono::milliseconds inquiry_timeout{60'000};
  std::size_t max_inquiries = 4;  // in progress at once
  RegistrationMode registration = RegistrationMode::token;
  RegistrationLimits registration_limits{100, 10'000};
  std::size_t max_message_size = 16 << 20;                 // once registered; before, HttpServerOptions' limit
  std::chrono::milliseconds registration_timeout{30'000};  // connect to passed challenge
  std::chrono::milliseconds registration_retention{7LL * 24 * 3600 * 1000};
};

class KmsService final : public SessionHost, public std::enable_shared_from_this<KmsService> {
 public:
  // `store`, `vault`, `keys`, `clock` and `ids` outlive the service and its sessions.
  KmsService(boost::asio::io_context& io, KmsStore& store, const KeyVault& vault, KeySource& keys, const Clock& clock,
             IdSource& ids, KmsServiceOptions options);

  // Starts the periodic pruning of registrations that never delivered a batch.
  void start();

  // For HttpServerOptions: the admin API, and the /sidecar WebSocket.
  void handle_http(const HttpRequest& request, HttpRespond respond);
  std::shared_ptr<WsPeerHandler> accept_sidecar(const HttpRequest& request, HttpResponse& refusal);

  // Closes every sidecar connection (shutdown).
  void close_all();

  // SessionHost
  void sidecar_registered(const std::shared_ptr<SidecarSession>& session) override;
  void sidecar_closed(const std::shared_ptr<SidecarSession>& session) override;
  InquiryJudgement judge_inquiry_response(const std::string& sender, const std::string& inquiry_id, std::int64_t total,
                                          std::int64_t item, bool has_batch) override;
  void inquiry_response_stored(const std::string& inquiry_id, std::optional<StoredResponse> stored) override;

 private:
  void finish_inquiry(const std::string& inquiry_id);
  void arm_inquiry_deadline();
  void prune_registrations();

  // Admin commands, validated by admin_api; each answers through `respond`.
  void carry_out(AdminCommand command, HttpRespond respond);
  void carry_out(ListSidecars command, HttpRespond respond);
  void carry_out(StartHealthcheck command, HttpRespond respond);
  void carry_out(ReadHealthcheck command, HttpRespond respond);
  void carry_out(StartInquiry command, HttpRespond respond);
  void carry_out(ReadInquiry command, HttpRespond respond);
  void carry_out(ListCredentials command, HttpRespond respond);
  void carry_out(CreateCredential command, HttpRespond respond);
  void carry_out(RevokeCredential command, HttpRespond respond);
  void carry_out(RotateCredential command, HttpRespond respond);
  void carry_out(ListAdminActions command, HttpRespond respond);
  HttpResponse metrics() const;

  boost::asio::io_context& io_;
  KmsStore& store_;
  const KeyVault& vault_;
  KeySource& keys_;
  const Clock& clock_;
  IdSource& ids_;
  KmsServiceOptions options_;
  AdminTokens tokens_;
  KmsMetrics metrics_;

  std::map<std::string, std::shared_ptr<SidecarSession>> registered_;  // open and registered
  std::set<std::shared_ptr<SidecarSession>> sessions_;                 // every open connection
  InquiryTracker inquiries_;                                           // not yet complete
  std::size_t inquiries_starting_ = 0;                                 // created, not yet tracked
  boost::asio::steady_timer inquiry_deadline_;                         // the tracker's next deadline
  boost::asio::steady_timer prune_timer_;
};

}  // namespace fls::kms
