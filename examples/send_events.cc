// Sends audit events to a sidecar the way a Mojaloop service would: one JSON event envelope
// (message, metadata.event, metadata.trace) per frame.
//
//   send_events [--host H] [--port P] [--count N] [--service NAME]
#include <boost/uuid/uuid_generators.hpp>
#include <boost/uuid/uuid_io.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "client/sidecar_client.h"

namespace {

std::string iso_now() {
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  const auto t = std::chrono::system_clock::to_time_t(now);
  char buffer[40];
  std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", std::gmtime(&t));
  return std::string(buffer) + "." + (ms < 100 ? (ms < 10 ? "00" : "0") : "") + std::to_string(ms) + "Z";
}

std::string random_hex(std::mt19937_64& random, int digits) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < digits; ++i) out.push_back(kDigits[random() % 16]);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  std::uint16_t port = 5678;
  int count = 100;
  std::string service = "central-ledger-prepare-handler";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--host"))
      host = argv[i + 1];
    else if (!std::strcmp(argv[i], "--port"))
      port = static_cast<std::uint16_t>(std::stoi(argv[i + 1]));
    else if (!std::strcmp(argv[i], "--count"))
      count = std::stoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--service"))
      service = argv[i + 1];
    else {
      std::cerr << "usage: send_events [--host H] [--port P] [--count N] [--service NAME]\n";
      return 2;
    }
  }

  fls::client::SidecarClient client(host, port);
  std::mt19937_64 random(std::random_device{}());
  boost::uuids::random_generator uuid;
  for (int i = 0; i < count; ++i) {
    const std::string transfer = boost::uuids::to_string(uuid());
    const nlohmann::ordered_json envelope{{"id", boost::uuids::to_string(uuid())},
                                          {"from", "dfsp1"},
                                          {"to", "dfsp2"},
                                          {"type", "application/json"},
                                          {"content",
                                           {{"transferId", transfer},
                                            {"amount", {{"amount", std::to_string(10 + i)}, {"currency", "USD"}}},
                                            {"transferState", "COMMITTED"}}},
                                          {"metadata",
                                           {{"event",
                                             {{"id", boost::uuids::to_string(uuid())},
                                              {"type", "audit"},
                                              {"action", "commit"},
                                              {"createdAt", iso_now()},
                                              {"state", {{"status", "success"}, {"code", 0}}}}},
                                            {"trace",
                                             {{"service", service},
                                              {"traceId", random_hex(random, 32)},
                                              {"spanId", random_hex(random, 16)},
                                              {"sampled", 1},
                                              {"flags", "01"},
                                              {"tags", {{"transactionId", transfer}}}}}}}};
    if (!client.write(envelope.dump())) {
      std::cerr << "send_events: the sidecar at " << host << ":" << port << " did not take message " << i + 1 << "\n";
      return 1;
    }
  }
  std::cout << "send_events: sent " << count << " audit events to " << host << ":" << port << "\n";
  return 0;
}
