// libFuzzer target for the sidecar's handling of KMS messages: fls::KmsClient::handle_text
// (protocol.md §4), on a client whose WebSocket is a fake that never touches the network.
//
// Input layout:
//   byte 0   flags
//              0x01  inject a well-formed registration (register result with valid keys for
//                    the pending register request, then the challenge result)
//              0x02  after the injected registration, hand the client batches to send
//              0x0c  (bits 2-3) number of those batches - 1
//              0x10  the injected challenge result is an error (40004) instead of "OK"
//              0x20  the injected keys are in upper case (as the central KMS sends them)
//   byte 1   (low 3 bits) how many fuzzed messages come before the injected registration
//   rest     KMS messages separated by '\n', each given to handle_text in turn, with the
//            io_context polled between them
// In ASCII: "@0" injects nothing, "A0" registers first, "C0" registers and sends one batch,
// "O0" four batches, "a0" registers with upper-case keys, "A2" registers after two messages.
//
// Ids are deterministic: the client's first uuid (00000000-0000-4000-8000-000000000001) is the
// sidecar id, the second the register request, the third the challenge request, the next ones
// the batch requests, so seeds can answer them (tests/fuzz/corpus/kms_message).
//
// Invariant: every text the client sends is a JSON object with "jsonrpc":"2.0"
// (__builtin_trap() otherwise). Crashes, sanitizer reports and escaping exceptions are findings.
#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "counting_ids.h"
#include "fake_ws_transport.h"
#include "fls/common/clock.h"
#include "fls/common/ids.h"
#include "fls/kms/kms_client.h"
#include "fls/kms/ws_transport.h"

