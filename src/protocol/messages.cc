#include "fls/protocol/messages.h"

#include <algorithm>
#include <cctype>

#include "fls/common/hex.h"
#include "fls/common/ids.h"
#include "fls/common/wipe.h"

namespace fls::protocol {

using json = nlohmann::json;

namespace {

const std::string* string_field(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get_ptr<const std::string*>() : nullptr;
}

std::string upper_hex(const SecretBytes& bytes) {
  std::string out = to_hex(bytes.data(), bytes.size());
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

Error invalid_params(std::string message) { return Error{ErrorCode::invalid_params, std::move(message)}; }

}  // namespace

OrderedJson encode(const RegisterParams& params) {
  OrderedJson out;
  out["id"] = params.sidecar_id;
  out["serviceName"] = params.service_name;
  return out;
}

Decoded<RegisterParams> decode_register_params(const json& params) {
  const std::string* sidecar_id = string_field(params, "id");
  const std::string* service_name = string_field(params, "serviceName");
  if (sidecar_id == nullptr || !is_uuid(*sidecar_id) || service_name == nullptr || service_name->empty()) {
    return invalid_params("Invalid params: id (a UUID) and serviceName are required");
  }
  return RegisterParams{lower_uuid(*sidecar_id), *service_name};
}

OrderedJson encode_register_result(const std::string& sidecar_id, const SecretBytes& row_key,
                                   const SecretBytes& batch_key, const std::string& challenge) {
  return OrderedJson{
      {"id", sidecar_id}, {"batchKey", upper_hex(batch_key)}, {"rowKey", upper_hex(row_key)}, {"challenge", challenge}};
}

std::optional<RegisterResult> decode_register_result(json& result) {
  struct WipeKeyText {
    json& result;
    ~WipeKeyText() {
      for (const char* key : {"rowKey", "batchKey"}) {
        const auto it = result.find(key);
        if (it != result.end() && it->is_string()) wipe(it->get_ref<std::string&>());
      }
    }
  } wipe_key_text{result};
  const std::string* id = string_field(result, "id");
  const std::string* batch_key = string_field(result, "batchKey");
  const std::string* row_key = string_field(result, "rowKey");
  const std::string* challenge = string_field(result, "challenge");
  if (id == nullptr || !is_uuid(*id) || batch_key == nullptr || row_key == nullptr || challenge == nullptr) {
    return std::nullopt;
  }
  RegisterResult out;
  out.sidecar_id = *id;
  out.row_key = SecretBytes::from_hex(*row_key, kRowKeySize);
  out.batch_key = SecretBytes::from_hex(*batch_key, kBatchKeySize);
  out.row_key_digits = row_key->size();
  out.batch_key_digits = batch_key->size();
  out.challenge = *challenge;
  return out;
}

OrderedJson encode(const ChallengeParams& params) {
  OrderedJson out;
  out["rowSignature"] = params.row_signature;
  out["batchSignature"] = params.batch_signature;
  return out;
}

Decoded<ChallengeParams> decode_challenge_params(const json& params) {
  const std::string* row_signature = string_field(params, "rowSignature");
  const std::string* batch_signature = string_field(params, "batchSignature");
  if (row_signature == nullptr || batch_signature == nullptr) {
    return invalid_params("Invalid params: rowSignature and batchSignature are required");
  }
  return ChallengeParams{*row_signature, *batch_signature};
}

OrderedJson encode_challenge_passed() { return OrderedJson{{"status", "OK"}}; }

bool is_challenge_passed(const json& result) {
  const std::string* status = string_field(result, "status");
  return status != nullptr && *status == "OK";
}

OrderedJson encode(const BatchParams& params) {
  OrderedJson out;
  out["id"] = params.batch_id;
  out["signature"] = params.signature;
  return out;
}

Decoded<BatchParams> decode_batch_params(const json& params) {
  const std::string* batch_id = string_field(params, "id");
  const std::string* signature = string_field(params, "signature");
  if (batch_id == nullptr || !is_uuid(*batch_id) || signature == nullptr) {
    return invalid_params("Invalid params: id (a UUID) and signature are required");
  }
  if (signature->find('\0') != std::string::npos) {
    return invalid_params("Invalid params: signature must not contain NUL characters");
  }
  return BatchParams{lower_uuid(*batch_id), *signature};
}

OrderedJson encode_batch_result(const std::string& batch_id) { return OrderedJson{{"id", batch_id}}; }

OrderedJson encode_healthcheck_params(const std::string& level) { return OrderedJson{{"level", level}}; }

OrderedJson encode(const HealthcheckResult& result) {
  OrderedJson out;
  out["id"] = result.sidecar_id;
  out["version"] = result.version;
  out["current"] = result.current;
  out["uptime"] = result.uptime_ms;
  out["eventCountLastHour"] = result.event_count_last_hour;
  return out;
}

OrderedJson encode_inquiry_params(const std::string& inquiry_id, const std::string& start, const std::string& end) {
  return OrderedJson{{"inquiry", inquiry_id}, {"startTime", start}, {"endTime", end}};
}

Decoded<InquiryParams> decode_inquiry_params(const json& params) {
  const std::string* inquiry_id = string_field(params, "inquiry");
  const std::string* start_text = string_field(params, "startTime");
  const std::string* end_text = string_field(params, "endTime");
  const auto start = start_text ? parse_iso_instant(*start_text) : std::nullopt;
  const auto end = end_text ? parse_iso_instant(*end_text) : std::nullopt;
  if (inquiry_id == nullptr || !start || !end || *end < *start) {
    return invalid_params(
        "Invalid params: inquiry, startTime and endTime (ISO-8601, startTime <= endTime) are required");
  }
  return InquiryParams{*inquiry_id, *start_text, *end_text, *start, *end};
}

OrderedJson encode_inquiry_item(const std::string& inquiry_id, std::string batch_id, std::string body,
                                std::size_t total, std::size_t item) {
  OrderedJson out;
  out["inquiry"] = inquiry_id;
  out["id"] = std::move(batch_id);
  out["body"] = std::move(body);
  out["total"] = total;
  out["item"] = item;
  return out;
}

OrderedJson encode_inquiry_nothing_found(const std::string& inquiry_id) {
  return OrderedJson{{"inquiry", inquiry_id}, {"total", 0}, {"item", 0}};
}

std::optional<InquiryResponseParams> decode_inquiry_response_params(json& params) {
  const std::string* inquiry = string_field(params, "inquiry");
  if (inquiry == nullptr || !is_uuid(*inquiry)) return std::nullopt;
  InquiryResponseParams out;
  out.inquiry_id = lower_uuid(*inquiry);
  const auto integer = [&](const char* name) -> std::optional<std::int64_t> {
    const auto it = params.find(name);
    if (it == params.end() || !it->is_number_integer()) return std::nullopt;
    if (it->is_number_unsigned() && it->get<std::uint64_t>() > static_cast<std::uint64_t>(kMaxInquiryItems)) {
      return kMaxInquiryItems + 1;  // out of range either way
    }
    return it->get<std::int64_t>();
  };
  out.total = integer("total");
  out.item = integer("item");
  const std::string* batch_id = string_field(params, "id");
  const auto body = params.find("body");
  if (batch_id != nullptr && body != params.end() && body->is_string() && is_uuid(*batch_id)) {
    out.batch_id = lower_uuid(*batch_id);
    out.body = std::move(body->get_ref<std::string&>());
  }
  return out;
}

}  // namespace fls::protocol
