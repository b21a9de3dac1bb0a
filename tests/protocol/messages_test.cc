// The KMS protocol's methods (protocol.md §4): what each decoder accepts and refuses, and the
// exact bytes each encoder writes.
#include "fls/protocol/messages.h"

#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <variant>

namespace fls::protocol {
namespace {

using json = nlohmann::json;

constexpr char kUpperId[] = "5EED0000-0000-4000-8000-00000000000A";
constexpr char kLowerId[] = "5eed0000-0000-4000-8000-00000000000a";

template <class T>
std::string refusal(const Decoded<T>& decoded) {
  const auto* error = std::get_if<Error>(&decoded);
  if (error == nullptr) return "(accepted)";
  EXPECT_EQ(error->code, ErrorCode::invalid_params);
  return error->message;
}

SecretBytes bytes_counting_from(std::uint8_t first, std::size_t size) {
  SecretBytes out(size);
  for (std::size_t i = 0; i < size; ++i) out.data()[i] = static_cast<std::uint8_t>(first + i);
  return out;
}

TEST(RegisterParams, EncodesAndDecodes) {
  EXPECT_EQ(dump(encode(RegisterParams{kLowerId, "ledger"})),
            std::string(R"({"id":")") + kLowerId + R"(","serviceName":"ledger"})");
  const auto decoded = decode_register_params(json{{"id", kUpperId}, {"serviceName", "ledger"}});
  ASSERT_TRUE(std::holds_alternative<RegisterParams>(decoded));
  EXPECT_EQ(std::get<RegisterParams>(decoded).sidecar_id, kLowerId);
  EXPECT_EQ(std::get<RegisterParams>(decoded).service_name, "ledger");
}

TEST(RegisterParams, RefusesWhatTheKmsCannotRegister) {
  const std::string message = "Invalid params: id (a UUID) and serviceName are required";
  EXPECT_EQ(refusal(decode_register_params(json{{"id", "not-a-uuid"}, {"serviceName", "ledger"}})), message);
  EXPECT_EQ(refusal(decode_register_params(json{{"id", kLowerId}, {"serviceName", ""}})), message);
  EXPECT_EQ(refusal(decode_register_params(json{{"id", kLowerId}})), message);
  EXPECT_EQ(refusal(decode_register_params(json(nullptr))), message);
}

TEST(RegisterResult, KeysTravelAsUpperCaseHexAndAreWipedOnceDecoded) {
  const SecretBytes row_key = bytes_counting_from(0xa0, kRowKeySize);
  const SecretBytes batch_key = bytes_counting_from(0x10, kBatchKeySize);
  const std::string text = dump(encode_register_result(kLowerId, row_key, batch_key, "c4a11e"));
  EXPECT_EQ(text.find(std::string(R"({"id":")") + kLowerId + R"(","batchKey":"101112)"), 0u) << text;
  EXPECT_NE(text.find(R"("rowKey":"A0A1A2)"), std::string::npos);
  EXPECT_NE(text.find(R"(,"challenge":"c4a11e"})"), std::string::npos);

  json result = json::parse(text);
  const auto decoded = decode_register_result(result);
  ASSERT_TRUE(decoded);
  ASSERT_TRUE(decoded->row_key && decoded->batch_key);
  EXPECT_EQ(std::memcmp(decoded->row_key->data(), row_key.data(), kRowKeySize), 0);
  EXPECT_EQ(std::memcmp(decoded->batch_key->data(), batch_key.data(), kBatchKeySize), 0);
  EXPECT_EQ(decoded->challenge, "c4a11e");
  // The hex in the parsed reply is gone.
  EXPECT_EQ(result["rowKey"].get<std::string>().find("A0A1"), std::string::npos);
  EXPECT_EQ(result["batchKey"].get<std::string>().find("1011"), std::string::npos);
}

TEST(RegisterResult, WrongKeyLengthsAreReportedByLengthOnly) {
  json result{{"id", kLowerId}, {"batchKey", "abcd"}, {"rowKey", std::string(64, '0')}, {"challenge", "x"}};
  const auto decoded = decode_register_result(result);
  ASSERT_TRUE(decoded);
  EXPECT_FALSE(decoded->batch_key);
  EXPECT_TRUE(decoded->row_key);
  EXPECT_EQ(decoded->batch_key_digits, 4u);
  json no_challenge{{"id", kLowerId}, {"batchKey", "abcd"}, {"rowKey", "ab"}};
  EXPECT_FALSE(decode_register_result(no_challenge));
  json bad_id{{"id", "x"}, {"batchKey", "abcd"}, {"rowKey", "ab"}, {"challenge", "x"}};
  EXPECT_FALSE(decode_register_result(bad_id));
}

TEST(Challenge, EncodesDecodesAndPasses) {
  EXPECT_EQ(dump(encode(ChallengeParams{"aa", "bb"})), R"({"rowSignature":"aa","batchSignature":"bb"})");
  EXPECT_EQ(refusal(decode_challenge_params(json{{"rowSignature", "aa"}})),
            "Invalid params: rowSignature and batchSignature are required");
  EXPECT_EQ(dump(encode_challenge_passed()), R"({"status":"OK"})");
  EXPECT_TRUE(is_challenge_passed(json{{"status", "OK"}}));
  EXPECT_FALSE(is_challenge_passed(json{{"status", "ok"}}));
  EXPECT_FALSE(is_challenge_passed(json("OK")));
}

TEST(Batch, EncodesDecodesAndRefusesNul) {
  EXPECT_EQ(dump(encode(BatchParams{kLowerId, "5151"})),
            std::string(R"({"id":")") + kLowerId + R"(","signature":"5151"})");
  const auto decoded = decode_batch_params(json{{"id", kUpperId}, {"signature", "5151"}});
  ASSERT_TRUE(std::holds_alternative<BatchParams>(decoded));
  EXPECT_EQ(std::get<BatchParams>(decoded).batch_id, kLowerId);
  EXPECT_EQ(refusal(decode_batch_params(json{{"id", kLowerId}})),
            "Invalid params: id (a UUID) and signature are required");
  EXPECT_EQ(refusal(decode_batch_params(json{{"id", kLowerId}, {"signature", std::string("a\0b", 3)}})),
            "Invalid params: signature must not contain NUL characters");
  EXPECT_EQ(dump(encode_batch_result(kLowerId)), std::string(R"({"id":")") + kLowerId + "\"}");
}

TEST(Healthcheck, ExactBytes) {
  EXPECT_EQ(dump(encode_healthcheck_params("ping")), R"({"level":"ping"})");
  EXPECT_EQ(dump(encode(HealthcheckResult{kLowerId, "1.0.0", "2026-01-01T00:00:00.000Z", 1234, 5})),
            std::string(R"({"id":")") + kLowerId +
                R"(","version":"1.0.0","current":"2026-01-01T00:00:00.000Z","uptime":1234,"eventCountLastHour":5})");
}

TEST(Inquiry, TimesAreParsedInEveryIsoInstantPrecision) {
  const auto decoded = decode_inquiry_params(
      json{{"inquiry", "i"}, {"startTime", "2017-07-14T14:16:15Z"}, {"endTime", "2017-07-14T14:16:15.123456Z"}});
  ASSERT_TRUE(std::holds_alternative<InquiryParams>(decoded));
  const auto& params = std::get<InquiryParams>(decoded);
  EXPECT_EQ(params.end.nanos, 123456000);
  EXPECT_EQ(params.start_text, "2017-07-14T14:16:15Z");
  const std::string message =
      "Invalid params: inquiry, startTime and endTime (ISO-8601, startTime <= endTime) are required";
  EXPECT_EQ(refusal(decode_inquiry_params(
                json{{"inquiry", "i"}, {"startTime", "2017-07-14T14:16:16Z"}, {"endTime", "2017-07-14T14:16:15Z"}})),
            message);
  EXPECT_EQ(refusal(decode_inquiry_params(
                json{{"inquiry", "i"}, {"startTime", "yesterday"}, {"endTime", "2017-07-14T14:16:15Z"}})),
            message);
  EXPECT_EQ(dump(encode_inquiry_params("i", "a", "b")), R"({"inquiry":"i","startTime":"a","endTime":"b"})");
}

TEST(InquiryResponse, ExactBytes) {
  EXPECT_EQ(dump(encode_inquiry_item("i", "b", "[]", 2, 1)),
            R"({"inquiry":"i","id":"b","body":"[]","total":2,"item":1})");
  EXPECT_EQ(dump(encode_inquiry_nothing_found("i")), R"({"inquiry":"i","total":0,"item":0})");
}

TEST(InquiryResponse, DecodesLeniently) {
  json params{{"inquiry", kUpperId}, {"id", kUpperId}, {"body", "[1]"}, {"total", 3}, {"item", 2}};
  const auto decoded = decode_inquiry_response_params(params);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->inquiry_id, kLowerId);
  EXPECT_EQ(decoded->batch_id, kLowerId);
  EXPECT_EQ(decoded->body, "[1]");
  EXPECT_EQ(decoded->total, 3);
  EXPECT_EQ(decoded->item, 2);

  json no_inquiry{{"total", 0}, {"item", 0}};
  EXPECT_FALSE(decode_inquiry_response_params(no_inquiry));
  // A batch id that is no UUID, or a body without an id: no batch.
  json bad_batch{{"inquiry", kLowerId}, {"id", "x"}, {"body", "[]"}, {"total", 1}, {"item", 1}};
  EXPECT_FALSE(decode_inquiry_response_params(bad_batch)->batch_id);
  // Integers the KMS cannot store are out of range; non-integers are absent.
  json huge{{"inquiry", kLowerId}, {"total", 18446744073709551615ULL}, {"item", 1.5}};
  const auto out_of_range = decode_inquiry_response_params(huge);
  EXPECT_EQ(out_of_range->total, kMaxInquiryItems + 1);
  EXPECT_FALSE(out_of_range->item);
}

}  // namespace
}  // namespace fls::protocol
