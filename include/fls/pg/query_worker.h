#pragma once
// A thread with its own PostgreSQL connection for read queries asked by the KMS (inquiries),
// so they neither block the I/O thread nor delay the event writer's commits.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <pqxx/connection>
#include <string>
#include <thread>

namespace fls {

class QueryWorker {
 public:
  using Job = std::function<void(pqxx::connection&)>;

  explicit QueryWorker(std::string uri) : uri_(std::move(uri)) {}
  ~QueryWorker();

  void start();
  // Ends the thread after the job in progress, and after the queued ones too when
  // `finish_queued` (the KMS answers only what it committed, so it lets queued writes finish).
  void stop(bool finish_queued = false);

  // Runs `job` on the worker's thread with an open connection. An exception from the job is
  // logged with `what` and the connection is renewed if it broke.
  void post(std::string what, Job job);

 private:
  void run();
  std::unique_ptr<pqxx::connection> connect_to_finish();

  std::string uri_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<std::pair<std::string, Job>> jobs_;
  std::atomic<bool> stopping_{false};
  bool finish_queued_ = false;
  std::unique_ptr<pqxx::connection> connection_;
  std::thread thread_;
};

}  // namespace fls
