// fls::QueryWorker against a real PostgreSQL: jobs run in the order posted on one connection, a
// throwing job is logged and the next one runs, a lost connection is renewed, and stop() ends
// after the job in progress, with or without the queued ones.
#include "fls/pg/query_worker.h"

#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <pqxx/pqxx>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "test_database.h"

namespace fls {
namespace {

using namespace std::chrono_literals;

int backend_pid(pqxx::connection& connection) {
  pqxx::nontransaction tx(connection);
  return tx.exec("SELECT pg_backend_pid()")[0][0].as<int>();
}

// What spdlog's default logger writes while it lives.
class CapturedLog {
 public:
  CapturedLog() : previous_(spdlog::default_logger()) {
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out_);
    spdlog::set_default_logger(std::make_shared<spdlog::logger>("captured", sink));
  }
  ~CapturedLog() { spdlog::set_default_logger(previous_); }
  std::string text() {
    spdlog::default_logger()->flush();
    return out_.str();
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
};

// Waits until every job posted so far has run (the worker runs them in order), then stops it.
void drain_and_stop(QueryWorker& worker) {
  std::promise<void> done;
  auto future = done.get_future();
  worker.post("drain", [&](pqxx::connection&) { done.set_value(); });
  ASSERT_EQ(future.wait_for(30s), std::future_status::ready) << "the jobs did not run within 30 s";
  worker.stop();
}

TEST(QueryWorker, RunsJobsInTheOrderPostedOnOneConnection) {
  test::TestDatabase db;
  QueryWorker worker(db.uri());
  worker.start();
  std::vector<int> order;
  std::vector<int> pids;
  for (int i = 0; i < 20; ++i) {
    worker.post("job " + std::to_string(i), [&, i](pqxx::connection& connection) {
      order.push_back(i);  // only the worker's thread touches these until stop() returns
      pids.push_back(backend_pid(connection));
    });
  }
  drain_and_stop(worker);
  std::vector<int> expected;
  for (int i = 0; i < 20; ++i) expected.push_back(i);
  EXPECT_EQ(order, expected);
  ASSERT_EQ(pids.size(), 20u);
  for (int pid : pids) EXPECT_EQ(pid, pids.front());
}

TEST(QueryWorker, AThrowingJobIsLoggedAndTheNextOneRuns) {
  test::TestDatabase db;
  db.query("CREATE TABLE t (n integer)");
  CapturedLog log;
  QueryWorker worker(db.uri());
  worker.start();
  worker.post("the failing job", [](pqxx::connection&) { throw std::runtime_error("it went wrong"); });
  worker.post("the bad query", [](pqxx::connection& connection) {
    pqxx::work tx(connection);
    tx.exec("INSERT INTO no_such_table VALUES (1)");
    tx.commit();
  });
  int pid_after = 0;
  worker.post("the next job", [&](pqxx::connection& connection) {
    pqxx::work tx(connection);
    tx.exec("INSERT INTO t VALUES (1)");
    tx.commit();
    pid_after = backend_pid(connection);
  });
  drain_and_stop(worker);
  EXPECT_EQ(db.count("SELECT count(*) FROM t"), 1);
  EXPECT_NE(pid_after, 0);
  const std::string text = log.text();
  EXPECT_NE(text.find("the failing job failed: it went wrong"), std::string::npos) << text;
  EXPECT_NE(text.find("the bad query failed:"), std::string::npos) << text;
  EXPECT_NE(text.find("no_such_table"), std::string::npos) << text;
}

TEST(QueryWorker, ALostConnectionIsReplacedForTheNextJob) {
  test::TestDatabase db;
  CapturedLog log;
  QueryWorker worker(db.uri());
  worker.start();
  int first_pid = 0, second_pid = 0;
  worker.post("the job whose connection dies", [&](pqxx::connection& connection) {
    first_pid = backend_pid(connection);
    pqxx::nontransaction tx(connection);
    tx.exec("SELECT pg_terminate_backend(pg_backend_pid())");
  });
  worker.post("the next job", [&](pqxx::connection& connection) { second_pid = backend_pid(connection); });
  drain_and_stop(worker);
  EXPECT_NE(first_pid, 0);
  EXPECT_NE(second_pid, 0);
  EXPECT_NE(second_pid, first_pid);
  EXPECT_NE(log.text().find("the job whose connection dies failed"), std::string::npos) << log.text();
}

// Posts a job that blocks until released, then one queued behind it, and stops the worker while
// the first still runs.
void stop_during_a_job(bool finish_queued, std::atomic<bool>& queued_ran) {
  test::TestDatabase db;
  QueryWorker worker(db.uri());
  worker.start();
  std::atomic<bool> started{false}, release{false}, first_done{false};
  worker.post("the running job", [&](pqxx::connection&) {
    started = true;
    while (!release) std::this_thread::sleep_for(5ms);
    first_done = true;
  });
  worker.post("the queued job", [&](pqxx::connection&) { queued_ran = true; });
  while (!started) std::this_thread::sleep_for(5ms);
  std::thread stopper([&] { worker.stop(finish_queued); });
  std::this_thread::sleep_for(200ms);  // stop() has asked by now and waits for the running job
  release = true;
  stopper.join();
  EXPECT_TRUE(first_done);  // the job in progress is never cut short
}

TEST(QueryWorker, StopWithoutFinishingDropsTheQueuedJobs) {
  std::atomic<bool> queued_ran{false};
  stop_during_a_job(/*finish_queued=*/false, queued_ran);
  EXPECT_FALSE(queued_ran);
}

TEST(QueryWorker, StopFinishingQueuedRunsThemFirst) {
  std::atomic<bool> queued_ran{false};
  stop_during_a_job(/*finish_queued=*/true, queued_ran);
  EXPECT_TRUE(queued_ran);
}

}  // namespace
}  // namespace fls

namespace fls {
namespace {

// stop(finish_queued=true) runs the queued jobs even when the worker has no open connection at
// that moment (none made yet, or the last one broke): its retries end when the stop begins, so
// it connects once more for them. Without that, every queued job was dropped silently, and
// PgKmsStore's callbacks for them never ran. Here the jobs are posted and stop(true) is called
// before the worker's thread has connected.
TEST(QueryWorker, StopFinishingQueuedRunsJobsPostedBeforeTheFirstConnection) {
  test::TestDatabase db;
  QueryWorker worker(db.uri());
  worker.start();
  std::atomic<int> ran{0};
  for (int i = 0; i < 3; ++i) worker.post("job", [&](pqxx::connection&) { ++ran; });
  worker.stop(/*finish_queued=*/true);
  EXPECT_EQ(ran, 3);
}

}  // namespace
}  // namespace fls
