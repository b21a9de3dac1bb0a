#pragma once
// One sidecar's WebSocket connection to fls-kms (protocol.md §4, the server's side): register ->
// challenge -> registered, then batches, health-check replies and inquiry responses. Runs on the
// I/O thread; what it changes goes through the KmsStore, and it answers a request only once the
// store has committed what the request changed.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "fls/config/kms_config.h"
#include "fls/http/http_server.h"
#include "fls/kms_server/inquiry_tracker.h"
#include "fls/kms_server/key_vault.h"
#include "fls/kms_server/kms_store.h"
#include "fls/protocol/jsonrpc.h"

namespace fls::kms {

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

struct SessionSettings {
  RegistrationMode registration = RegistrationMode::token;
  RegistrationLimits registration_limits{100, 10'000};
  std::chrono::milliseconds registration_timeout{30'000};  // connect to passed challenge
  std::size_t max_message_size = 16 << 20;                 // once registered
};

// What a session needs around it; every part outlives the sessions.
struct SessionContext {
  boost::asio::io_context& io;
  KmsStore& store;
  const KeyVault& vault;
  KeySource& keys;
  KmsMetrics& metrics;
  SessionSettings settings;
};

class SidecarSession;

// What a session tells the KMS about itself, and asks it. Called on the I/O thread.
class SessionHost {
 public:
  virtual ~SessionHost() = default;
  virtual void sidecar_registered(const std::shared_ptr<SidecarSession>& session) = 0;
  virtual void sidecar_closed(const std::shared_ptr<SidecarSession>& session) = 0;
  virtual InquiryJudgement judge_inquiry_response(const std::string& sender, const std::string& inquiry_id,
                                                  std::int64_t total, std::int64_t item, bool has_batch) = 0;
  // Once per response judged not dropped: `stored` says what became of it, nullopt if storing it failed.
  virtual void inquiry_response_stored(const std::string& inquiry_id, std::optional<StoredResponse> stored) = 0;
};

class SidecarSession final : public WsPeerHandler, public std::enable_shared_from_this<SidecarSession> {
 public:
  enum class State { connected, registering, challenged, registered, refused, closed };

  static constexpr std::uint16_t websocket_normal = 1000;
  static constexpr std::uint16_t websocket_policy_violation = 1008;

  // `token_hash`: of the upgrade's bearer token, if it had one.
  SidecarSession(SessionContext context, std::shared_ptr<SessionHost> host, std::string remote,
                 std::optional<TokenHash> token_hash);

  void on_open(std::shared_ptr<WsPeer> peer) override;
  void on_text(std::string text) override;
  void on_closed(const std::string& reason) override;

  // A health check request from the admin API; the reply completes it.
  void send_healthcheck(const std::string& healthcheck_id, const std::string& level);
  void send_inquiry(const std::string& inquiry_id, const std::string& start, const std::string& end);
  void close(std::uint16_t code = websocket_normal);

  const std::string& sidecar_id() const { return sidecar_id_; }
  const std::string& service_name() const { return service_name_; }
  const std::string& scope() const { return scope_; }  // its credential, or kOpenScope
  State state() const { return state_; }

 private:
  void mark_terminated(const std::string& id);
  std::string describe() const;
  void send(std::string text);
  void reply(const nlohmann::json& id, protocol::OrderedJson result);
  void error(const nlohmann::json& id, const protocol::Error& error);

  void on_register(const nlohmann::json& id, const nlohmann::json& params);
  void challenge(const nlohmann::json& id, const std::shared_ptr<IssuedKeys>& keys, const std::string& sidecar,
                 const std::string& service, const std::string& scope);
  void refuse(const nlohmann::json& id, const protocol::Error& refusal);
  void on_challenge(const nlohmann::json& id, const nlohmann::json& params);
  void on_batch(const nlohmann::json& id, const nlohmann::json& params);
  void on_inquiry_response(nlohmann::json& params);
  void on_reply(protocol::Response& message);

  SessionContext context_;
  std::shared_ptr<SessionHost> host_;
  std::string remote_;
  std::optional<TokenHash> token_hash_;
  boost::asio::steady_timer registration_deadline_;
  std::shared_ptr<WsPeer> peer_;
  State state_ = State::connected;
  std::string sidecar_id_;
  std::string service_name_;
  std::string scope_;
  std::shared_ptr<IssuedKeys> keys_;  // between register and challenge only
  std::string challenge_;
  std::set<std::string> pending_healthchecks_;
};

}  // namespace fls::kms