namespace {

namespace asio = boost::asio;
using json = nlohmann::json;

// RFC 8032 §7.1 test 1: the ed25519 seed followed by its public key (the batchKey layout), and
// an arbitrary 32-byte AES key.
constexpr const char* kBatchKeyHex =
    "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"
    "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
constexpr const char* kRowKeyHex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

std::string upper(std::string text) {
  for (char& c : text) {
    if (c >= 'a' && c <= 'f') c = static_cast<char>(c - 'a' + 'A');
  }
  return text;
}

// Everything the client sent on any of its connections, parsed.
struct Sent {
  std::vector<json> messages;
};

void check_sent(const std::string& text, Sent& sent) {
  json message = json::parse(text, nullptr, false);
  if (message.is_discarded() || !message.is_object()) __builtin_trap();
  const auto version = message.find("jsonrpc");
  if (version == message.end() || !version->is_string() || version->get_ref<const std::string&>() != "2.0") {
    __builtin_trap();
  }
  sent.messages.push_back(std::move(message));
}

class FakeClock final : public fls::Clock {
 public:
  fls::EpochMillis now_ms() const override { return 1'500'041'775'123; }  // 2017-07-14T14:16:15.123Z
};

using fls::test::CountingIds;

class NullBackend final : public fls::KmsBackend {
 public:
  void registered(fls::Registration) override {}
  void acknowledged(std::string) override {}
  std::uint64_t events_last_hour() override { return 42; }
  // Never answers (sending would block this thread, which is also the I/O thread).
  void answer_inquiry(fls::InquiryRequest, std::shared_ptr<fls::InquiryReplies>) override {}
};

// Runs whatever is ready. poll() stops the io_context when it runs out of work; restart first.
void pump(asio::io_context& io) {
  io.restart();
  io.poll();
}

// The newest request the client sent with this method, or nullptr.
const json* last_request(const Sent& sent, const char* method) {
  for (auto it = sent.messages.rbegin(); it != sent.messages.rend(); ++it) {
    const auto m = it->find("method");
    if (m != it->end() && m->is_string() && m->get_ref<const std::string&>() == method) return &*it;
  }
  return nullptr;
}

void inject_registration(fls::KmsClient& client, asio::io_context& io, const Sent& sent, std::uint8_t flags) {
  const json* request = last_request(sent, "register");
  if (request == nullptr || !request->contains("id")) return;
  std::string sidecar_id = "00000000-0000-4000-8000-000000000001";
  if (const auto params = request->find("params"); params != request->end() && params->is_object()) {
    if (const auto id = params->find("id"); id != params->end() && id->is_string()) sidecar_id = id->get<std::string>();
  }
  const bool upper_keys = flags & 0x20;
  json result = {{"jsonrpc", "2.0"},
                 {"id", (*request)["id"]},
                 {"result",
                  {{"id", sidecar_id},
                   {"batchKey", upper_keys ? upper(kBatchKeyHex) : std::string(kBatchKeyHex)},
                   {"rowKey", upper_keys ? upper(kRowKeyHex) : std::string(kRowKeyHex)},
                   {"challenge", "fuzz challenge"}}}};
  client.handle_text(result.dump());
  pump(io);

  const json* challenge = last_request(sent, "challenge");
  if (challenge == nullptr || !challenge->contains("id")) return;
  json answer = {{"jsonrpc", "2.0"}, {"id", (*challenge)["id"]}};
  if (flags & 0x10) {
    answer["error"] = {{"code", 40004}, {"message", "Bad batch signature"}};
  } else {
    answer["result"] = {{"status", "OK"}};
  }
  client.handle_text(answer.dump());
  pump(io);

  if (flags & 0x02) {
    std::vector<fls::BatchToSend> batches;
    const int count = ((flags >> 2) & 3) + 1;
    for (int i = 1; i <= count; ++i) {
      batches.push_back({"00000000-0000-4000-9000-00000000000" + std::to_string(i), std::string(128, 'a')});
    }
    client.send(sidecar_id, std::move(batches));
    pump(io);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // The client logs every odd message; at fuzzing speed that is only noise. FLS_FUZZ_LOG=1
  // keeps the log, to follow what one input (a reproducer) does.
  const char* log = std::getenv("FLS_FUZZ_LOG");
  spdlog::set_level(log != nullptr && std::string_view(log) == "1" ? spdlog::level::debug : spdlog::level::off);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::uint8_t flags = data[0];
  const std::size_t inject_after = data[1] & 7u;
  const std::string_view rest(reinterpret_cast<const char*>(data + 2), size - 2);

  // A fresh client per input, so every input replays the same way (and ids are predictable).
  Sent sent;
  {
    asio::io_context io;
    FakeClock clock;
    CountingIds ids;
    NullBackend backend;
    fls::KmsClientOptions options;
    options.url = fls::KmsUrl{false, "localhost", 8080, "/sidecar"};
    options.url_text = "ws://localhost:8080/sidecar";
    options.service_name = "FuzzService";
    // Reconnect at once after a drop, so later messages meet a live connection again.
    options.reconnect_interval = std::chrono::milliseconds(0);

    auto factory = [&io, &sent](fls::WsEvents events) -> std::shared_ptr<fls::WsTransport> {
      return std::make_shared<fls::test::FakeWsTransport>(io, std::move(events),
                                                          [&sent](const std::string& text) { check_sent(text, sent); });
    };
    auto client = std::make_shared<fls::KmsClient>(io, factory, clock, ids, backend, std::move(options));
    client->start();
    pump(io);  // connect: open, and the register request is pending

    std::size_t handled = 0;
    bool injected = false;
    std::size_t pos = 0;
    while (true) {
      if ((flags & 0x01) && !injected && handled == inject_after) {
        injected = true;
        inject_registration(*client, io, sent, flags);
      }
      if (pos > rest.size()) break;
      const std::size_t end = std::min(rest.find('\n', pos), rest.size());
      client->handle_text(std::string(rest.substr(pos, end - pos)));
      pump(io);
      ++handled;
      pos = end + 1;
    }
    if ((flags & 0x01) && !injected) inject_registration(*client, io, sent, flags);

    client->stop();
    pump(io);
    client.reset();
    pump(io);  // whatever the client's timers and posts still hold
  }
  return 0;
}
