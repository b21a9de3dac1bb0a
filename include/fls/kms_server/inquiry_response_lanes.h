#pragma once
// Inquiry responses, verified and stored side by side. Each lane is a thread with its own
// PostgreSQL connection (a QueryWorker); a lane takes the responses waiting in one shared queue, a
// group at a time, looks up the batches they name in one query, verifies each against its
// sender's keys, and stores the group with the outcomes in one transaction. So verification uses
// every core, and neither it nor its commits wait behind (or delay) the store's other work.
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fls/kms_server/key_vault.h"
#include "fls/kms_server/kms_store.h"
#include "fls/pg/query_worker.h"

namespace fls::kms {

class InquiryResponseLanes {
 public:
  struct Job {
    std::string inquiry_id;
    InquiryResponseRow row;
    SenderScope sender;
    KmsStore::Done<StoredResponse> done;
    KmsStore::Failed failed;
  };

  // `vault` outlives the lanes; callbacks are posted to `io`.
  InquiryResponseLanes(boost::asio::io_context& io, const std::string& uri, std::size_t lanes, const KeyVault& vault);
  ~InquiryResponseLanes();

  void start();
  // Stores what is queued, then ends the lanes.
  void stop();

  void submit(Job job);

 private:
  struct Lane;
  void post_drain(std::size_t lane);
  void drain(std::size_t lane, pqxx::connection& connection);
  std::vector<Job> take_group();

  boost::asio::io_context& io_;
  const KeyVault& vault_;
  std::vector<std::unique_ptr<Lane>> lanes_;

  std::mutex mutex_;
  std::deque<Job> queue_;
};

}  // namespace fls::kms
