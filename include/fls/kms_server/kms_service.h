#pragma once
// The central KMS (protocol.md §4 server side and §7): sidecar registrations over WebSocket,
// the admin API, health checks and inquiries with their verdicts.
//
// Everything here runs on the io_context's single thread, except database work and
// verification, which run on one database worker thread (QueryWorker) in submission order;
// their results come back to the I/O thread through asio::post. A sidecar's requests are
// answered only after what they change is committed.
//
// Access control (docs/security.md): a sidecar registers with a credential of its service,
// presented as a bearer token on the WebSocket upgrade and checked in the registration's own
// transaction; what it delivers and answers is judged within that credential's scope. Admin
// requests act as the admin or the auditor, and every change they make is recorded.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "fls/common/clock.h"
#include "fls/common/ids.h"
#include "fls/config/kms_config.h"
#include "fls/http/http_server.h"
#include "fls/kms_server/admin_api.h"
#include "fls/kms_server/key_vault.h"
#include "fls/kms_server/kms_db.h"
#include "fls/pg/query_worker.h"

namespace fls::kms {

struct KmsServiceOptions {
  std::optional<std::string> admin_token;    // none (dev mode only): every admin request is the admin's
  std::optional<std::string> auditor_token;  // may read and start inquiries
  std::chrono::milliseconds inquiry_timeout{60'000};
  RegistrationMode registration = RegistrationMode::token;
  RegistrationLimits registration_limits{100, 10'000};
  std::size_t max_message_size = 16 << 20;  // once registered; before, HttpServerOptions' limit
  std::chrono::milliseconds registration_timeout{30'000};  // connect to passed challenge
  std::chrono::milliseconds registration_retention{7LL * 24 * 3600 * 1000};
};

struct KmsMetrics {
  std::atomic<std::uint64_t> registrations{0};
  std::atomic<std::uint64_t> registrations_refused{0};
  std::atomic<std::uint64_t> inquiry_responses_refused{0};
  std::atomic<std::uint64_t> challenges_failed{0};
  std::atomic<std::uint64_t> batches_received{0};
  std::atomic<std::uint64_t> inquiries{0};
  std::atomic<std::uint64_t> inquiry_results_failed{0};
  std::atomic<std::uint64_t> healthchecks{0};
};

class SidecarSession;

class KmsService : public std::enable_shared_from_this<KmsService> {
 public:
  KmsService(boost::asio::io_context& io, QueryWorker& db, const KeyVault& vault, KeySource& keys,
             const Clock& clock, IdSource& ids, KmsServiceOptions options);
  ~KmsService();

  // Starts the periodic pruning of registrations that never delivered a batch.
  void start();

  // For HttpServerOptions: the admin API, and the /sidecar WebSocket.
  void handle_http(const HttpRequest& request, HttpRespond respond);
  std::shared_ptr<WsPeerHandler> accept_sidecar(const HttpRequest& request, HttpResponse& refusal);

  // Closes every sidecar connection (shutdown).
  void close_all();

 private:
  friend class SidecarSession;
  struct InquiryProgress;

  // Runs `job` on the database thread, then `done` with its result on the I/O thread; if the
  // job throws, logs it and calls `failed` on the I/O thread instead.
  template <class Result>
  void run_db(std::string what, std::function<Result(pqxx::connection&)> job, std::function<void(Result)> done,
              std::function<void()> failed);

  // A batch signature on its way to the database; `done` (whether it was new) or `failed` runs
  // on the I/O thread once its transaction ends.
  struct PendingBatch {
    NewBatch row;
    std::function<void(bool inserted)> done;
    std::function<void()> failed;
  };
  // Sidecars keep many batches in flight, so everything that arrives while one transaction
  // runs is stored by the next one, together: one commit for many batches.
  void store_batch(PendingBatch batch);

  // Called by sessions.
  void sidecar_registered(const std::shared_ptr<SidecarSession>& session);
  void sidecar_closed(const std::shared_ptr<SidecarSession>& session);
  // Judges one inquiry-response of `sender`: nullopt if it counts, else the problem it is stored
  // with. `dropped` says why it is not stored at all: its inquiry is not open, or was not sent
  // to `sender` (so nobody outside an inquiry can change its verdict).
  std::optional<std::string> judge_inquiry_response(const std::string& sender, const std::string& inquiry_id,
                                                    std::int64_t total, std::int64_t item, bool has_batch,
                                                    std::string& dropped);
  void inquiry_response_stored(const std::string& inquiry_id);
  void finish_inquiry(const std::string& inquiry_id);
  void prune_registrations();

  // Admin commands, validated by admin_api; each answers through `respond`.
  void carry_out(AdminCommand command, HttpRespond respond);
  void carry_out(ListSidecars command, HttpRespond respond);
  void carry_out(StartHealthcheck command, HttpRespond respond);
  void carry_out(ReadHealthcheck command, HttpRespond respond);
  void carry_out(StartInquiry command, HttpRespond respond);
  void carry_out(ListCredentials command, HttpRespond respond);
  void carry_out(CreateCredential command, HttpRespond respond);
  void carry_out(RevokeCredential command, HttpRespond respond);
  void carry_out(RotateCredential command, HttpRespond respond);
  void carry_out(ListAdminActions command, HttpRespond respond);
  void read_inquiry(const ReadInquiry& command, HttpRespond respond);
  void carry_out(ReadInquiry command, HttpRespond respond) { read_inquiry(command, std::move(respond)); }
  HttpResponse metrics() const;

  boost::asio::io_context& io_;
  QueryWorker& db_;
  const KeyVault& vault_;
  KeySource& keys_;
  const Clock& clock_;
  IdSource& ids_;
  KmsServiceOptions options_;
  AdminTokens tokens_;
  KmsMetrics metrics_;

  std::map<std::string, std::shared_ptr<SidecarSession>> registered_;  // open and registered
  std::set<std::shared_ptr<SidecarSession>> sessions_;                 // every open connection
  std::map<std::string, std::unique_ptr<InquiryProgress>> inquiries_;  // not yet complete
  boost::asio::steady_timer prune_timer_;

  // Shared by the I/O thread (store_batch) and the database thread (the job it queues).
  std::mutex batches_mutex_;
  std::vector<PendingBatch> pending_batches_;
  bool batches_job_queued_ = false;
};

}  // namespace fls::kms
