// Keys in memory, checked on the real executables: each makes itself non-dumpable with a core
// size limit of 0, and a core taken on purpose (with the debug setting that allows it) after
// registration and signing holds none of the key material: neither the raw keys nor their hex
// text in either case. The sidecar runs against the KMS peer, which knows the keys it handed
// out; fls-kms is registered with by hand and the keys come from its reply.
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sodium.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>

#include "child_process.h"
#include "independent_crypto.h"
#include "sidecar_fixture.h"
#include "test_certificate.h"
#include "test_database.h"

namespace fls::test {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using json = nlohmann::json;

// ---- the process, from outside ----

// The pid the child writes in its JSON log lines (SIDE_LOG_FORMAT / KMS_LOG_FORMAT=json).
pid_t logged_pid(const ChildProcess& process) {
  const std::string output = process.output();
  const auto at = output.find("\"pid\":");
  return at == std::string::npos ? -1 : static_cast<pid_t>(std::atoi(output.c_str() + at + 6));
}

// "soft hard" from the "Max core file size" line of /proc/<pid>/limits.
std::string core_size_limit(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/limits");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("Max core file size", 0) != 0) continue;
    std::istringstream fields(line.substr(std::strlen("Max core file size")));
    std::string soft, hard;
    fields >> soft >> hard;
    return soft + " " + hard;
  }
  return "(no limits line)";
}

// The start of the first mapping of `pid`: an address that can be read there.
std::uintptr_t first_mapped_address(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/maps");
  std::string range;
  in >> range;
  return range.empty() ? 0 : std::stoull(range.substr(0, range.find('-')), nullptr, 16);
}

// 0 if one byte of `pid`'s memory can be read with process_vm_readv from a thread that lacks
// CAP_SYS_PTRACE in its effective set, else the errno. For a process of the same user (and with
// no capability beyond the caller's permitted ones) the kernel allows it exactly while the
// target is dumpable; without CAP_SYS_PTRACE (root has it) that is the deciding rule.
// Capabilities are per thread, so only the helper thread loses it.
int read_memory_without_ptrace_capability(pid_t pid) {
  const std::uintptr_t address = first_mapped_address(pid);
  if (address == 0) return ESRCH;
  int result = 0;
  std::thread([&] {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
    if (syscall(SYS_capget, &header, data) != 0) {
      result = errno;
      return;
    }
    data[CAP_TO_INDEX(CAP_SYS_PTRACE)].effective &= ~CAP_TO_MASK(CAP_SYS_PTRACE);
    if (syscall(SYS_capset, &header, data) != 0) {
      result = errno;
      return;
    }
    char byte = 0;
    iovec local{&byte, 1};
    iovec remote{reinterpret_cast<void*>(address), 1};
    result = process_vm_readv(pid, &local, 1, &remote, 1, 0) == 1 ? 0 : errno;
  }).join();
  return result;
}

// While alive, this process's soft core size limit is 1 byte (if its hard limit allows), so
// children started meanwhile inherit limits that are not 0 and the test sees them lower both;
// 1 byte is less than any core, so a child that crashes still writes none into the checkout.
class CoreLimitForChildren {
 public:
  CoreLimitForChildren() {
    getrlimit(RLIMIT_CORE, &saved_);
    rlimit raised = saved_;
    if (raised.rlim_max >= 1) raised.rlim_cur = 1;
    setrlimit(RLIMIT_CORE, &raised);
  }
  ~CoreLimitForChildren() { setrlimit(RLIMIT_CORE, &saved_); }
  // The limit a child inherits, as /proc/<pid>/limits writes it.
  static std::string inherited() {
    rlimit now{};
    getrlimit(RLIMIT_CORE, &now);
    const auto text = [](rlim_t v) { return v == RLIM_INFINITY ? std::string("unlimited") : std::to_string(v); };
    return text(now.rlim_cur) + " " + text(now.rlim_max);
  }

 private:
  rlimit saved_{};
};

