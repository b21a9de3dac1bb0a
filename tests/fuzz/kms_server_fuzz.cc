// libFuzzer target for fls-kms's judgement of untrusted input, the parts that need no database:
//
// Input layout: byte 0 selects what the rest is.
//   0  an inquiry-response body, through verify_result against a batch the KMS "received" from
//      a registration whose keys are fixed (RFC 8032 §7.1 test 1, an arbitrary AES key), then
//      sequence_runs over the result
//   1  triples of bytes (total, item, has_batch & 1) through AnswerProgress, as one sidecar's
//      inquiry-responses in arrival order
//   2  an Authorization header value through bearer_credentials
//   3  any text through parse_external_json, whose value is then copied and serialised (both
//      recursive in nlohmann::json: the crash of deep input this bounds)
//
// Invariants (__builtin_trap() otherwise): a result verifies only with every row verified and
// none of them malformed; a response that does not count leaves the answer's completeness as it
// was; a parsed value is never nested deeper than the limit. Crashes, sanitizer reports and
// escaping exceptions are findings too.
#include <sodium.h>

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "fls/common/json_input.h"
#include "fls/http/authorization.h"
#include "fls/kms_server/verdict.h"

namespace {

constexpr const char* kSidecar = "00000000-0000-4000-8000-00000000000a";
constexpr const char* kBatch = "00000000-0000-4000-9000-000000000001";

class FixedKeys final : public fls::kms::KeyLookup {
 public:
  FixedKeys() : keys_{kSidecar, {}, fls::SecretBytes(32)} {
    unsigned char seed[32] = {0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a,
                              0xf4, 0x92, 0xec, 0x2c, 0xc4, 0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32,
                              0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60};
    unsigned char secret[64];
    crypto_sign_seed_keypair(keys_.public_key.data(), secret, seed);
    for (std::size_t i = 0; i < 32; ++i) keys_.row_key.data()[i] = static_cast<std::uint8_t>(i);
  }
  const fls::kms::SidecarKeys* find(const std::string& sidecar_id) override {
    return sidecar_id == kSidecar ? &keys_ : nullptr;
  }

 private:
  fls::kms::SidecarKeys keys_;
};

void verify_body(std::string_view body) {
  static FixedKeys keys;
  const fls::kms::KnownBatch known{kBatch, kSidecar, std::string(128, '0'), 0};
  const auto verdict = fls::kms::verify_result(kBatch, std::string(body), &known, keys);
  if (verdict.verified && (verdict.rows == 0 || verdict.rows_verified != verdict.rows)) __builtin_trap();
  if (verdict.rows_verified > verdict.rows || verdict.row_keys.size() > verdict.rows) __builtin_trap();
  const auto runs = fls::kms::sequence_runs(verdict.row_keys);
  if (runs.size() > verdict.row_keys.size()) __builtin_trap();
  for (std::size_t i = 1; i < runs.size(); ++i) {
    // Sorted, and within one key never touching: a gap lies between every two runs of a key.
    if (runs[i - 1].key_id > runs[i].key_id) __builtin_trap();
    if (runs[i - 1].key_id == runs[i].key_id && runs[i].first <= runs[i - 1].last + 1) __builtin_trap();
  }
}

void replay_answers(std::string_view bytes) {
  fls::kms::AnswerProgress progress;
  for (std::size_t i = 0; i + 3 <= bytes.size(); i += 3) {
    const bool was_complete = progress.complete();
    const auto problem = progress.add(static_cast<std::int8_t>(bytes[i]), static_cast<std::int8_t>(bytes[i + 1]),
                                      (bytes[i + 2] & 1) != 0);
    if (problem && progress.complete() != was_complete) __builtin_trap();
  }
}

void parse_bearer(std::string_view value) {
  fls::HttpRequest request;
  request.headers.emplace_back("Authorization", std::string(value));
  const auto credentials = fls::bearer_credentials(request);
  if (credentials.status == fls::BearerCredentials::Status::ok &&
      (credentials.token.empty() || credentials.token.find(' ') != std::string::npos)) {
    __builtin_trap();
  }
}

void parse_json(std::string_view text) {
  nlohmann::json value;
  if (fls::parse_external_json(text, value) != fls::JsonInput::ok) return;
  const nlohmann::json copy = value;  // recursive
  const std::string dumped = copy.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (fls::json_nesting_depth(dumped, fls::kMaxExternalJsonDepth) > fls::kMaxExternalJsonDepth) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      verify_body(rest);
      break;
    case 1:
      replay_answers(rest);
      break;
    case 2:
      parse_bearer(rest);
      break;
    default:
      parse_json(rest);
      break;
  }
  return 0;
}
