#include "fls/pg/query_worker.h"

#include <spdlog/spdlog.h>

#include "fls/pg/connection_policy.h"
#include "fls/pg/pg_connection.h"

namespace fls {

QueryWorker::~QueryWorker() { stop(); }

void QueryWorker::start() {
  thread_ = std::thread([this] { run(); });
}

void QueryWorker::stop(bool finish_queued) {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    finish_queued_ = finish_queued;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void QueryWorker::post(std::string what, Job job) {
  {
    std::lock_guard lock(mutex_);
    jobs_.emplace_back(std::move(what), std::move(job));
  }
  cv_.notify_one();
}

void QueryWorker::run() {
  for (;;) {
    std::pair<std::string, Job> job;
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (stopping_ && (!finish_queued_ || jobs_.empty())) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    if (connection_ && !connection_->is_open()) connection_.reset();
    if (!connection_) connection_ = connect_with_retry(uri_, "query worker", stopping_);
    if (!connection_ && !(connection_ = connect_to_finish())) return;
    try {
      job.second(*connection_);
    } catch (const pqxx::broken_connection& e) {
      spdlog::error("{} failed: database connection lost: {}", job.first, e.what());
      connection_.reset();
    } catch (const std::exception& e) {
      spdlog::error("{} failed: {}", job.first, e.what());
    }
  }
}

std::unique_ptr<pqxx::connection> QueryWorker::connect_to_finish() {
  std::size_t queued = 0;
  {
    std::lock_guard lock(mutex_);
    if (!finish_queued_) return nullptr;  // stopped without finishing: the queue is dropped
    queued = jobs_.size() + 1;            // with the one taken
  }
  // Stopping with queued jobs to finish: the retries ended when the stop began, so one more
  // attempt, bounded by the connection policy's connect_timeout.
  try {
    return std::make_unique<pqxx::connection>(with_connection_policy(uri_));
  } catch (const std::exception& e) {
    spdlog::error("query worker cannot connect to finish its {} queued job(s), which are not run: {}", queued,
                  e.what());
    return nullptr;
  }
}

}  // namespace fls
