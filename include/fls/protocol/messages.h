#pragma once
// The KMS protocol's methods (protocol.md §4), typed: what each end sends as params or result,
// and what it accepts from the other. Encoders write the fields in the order both ends have
// always sent them; decoders check what the receiving end relies on and say what is missing in
// the error they return.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>

#include "fls/common/iso_time.h"
#include "fls/common/secret_bytes.h"
#include "fls/protocol/jsonrpc.h"

namespace fls::protocol {

template <class T>
using Decoded = std::variant<T, Error>;

// Method names as sent.
inline constexpr char kRegister[] = "register";
inline constexpr char kChallenge[] = "challenge";
inline constexpr char kBatch[] = "batch";
inline constexpr char kHealthcheck[] = "healthcheck";
inline constexpr char kInquiry[] = "inquiry";
inline constexpr char kInquiryResponse[] = "inquiry-response";

inline constexpr std::size_t kRowKeySize = 32;    // AES-256-CMAC
inline constexpr std::size_t kBatchKeySize = 64;  // ed25519 seed followed by its public key

// register (sidecar -> KMS)
struct RegisterParams {
  std::string sidecar_id;  // decoded in lower case
  std::string service_name;
};
OrderedJson encode(const RegisterParams& params);
Decoded<RegisterParams> decode_register_params(const nlohmann::json& params);

// register result (KMS -> sidecar). The keys travel as hex; the KMS writes upper case.
struct RegisterResult {
  std::string sidecar_id;
  std::optional<SecretBytes> row_key;    // nullopt: not kRowKeySize bytes of hex
  std::optional<SecretBytes> batch_key;  // nullopt: not kBatchKeySize bytes of hex
  std::size_t row_key_digits = 0;        // for the log when a key is unusable; never the key
  std::size_t batch_key_digits = 0;
  std::string challenge;
};
OrderedJson encode_register_result(const std::string& sidecar_id, const SecretBytes& row_key,
                                   const SecretBytes& batch_key, const std::string& challenge);
// nullopt when a field is missing or the id is not a UUID. The key strings in `result` are
// wiped however it ends: from here on the keys live only in SecretBytes.
std::optional<RegisterResult> decode_register_result(nlohmann::json& result);

// challenge (sidecar -> KMS): the challenge signed with both keys, as hex.
struct ChallengeParams {
  std::string row_signature;
  std::string batch_signature;
};
OrderedJson encode(const ChallengeParams& params);
Decoded<ChallengeParams> decode_challenge_params(const nlohmann::json& params);
OrderedJson encode_challenge_passed();
bool is_challenge_passed(const nlohmann::json& result);

// batch (sidecar -> KMS)
struct BatchParams {
  std::string batch_id;  // decoded in lower case
  std::string signature;
};
OrderedJson encode(const BatchParams& params);
Decoded<BatchParams> decode_batch_params(const nlohmann::json& params);
OrderedJson encode_batch_result(const std::string& batch_id);

// healthcheck (KMS -> sidecar); the sidecar answers whatever the level.
OrderedJson encode_healthcheck_params(const std::string& level);
struct HealthcheckResult {
  std::string sidecar_id;
  std::string version;
  std::string current;  // ISO-8601, milliseconds
  std::int64_t uptime_ms = 0;
  std::uint64_t event_count_last_hour = 0;
};
OrderedJson encode(const HealthcheckResult& result);

// inquiry (KMS -> sidecar); its request id is the inquiry id, and it gets no reply.
struct InquiryParams {
  std::string inquiry_id;
  std::string start_text;  // as sent
  std::string end_text;
  Instant start;
  Instant end;
};
OrderedJson encode_inquiry_params(const std::string& inquiry_id, const std::string& start, const std::string& end);
Decoded<InquiryParams> decode_inquiry_params(const nlohmann::json& params);

// inquiry-response (sidecar -> KMS): one stored batch, item `item` of `total`, or the one
// {total 0, item 0} answer when nothing was found. The KMS answers none of them.
// The largest total or item the KMS accepts (and stores); larger never counts.
inline constexpr std::int64_t kMaxInquiryItems = 2147483647;
struct InquiryResponseParams {
  std::string inquiry_id;               // decoded in lower case
  std::optional<std::string> batch_id;  // with body, or neither; decoded in lower case
  std::optional<std::string> body;
  // nullopt: absent or not an integer; kMaxInquiryItems + 1: larger than the KMS stores.
  std::optional<std::int64_t> total;
  std::optional<std::int64_t> item;
};
OrderedJson encode_inquiry_item(const std::string& inquiry_id, std::string batch_id, std::string body,
                                std::size_t total, std::size_t item);
OrderedJson encode_inquiry_nothing_found(const std::string& inquiry_id);
// nullopt when the inquiry id is missing or not a UUID: nobody's inquiry, so it is dropped.
// The body is moved out of `params` (it can be megabytes).
std::optional<InquiryResponseParams> decode_inquiry_response_params(nlohmann::json& params);

}  // namespace fls::protocol