// A core of the running process `pid`, taken with gdb's gcore (the process goes on running).
// Empty if gcore failed; its output is then in `log`.
std::string take_core(pid_t pid, std::string& log) {
  char dir_template[] = "/tmp/fls-core-XXXXXX";
  const char* dir = mkdtemp(dir_template);
  if (dir == nullptr) return {};
  const std::string prefix = std::string(dir) + "/core";
  const auto [status, output] =
      run_to_end("/usr/bin/gcore", {}, {"-o", prefix, std::to_string(pid)}, std::chrono::seconds(120));
  log = "gcore exit " + std::to_string(status) + ": " + output;
  const std::string path = prefix + "." + std::to_string(pid);
  std::ifstream in(path, std::ios::binary);
  std::string core((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  unlink(path.c_str());
  rmdir(dir);
  return core;
}

// ---- looking for key material in a core ----

// Every `width`-byte piece of each secret, looked for in one pass over a core. Pieces, not only
// whole keys: half a key in a freed buffer is a leak too. 8 raw bytes or 16 hex digits are 64
// bits of a key; by chance they occur in a core of a few hundred MB with odds far below 1e-9.
class SecretPieces {
 public:
  void add(const std::string& name, const std::string& secret, std::size_t width) {
    for (std::size_t at = 0; at + width <= secret.size(); ++at) {
      const std::uint64_t key = prefix(secret.data() + at);
      filter_[slot(key)] = true;
      pieces_[key].push_back(Piece{name, at, secret.substr(at, width)});
    }
  }

  // The secrets with a piece in `core`: name, which bytes, where (one line per secret).
  std::vector<std::string> found_in(const std::string& core) const {
    std::vector<std::string> found;
    std::set<std::string> named;
    for (std::size_t i = 0; i + 8 <= core.size(); ++i) {
      const std::uint64_t key = prefix(core.data() + i);
      if (!filter_[slot(key)]) continue;
      const auto it = pieces_.find(key);
      if (it == pieces_.end()) continue;
      for (const auto& piece : it->second) {
        if (core.compare(i, piece.bytes.size(), piece.bytes) == 0 && named.insert(piece.name).second) {
          found.push_back(piece.name + ": bytes " + std::to_string(piece.at) + ".." +
                          std::to_string(piece.at + piece.bytes.size()) + " at core offset " + std::to_string(i));
        }
      }
    }
    return found;
  }

 private:
  struct Piece {
    std::string name;
    std::size_t at;
    std::string bytes;
  };
  static constexpr int kFilterBits = 20;
  static std::uint64_t prefix(const char* p) {
    std::uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static std::size_t slot(std::uint64_t key) { return (key * 0x9E3779B97F4A7C15ull) >> (64 - kFilterBits); }

  std::vector<bool> filter_ = std::vector<bool>(std::size_t{1} << kFilterBits);
  std::unordered_map<std::uint64_t, std::vector<Piece>> pieces_;
};

std::string upper(std::string text) {
  for (auto& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

// A secret key, raw and as hex text in both cases.
void add_key(SecretPieces& pieces, const std::string& name, const Bytes& secret) {
  pieces.add(name + " (raw)", std::string(secret.begin(), secret.end()), 8);
  pieces.add(name + " (lower-case hex)", hex(secret), 16);
  pieces.add(name + " (upper-case hex)", upper(hex(secret)), 16);
}

// The row key, and the secret half of the batch key: its 64 bytes are the seed and then the
// public key, which is public (stored and sent as hex); the seed's pieces cover any copy of
// the whole 64 bytes.
SecretPieces key_pieces(const Bytes& row_key, const Bytes& batch_seed) {
  SecretPieces pieces;
  add_key(pieces, "row key", row_key);
  add_key(pieces, "batch key (seed half)", batch_seed);
  return pieces;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& line : lines) out += "\n  " + line;
  return out;
}

// ---- the sidecar ----

class SidecarKeyMemoryTest : public SidecarFixture {
 protected:
  std::unique_ptr<ChildProcess> start(bool debug_core_dumps) {
    const CoreLimitForChildren limit;
    inherited_limit_ = CoreLimitForChildren::inherited();
    return start_sidecar({{"SIDE_LOG_FORMAT", "json"},
                          {"SIDE_BATCH_SIZE", "25"},
                          {"SIDE_DEBUG_CORE_DUMPS", debug_core_dumps ? "true" : "false"}});
  }

  // Until the sidecar has handled the challenge's answer, which it reads after it has handled
  // (and wiped) the registration reply.
  void wait_for_registration(ChildProcess& sidecar) {
    ASSERT_TRUE(kms_->wait_until([&] { return kms_->registered_count_locked() >= 1; })) << sidecar.output();
    ASSERT_TRUE(sidecar.wait_for_output("registered with the KMS")) << sidecar.output();
  }

  std::string inherited_limit_;
};

TEST_F(SidecarKeyMemoryTest, IsNotDumpableAndCannotWriteACore) {
  auto sidecar = start(/*debug_core_dumps=*/false);
  wait_for_registration(*sidecar);
  const pid_t pid = logged_pid(*sidecar);
  ASSERT_GT(pid, 0) << sidecar->output();
  EXPECT_EQ(core_size_limit(pid), "0 0") << "inherited " << inherited_limit_;
  const int error = read_memory_without_ptrace_capability(pid);
  EXPECT_TRUE(error == EACCES || error == EPERM) << "process_vm_readv: " << std::strerror(error);
}

// Takes a core of the sidecar and looks for the keys of its registration in it.
void expect_no_key_material_in_core(pid_t pid, const PeerRegistration& registration, const char* when) {
  std::string log;
  const std::string core = take_core(pid, log);
  ASSERT_GT(core.size(), 1u << 20) << when << ": " << log;
  // The core is the process's memory: what it keeps in ordinary memory is there.
  EXPECT_NE(core.find(registration.sidecar_id), std::string::npos) << when << ": the sidecar id is not in the core";
  const auto leaks = key_pieces(registration.row_key, registration.batch_key.seed).found_in(core);
  EXPECT_TRUE(leaks.empty()) << when << ": key material in a core of " << core.size() << " bytes:" << joined(leaks);
}

TEST_F(SidecarKeyMemoryTest, CoresTakenAfterRegistrationAndAfterSigningHoldNoKeyMaterial) {
  auto sidecar = start(/*debug_core_dumps=*/true);
  wait_for_registration(*sidecar);
  EXPECT_NE(sidecar->output().find("SIDE_DEBUG_CORE_DUMPS=true"), std::string::npos) << "no warning logged";
  const pid_t pid = logged_pid(*sidecar);
  ASSERT_GT(pid, 0) << sidecar->output();
  // The debug setting leaves both alone: the same process dumps in production without it.
  EXPECT_EQ(core_size_limit(pid), inherited_limit_);
  EXPECT_EQ(read_memory_without_ptrace_capability(pid), 0);
  const auto registration = kms_->registrations().at(0);
  // Straight after registration, when the reply's traces would be freshest.
  expect_no_key_material_in_core(pid, registration, "after registration");

  std::vector<std::string> messages;
  for (int i = 0; i < 100; ++i) messages.push_back("transfer " + std::to_string(i) + " committed");
  send_frames(intake_port_, messages);
  ASSERT_TRUE(wait_for_acknowledged_events(100)) << sidecar->output();
  expect_no_key_material_in_core(pid, registration, "after 100 rows and 4 batches were signed");
}

// ---- the sidecar over wss://, against fls-kms ----

// Opens a key fls-kms stored sealed with `master_key` (secretbox: nonce, then the box).
Bytes unseal(const pqxx::binarystring& sealed, const Bytes& master_key, std::size_t size) {
  Bytes out(size);
  const auto* data = reinterpret_cast<const unsigned char*>(sealed.data());
  if (sealed.size() != crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + size ||
      crypto_secretbox_open_easy(out.data(), data + crypto_secretbox_NONCEBYTES,
                                 sealed.size() - crypto_secretbox_NONCEBYTES, data, master_key.data()) != 0) {
    return {};
  }
  return out;
}

// Over TLS the reply also passes through OpenSSL's record buffer (wiped once read, by the TLS
// policy); the keys are read back from fls-kms's database, opened with the master key given to it.
TEST(SidecarOverTlsKeyMemoryTest, CoreTakenAfterSigningHoldsNoKeyMaterial) {
  TestDatabase kms_db;
  TestDatabase sidecar_db;
  const TestCertificate certificate;
  const Bytes master_key = random_bytes(32);
  const std::uint16_t kms_port = free_port();
  const std::uint16_t intake_port = free_port();
  ChildProcess kms(kKmsBinary, {{"KMS_DATABASE_URI", kms_db.uri()},
                                {"KMS_DEV_MODE", "true"},  // no admin token, open registration
                                {"KMS_MASTER_KEY", hex(master_key)},
                                {"KMS_PORT", std::to_string(kms_port)},
                                {"KMS_BIND_ADDRESS", "127.0.0.1"},
                                {"KMS_TLS_CERT", certificate.cert_file()},
                                {"KMS_TLS_KEY", certificate.key_file()}});
  ASSERT_TRUE(kms.wait_for_output("serving wss://")) << kms.output();
  ChildProcess sidecar(kSidecarBinary, {{"SIDE_DATABASE_URI", sidecar_db.uri()},
                                        {"SIDE_KMS__URL", "wss://127.0.0.1:" + std::to_string(kms_port) + "/sidecar"},
                                        {"SIDE_KMS__CA_FILE", certificate.cert_file()},
                                        {"SIDE_PORT", std::to_string(intake_port)},
                                        {"SIDE_HEALTH_PORT", std::to_string(free_port())},
                                        {"SIDE_BIND_ADDRESS", "127.0.0.1"},
                                        {"SIDE_BATCH_SIZE", "25"},
                                        {"SIDE_LOG_FORMAT", "json"},
                                        {"SIDE_DEBUG_CORE_DUMPS", "true"}});
  ASSERT_TRUE(sidecar.wait_for_output("registered with the KMS")) << sidecar.output() << kms.output();
  std::vector<std::string> messages;
  for (int i = 0; i < 100; ++i) messages.push_back("transfer " + std::to_string(i) + " committed");
  send_frames(intake_port, messages);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (sidecar_db.count("SELECT count(*) FROM batches WHERE acknowledged IS NOT NULL") < 4 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // no event to wait on across processes
  }
  ASSERT_EQ(sidecar_db.count("SELECT count(*) FROM batches WHERE acknowledged IS NOT NULL"), 4) << sidecar.output();

  const auto stored = kms_db.query("SELECT sidecar_id, row_key_sealed, batch_key_sealed FROM kms_keys");
  ASSERT_EQ(stored.size(), 1u);
  const std::string sidecar_id = stored[0][0].c_str();
  const Bytes row_key = unseal(pqxx::binarystring(stored[0][1]), master_key, 32);
  const Bytes batch_key = unseal(pqxx::binarystring(stored[0][2]), master_key, 64);
  ASSERT_EQ(row_key.size(), 32u);
  ASSERT_EQ(batch_key.size(), 64u);

  const pid_t pid = logged_pid(sidecar);
  ASSERT_GT(pid, 0) << sidecar.output();
  std::string log;
  const std::string core = take_core(pid, log);
  ASSERT_GT(core.size(), 1u << 20) << log;
  EXPECT_NE(core.find(sidecar_id), std::string::npos) << "the sidecar id is not in the core";
  const auto leaks = key_pieces(row_key, Bytes(batch_key.begin(), batch_key.begin() + 32)).found_in(core);
  EXPECT_TRUE(leaks.empty()) << "key material in a core of " << core.size() << " bytes:" << joined(leaks);
}

// ---- fls-kms ----

std::string random_uuid() {
  std::string h = hex(random_bytes(16));
  h[12] = '4';
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

// The sidecar's side of registration (protocol.md §4), by hand over a blocking WebSocket whose
// reads and writes give up after 10 s. Keeps the connection open until destroyed.
class HandRegistration {
 public:
  explicit HandRegistration(std::uint16_t port) : ws_(io_) {
    auto& socket = ws_.next_layer();
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    const timeval limit{10, 0};
    setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit);
    setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    ws_.handshake("127.0.0.1:" + std::to_string(port), "/sidecar");
    ws_.text(true);
  }

  // Registers, answers the challenge, and keeps the keys the reply carried.
  void register_as(const std::string& service) {
    const json result = call("register", {{"id", random_uuid()}, {"serviceName", service}}).at("result");
    row_key = unhex(result.at("rowKey").get<std::string>());
    const Bytes batch_key = unhex(result.at("batchKey").get<std::string>());
    batch_seed.assign(batch_key.begin(), batch_key.begin() + 32);
    const std::string challenge = result.at("challenge");
    const json answer = call("challenge", {{"rowSignature", hex(rfc4493_cmac(row_key, challenge))},
                                           {"batchSignature", hex(ed25519_sign(batch_seed, challenge))}});
    passed = answer.contains("result") && answer["result"].value("status", "") == "OK";
  }

  Bytes row_key;
  Bytes batch_seed;
  bool passed = false;

 private:
  json call(const std::string& method, json params) {
    ws_.write(
        asio::buffer(json{{"jsonrpc", "2.0"}, {"id", random_uuid()}, {"method", method}, {"params", params}}.dump()));
    beast::flat_buffer buffer;
    ws_.read(buffer);
    return json::parse(beast::buffers_to_string(buffer.data()));
  }

  asio::io_context io_;
  websocket::stream<tcp::socket> ws_;
};

class KmsKeyMemoryTest : public ::testing::Test {
 protected:
  std::unique_ptr<ChildProcess> start_kms(bool debug_core_dumps) {
    const CoreLimitForChildren limit;
    inherited_limit_ = CoreLimitForChildren::inherited();
    auto kms = std::make_unique<ChildProcess>(
        kKmsBinary, std::map<std::string, std::string>{{"KMS_DATABASE_URI", db_.uri()},
                                                       {"KMS_DEV_MODE", "true"},
                                                       {"KMS_PORT", std::to_string(port_)},
                                                       {"KMS_BIND_ADDRESS", "127.0.0.1"},
                                                       {"KMS_LOG_FORMAT", "json"},
                                                       {"KMS_DEBUG_CORE_DUMPS", debug_core_dumps ? "true" : "false"}});
    EXPECT_TRUE(kms->wait_for_output("serving")) << kms->output();
    return kms;
  }

  TestDatabase db_;
  std::uint16_t port_ = free_port();
  std::string inherited_limit_;
};

TEST_F(KmsKeyMemoryTest, IsNotDumpableAndCannotWriteACore) {
  auto kms = start_kms(/*debug_core_dumps=*/false);
  const pid_t pid = logged_pid(*kms);
  ASSERT_GT(pid, 0) << kms->output();
  EXPECT_EQ(core_size_limit(pid), "0 0") << "inherited " << inherited_limit_;
  const int error = read_memory_without_ptrace_capability(pid);
  EXPECT_TRUE(error == EACCES || error == EPERM) << "process_vm_readv: " << std::strerror(error);
}

// Raw keys only: fls-kms's register reply (src/kms_server/kms_service.cc builds the keys' hex
// into strings and serialises them into the text src/http/http_server.cc queues) is freed
// without being wiped, so their hex is in its freed heap memory until reused; a core taken here
// shows it. docs/security.md lists it under what is not protected.
TEST_F(KmsKeyMemoryTest, CoreTakenAfterIssuingKeysHoldsNoRawKey) {
  auto kms = start_kms(/*debug_core_dumps=*/true);
  const pid_t pid = logged_pid(*kms);
  ASSERT_GT(pid, 0) << kms->output();
  EXPECT_EQ(core_size_limit(pid), inherited_limit_);
  EXPECT_EQ(read_memory_without_ptrace_capability(pid), 0);

  HandRegistration sidecar(port_);
  sidecar.register_as("key-memory");
  ASSERT_TRUE(sidecar.passed) << kms->output();
  ASSERT_TRUE(kms->wait_for_output("passed the challenge")) << kms->output();

  std::string log;
  const std::string core = take_core(pid, log);
  ASSERT_GT(core.size(), 1u << 20) << log;
  SecretPieces raw;
  raw.add("row key (raw)", std::string(sidecar.row_key.begin(), sidecar.row_key.end()), 8);
  raw.add("batch key seed (raw)", std::string(sidecar.batch_seed.begin(), sidecar.batch_seed.end()), 8);
  const auto leaks = raw.found_in(core);
  EXPECT_TRUE(leaks.empty()) << "raw key material in a core of " << core.size() << " bytes:" << joined(leaks);
}

}  // namespace
}  // namespace fls::test
