#include "fls/kms_server/inquiry_response_lanes.h"

#include <boost/asio/post.hpp>
#include <map>
#include <optional>

#include "fls/kms_server/inquiry_db.h"
#include "fls/kms_server/kms_db.h"

namespace fls::kms {

namespace asio = boost::asio;

namespace {

// A lane's group: enough responses to make one commit worth it, few enough bytes that a group in
// each lane stays small beside the sessions' own bounds.
constexpr std::size_t kGroupResponses = 64;
constexpr std::size_t kGroupBytes = 4u << 20;
// Registrations whose opened keys a lane keeps; beyond it the cache starts again.
constexpr std::size_t kCachedKeys = 1024;

bool is_result(const InquiryResponseRow& row) { return row.batch_id && !row.problem; }

struct CachedKeys {
  SidecarKeys keys;
  std::string scope;
  std::string service_name;
};

// The opened keys of the registrations a lane has verified rows of, read on first use.
class KeyCache {
 public:
  const CachedKeys* find(pqxx::connection& connection, const KeyVault& vault, const std::string& sidecar_id) {
    auto it = cache_.find(sidecar_id);
    if (it == cache_.end()) {
      if (cache_.size() >= kCachedKeys) cache_.clear();
      it = cache_.emplace(sidecar_id, open(connection, vault, sidecar_id)).first;
    }
    return it->second ? &*it->second : nullptr;
  }

 private:
  static std::optional<CachedKeys> open(pqxx::connection& connection, const KeyVault& vault,
                                        const std::string& sidecar_id) {
    const auto sealed = keys_of(connection, sidecar_id);
    if (!sealed || sealed->batch_public_key.size() != 32) return std::nullopt;
    auto row_key = vault.open(sealed->row_key_sealed, 32);
    if (!row_key) return std::nullopt;
    CachedKeys out{SidecarKeys{sidecar_id, {}, std::move(*row_key)}, sealed->scope, sealed->service_name};
    std::copy(sealed->batch_public_key.begin(), sealed->batch_public_key.end(), out.keys.public_key.begin());
    return out;
  }
  std::map<std::string, std::optional<CachedKeys>> cache_;
};

// The keys one sender's response may be verified with: only registrations of its own scope (and
// those of its service without a credential, as batch_for), so a row whose keyId belongs to
// another credential is never checked, nor counted, as this sender's.
class SenderKeys final : public KeyLookup {
 public:
  SenderKeys(KeyCache& cache, pqxx::connection& connection, const KeyVault& vault, const SenderScope& sender)
      : cache_(cache), connection_(connection), vault_(vault), sender_(sender) {}
  const SidecarKeys* find(const std::string& sidecar_id) override {
    const CachedKeys* found = cache_.find(connection_, vault_, sidecar_id);
    if (found == nullptr) return nullptr;
    const bool in_scope =
        found->scope == sender_.scope || (found->scope == kOpenScope && found->service_name == sender_.service_name);
    return in_scope ? &found->keys : nullptr;
  }

 private:
  KeyCache& cache_;
  pqxx::connection& connection_;
  const KeyVault& vault_;
  const SenderScope& sender_;
};

}  // namespace

struct InquiryResponseLanes::Lane {
  explicit Lane(const std::string& uri) : worker(uri) {}
  QueryWorker worker;
  bool draining = false;  // a drain job is queued or running (guarded by the lanes' mutex)
  KeyCache keys;          // its thread's only
};

InquiryResponseLanes::InquiryResponseLanes(asio::io_context& io, const std::string& uri, std::size_t lanes,
                                           const KeyVault& vault)
    : io_(io), vault_(vault) {
  for (std::size_t i = 0; i < std::max<std::size_t>(lanes, 1); ++i) lanes_.push_back(std::make_unique<Lane>(uri));
}

InquiryResponseLanes::~InquiryResponseLanes() { stop(); }

void InquiryResponseLanes::start() {
  for (auto& lane : lanes_) lane->worker.start();
}

void InquiryResponseLanes::stop() {
  for (auto& lane : lanes_) lane->worker.stop(/*finish_queued=*/true);
}

void InquiryResponseLanes::submit(Job job) {
  std::lock_guard lock(mutex_);
  queue_.push_back(std::move(job));
  for (std::size_t i = 0; i < lanes_.size(); ++i) {
    if (!lanes_[i]->draining) {
      lanes_[i]->draining = true;
      post_drain(i);
      return;
    }
  }
}

void InquiryResponseLanes::post_drain(std::size_t lane) {
  lanes_[lane]->worker.post("storing inquiry responses",
                            [this, lane](pqxx::connection& connection) { drain(lane, connection); });
}

std::vector<InquiryResponseLanes::Job> InquiryResponseLanes::take_group() {
  std::vector<Job> group;
  std::size_t bytes = 0;
  while (!queue_.empty() && group.size() < kGroupResponses && bytes < kGroupBytes) {
    bytes += queue_.front().row.body.size();
    group.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  return group;
}

void InquiryResponseLanes::drain(std::size_t lane, pqxx::connection& connection) {
  std::vector<Job> group;
  {
    std::lock_guard lock(mutex_);
    group = take_group();
    if (group.empty()) {
      lanes_[lane]->draining = false;
      return;
    }
    post_drain(lane);  // the next group, after this one
  }
  try {
    std::vector<std::string> batch_ids;
    for (const auto& job : group) {
      if (is_result(job.row)) batch_ids.push_back(*job.row.batch_id);
    }
    const std::vector<HeldBatch> held =
        batch_ids.empty() ? std::vector<HeldBatch>{} : held_batches(connection, batch_ids);
    std::vector<VerifiedResponse> responses;
    responses.reserve(group.size());
    for (auto& job : group) {
      VerifiedResponse response{job.inquiry_id, std::move(job.row), std::nullopt};
      if (is_result(response.row)) {
        SenderKeys keys(lanes_[lane]->keys, connection, vault_, job.sender);
        const std::string& batch_id = *response.row.batch_id;
        response.verdict = verify_result(batch_id, response.row.body, batch_for(held, batch_id, job.sender), keys);
        response.verdict->body.clear();  // stored once, from the row
      }
      responses.push_back(std::move(response));
    }
    insert_inquiry_responses(connection, responses);
    for (std::size_t i = 0; i < group.size(); ++i) {
      const StoredResponse stored{responses[i].verdict.has_value(),
                                  responses[i].verdict.has_value() && responses[i].verdict->verified};
      asio::post(io_, [done = std::move(group[i].done), stored] { done(stored); });
    }
  } catch (...) {
    for (auto& job : group) asio::post(io_, std::move(job.failed));
    throw;  // the worker logs it and renews a broken connection
  }
}

}  // namespace fls::kms
