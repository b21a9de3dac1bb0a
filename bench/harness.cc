#include "harness.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <sstream>

namespace flsbench {

long long scalar(pqxx::transaction_base& tx, const std::string& sql) { return tx.exec(sql)[0][0].as<long long>(); }

// The last lines of a child's log, for error messages.
std::string log_tail(const ChildProcess& child) {
  const std::string tail = flsbench::tail_lines(child.output(), 15);
  return tail.empty() ? "(empty)\n" : tail;
}

void wait_http_ok(const std::string& name, ChildProcess& child, std::uint16_t port, const std::string& path,
                  std::chrono::seconds bound) {
  const auto start = Clock::now();
  int last = -1;
  while (true) {
    flsbench::check_interrupted();
    if (!child.running()) {
      throw Failure(name + " exited (status " + std::to_string(child.exit_status()) + ") before GET " + path +
                    " answered 200; last lines of " + child.output_path() + ":\n" + log_tail(child));
    }
    last = flsbench::http_get(port, path, nullptr, 1s);
    if (last == 200) return;
    if (Clock::now() - start > bound) {
      throw Failure(name + ": GET http://127.0.0.1:" + std::to_string(port) + path + " did not answer 200 within " +
                    std::to_string(bound.count()) + " s (last answer: " + (last < 0 ? "none" : std::to_string(last)) +
                    "); last lines of " + child.output_path() + ":\n" + log_tail(child));
    }
    std::this_thread::sleep_for(100ms);
  }
}

int connect_loopback(std::uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    const std::string error = std::strerror(errno);
    close(fd);
    throw Failure("cannot connect to the sidecar on 127.0.0.1:" + std::to_string(port) + ": " + error);
  }
  return fd;
}

double metric(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, name.size() + 1, name + " ") == 0) return std::atof(line.c_str() + name.size() + 1);
  }
  return NAN;
}

std::string fixed(double v, int decimals) {
  if (std::isnan(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

void print_table(const std::vector<std::string>& header, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width(header.size());
  for (std::size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      if (i > 0) out += "  ";
      out += std::string(width[i] - cells[i].size(), ' ') + cells[i];
    }
    std::cout << out << "\n";
  };
  line(header);
  std::vector<std::string> rule;
  for (auto w : width) rule.push_back(std::string(w, '-'));
  line(rule);
  for (const auto& row : rows) line(row);
}

namespace {

// How many events are committed, without loading the database being measured: the sidecar's
// fls_sidecar_events_stored_total, which its committer raises right after each COMMIT returns.
// Polled every 20 ms, count(*) on a 100 MB table would take a CPU core from the system it
// measures, and even a probe of the highest sequence took ~2 ms of the sidecar's database each
// time (it walks the in-flight COPY's index entries). The reading is always confirmed with
// count(*) before it is believed. -1 if /metrics did not answer.
long long events_stored(std::uint16_t health_port) {
  std::string text;
  if (http_get(health_port, "/metrics", &text, std::chrono::seconds(2)) != 200) return -1;
  const double value = metric(text, "fls_sidecar_events_stored_total");
  return std::isnan(value) ? -1 : static_cast<long long>(value);
}
constexpr const char* kCountSql = "SELECT count(*) FROM events";

Failure sidecar_exited(ChildProcess& sidecar, const std::string& reached) {
  return Failure("the sidecar exited (status " + std::to_string(sidecar.exit_status()) + ") at " + reached +
                 "; last lines of " + sidecar.output_path() + ":\n" + log_tail(sidecar));
}

}  // namespace

CommitWait wait_all_committed(Services& services, LoadWriters& writers, pqxx::transaction_base& poll,
                              Clock::time_point started, std::chrono::milliseconds poll_interval, bool poll_count) {
  ChildProcess& sidecar = *services.sidecar;
  CommitWait out;
  const long long total = writers.spec().total();
  const auto load_bound = std::chrono::seconds(120 + total * writers.spec().size / 1'000'000);
  long long count = 0, last_count = -1;
  auto last_progress = started;
  auto next = started;
  while (true) {
    check_interrupted();
    count = poll_count ? scalar(poll, kCountSql) : events_stored(services.health_port);
    const auto now = Clock::now();
    if (count >= total && !poll_count) {
      // Believe the cheap reading only when count(*) agrees; otherwise poll count(*) itself.
      const long long counted = scalar(poll, kCountSql);
      if (counted != total) {
        out.note += "the sidecar said " + std::to_string(count) + " events stored, count(*) " +
                    std::to_string(counted) + ": polled count(*) from then on; ";
        poll_count = true;
        count = counted;
      }
    }
    if (count >= total) {
      out.committed = now;
      return out;
    }
    if (count != last_count) {
      last_count = count;
      last_progress = now;
    }
    const std::string reached = "events " + std::to_string(count) + "/" + std::to_string(total) + ", writers done " +
                                std::to_string(writers.finished()) + "/" + std::to_string(writers.spec().connections);
    if (!sidecar.running()) throw sidecar_exited(sidecar, reached);
    if (const std::string error = writers.error(); !error.empty()) {
      // A sidecar that died resets the connections before it can be reaped: give it a moment.
      std::this_thread::sleep_for(300ms);
      if (!sidecar.running()) throw sidecar_exited(sidecar, reached);
      throw Failure("client " + error + " at " + reached);
    }
    if (now - last_progress > kStallTimeout) throw Failure("no event committed for 30 s at " + reached);
    if (now - started > load_bound) {
      throw Failure("not all events committed within " + std::to_string(load_bound.count()) + " s: " + reached);
    }
    next = std::max(next + poll_interval, Clock::now());  // a slow query delays, never bunches, the polls
    std::this_thread::sleep_until(next);
  }
}

Clock::time_point wait_all_acknowledged(Services& services, pqxx::transaction_base& poll, Clock::time_point committed,
                                        std::chrono::milliseconds poll_interval) {
  const std::string ack_sql = "SELECT count(*) FROM batches WHERE data IS NULL OR acknowledged IS NULL";
  auto next = Clock::now();
  while (true) {
    check_interrupted();
    const long long open = scalar(poll, ack_sql);
    const auto now = Clock::now();
    if (open == 0) return now;
    if (!services.sidecar->running()) {
      throw Failure("the sidecar exited (status " + std::to_string(services.sidecar->exit_status()) +
                    ") while batches were open or unacknowledged");
    }
    if (now - committed > kAckTimeout) {
      throw Failure("60 s after the last event was committed: batches open or unacknowledged " + std::to_string(open));
    }
    next = std::max(next + poll_interval, Clock::now());  // a slow query delays, never bunches, the polls
    std::this_thread::sleep_until(next);
  }
}

}  // namespace flsbench
