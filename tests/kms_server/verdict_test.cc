// The KMS's verdicts on inquiry responses (protocol.md §7 "Results", "missing", "gaps",
// "Summary verified"). Bodies are written out by hand as JSON.stringify prints them, never with
// the documents code the verifier rebuilds rows with, and signed with real keys.
#include "fls/kms_server/verdict.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "fls/signing/batch_signer.h"
#include "fls/signing/row_signer.h"

namespace fls::kms {
namespace {

constexpr char kOldSidecar[] = "9b2e4f0a-3c1d-4e5f-8a7b-6c5d4e3f2a1b";
constexpr char kSidecar[] = "c0ffee00-1234-4abc-9def-0123456789ab";
constexpr char kStranger[] = "0badc0de-0000-4000-8000-000000000000";  // keys unknown to the KMS
constexpr char kBatchId[] = "5f1d7c2e-8b3a-4c6d-9e0f-a1b2c3d4e5f6";
constexpr char kTimestamp[] = "2017-07-14T14:16:15.123Z";
constexpr EpochMillis kReceived = 1500041776000;

template <std::size_t N>
SecretBytes secret(const std::array<std::uint8_t, N>& bytes) {
  SecretBytes out(N);
  std::memcpy(out.data(), bytes.data(), N);
  return out;
}

// A registration as the KMS hands it out: a fresh ed25519 batch key pair and AES row key.
class Registration {
 public:
  explicit Registration(std::string sidecar_id) : sidecar_id_(std::move(sidecar_id)) {
    if (sodium_init() < 0) throw std::runtime_error("libsodium could not be initialised");
    crypto_sign_keypair(public_key_.data(), batch_key_.data());
    randombytes_buf(row_key_.data(), row_key_.size());
  }

  const std::string& id() const { return sidecar_id_; }
  SidecarKeys keys() const { return SidecarKeys{sidecar_id_, public_key_, secret(row_key_)}; }
  std::string sign_row(std::string_view row_json) const { return RowSigner(secret(row_key_)).sign_hex(row_json); }
  std::string sign_batch(std::string_view body) const {
    const auto signer = BatchSigner::from_secret_key(secret(batch_key_));
    if (!signer) throw std::logic_error("libsodium made an inconsistent key pair");
    return signer->sign_hex(body);
  }

 private:
  std::string sidecar_id_;
  std::array<std::uint8_t, crypto_sign_PUBLICKEYBYTES> public_key_;
  std::array<std::uint8_t, crypto_sign_SECRETKEYBYTES> batch_key_;
  std::array<std::uint8_t, RowSigner::kKeySize> row_key_;
};

class FakeKeyLookup : public KeyLookup {
 public:
  void add(const Registration& registration) { keys_.emplace(registration.id(), registration.keys()); }
  const SidecarKeys* find(const std::string& sidecar_id) override {
    const auto it = keys_.find(sidecar_id);
    return it == keys_.end() ? nullptr : &it->second;
  }

 private:
  std::map<std::string, SidecarKeys> keys_;
};

// The signable row as JSON.stringify writes it; `message_json` is already escaped.
std::string row_text(std::string_view key_id, std::int64_t sequence, std::string_view message_json,
                     std::string_view timestamp = kTimestamp) {
  return std::string(R"({"keyId":")") + std::string(key_id) + R"(","sequence":)" + std::to_string(sequence) +
         R"(,"message":")" + std::string(message_json) + R"(","timestamp":")" + std::string(timestamp) + R"("})";
}

std::string element_text(std::string_view row, std::string_view signature) {
  return std::string(R"({"row":)") + std::string(row) + R"(,"signature":")" + std::string(signature) + R"("})";
}

// A row of `registration` with its genuine row signature.
std::string signed_element(const Registration& registration, std::int64_t sequence, std::string_view message_json) {
  const std::string row = row_text(registration.id(), sequence, message_json);
  return element_text(row, registration.sign_row(row));
}

std::string array_text(const std::vector<std::string>& elements) {
  std::string out = "[";
  for (std::size_t i = 0; i < elements.size(); ++i) out += (i == 0 ? "" : ",") + elements[i];
  return out + "]";
}

std::string upper(std::string text) {
  for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return text;
}

testing::AssertionResult has_problem(const ResultVerdict& verdict, std::string_view expected) {
  std::string all;
  for (const std::string& problem : verdict.problems) {
    if (problem.find(expected) != std::string::npos) return testing::AssertionSuccess();
    all += "\n  " + problem;
  }
  return testing::AssertionFailure() << "no problem contains \"" << expected << "\"; problems:" << all;
}

class VerifyResult : public testing::Test {
 protected:
  VerifyResult() {
    keys_.add(old_registration_);
    keys_.add(registration_);
  }

  // `body` as delivered by `via`: the KMS's record of the batch, signature as the sidecar sent it.
  KnownBatch delivered(const std::string& body, const Registration& via, const std::string& batch_id = kBatchId) {
    return KnownBatch{batch_id, via.id(), via.sign_batch(body), kReceived};
  }

  std::string genuine_body() {
    return array_text({signed_element(registration_, 1, "first"), signed_element(registration_, 2, "second"),
                       signed_element(registration_, 3, "third")});
  }

  Registration old_registration_{kOldSidecar};
  Registration registration_{kSidecar};
  Registration stranger_{kStranger};
  FakeKeyLookup keys_;
};

TEST_F(VerifyResult, GenuineBodyVerifies) {
  const std::string body = genuine_body();
  const KnownBatch known = delivered(body, registration_);
  const ResultVerdict verdict = verify_result(kBatchId, body, &known, keys_);
  EXPECT_TRUE(verdict.verified);
  EXPECT_EQ(verdict.batch_id, kBatchId);
  EXPECT_EQ(verdict.body, body);
  EXPECT_EQ(verdict.sidecar_id, std::optional<std::string>(kSidecar));
  EXPECT_EQ(verdict.rows, 3u);
  EXPECT_EQ(verdict.rows_verified, 3u);
  EXPECT_TRUE(verdict.problems.empty()) << verdict.problems.front();
  const std::vector<std::pair<std::string, std::int64_t>> expected_keys{{kSidecar, 1}, {kSidecar, 2}, {kSidecar, 3}};
  EXPECT_EQ(verdict.row_keys, expected_keys);
}

// JSON.stringify escapes only `"`, `\` and control characters; `/`, DEL and non-ASCII stay raw.
TEST_F(VerifyResult, GenuineBodyWithEscapesAndNonAsciiVerifies) {
  const std::string message_json = R"(say \"hi\" back\\slash\n\t\u0001\u001f )"
                                   "\xC3\xA9 / \x7F \xF0\x9F\x94\x91";
  const std::string body = array_text({signed_element(registration_, 1, message_json)});
  const KnownBatch known = delivered(body, registration_);
  const ResultVerdict verdict = verify_result(kBatchId, body, &known, keys_);
  EXPECT_TRUE(verdict.verified);
  EXPECT_EQ(verdict.rows_verified, 1u);
  EXPECT_TRUE(verdict.problems.empty()) << verdict.problems.front();
}

// The central KMS and other peers may use upper case; ids are reported in lower case.
TEST_F(VerifyResult, IdsAndSignaturesInUpperCaseVerifyAndAreReportedLowerCase) {
  const std::string row = row_text(upper(kSidecar), 1, "first");
  const std::string body = array_text({element_text(row, upper(registration_.sign_row(row)))});
  KnownBatch known = delivered(body, registration_, upper(kBatchId));
  known.sidecar_id = upper(known.sidecar_id);
  known.signature_hex = upper(known.signature_hex);
  const ResultVerdict verdict = verify_result(upper(kBatchId), body, &known, keys_);
  EXPECT_TRUE(verdict.verified) << (verdict.problems.empty() ? "" : verdict.problems.front());
  EXPECT_EQ(verdict.batch_id, kBatchId);
  EXPECT_EQ(verdict.sidecar_id, std::optional<std::string>(kSidecar));
  ASSERT_EQ(verdict.row_keys.size(), 1u);
  EXPECT_EQ(verdict.row_keys[0].first, kSidecar);
}

TEST_F(VerifyResult, ChangedMessageFailsThatRowAndTheBatchSignature) {
  const std::string genuine = genuine_body();
  const KnownBatch known = delivered(genuine, registration_);
  std::string tampered = genuine;
  tampered.replace(tampered.find("second"), 6, "sec0nd");
  const ResultVerdict verdict = verify_result(kBatchId, tampered, &known, keys_);
  EXPECT_FALSE(verdict.verified);
  EXPECT_EQ(verdict.rows, 3u);
  EXPECT_EQ(verdict.rows_verified, 2u);
  EXPECT_EQ(verdict.problems.size(), 2u);
  EXPECT_TRUE(has_problem(verdict, "batch signature does not match the body"));
  EXPECT_TRUE(has_problem(verdict, std::string("row signature invalid for keyId ") + kSidecar + " sequence 2"));
  // The tampered row's sequence number is not authentic, so it does not count for gaps.
  const std::vector<std::pair<std::string, std::int64_t>> expected_keys{{kSidecar, 1}, {kSidecar, 3}};
  EXPECT_EQ(verdict.row_keys, expected_keys);
}

TEST_F(VerifyResult, WhitespaceBetweenElementsFailsOnlyTheBatchSignature) {
  const std::string genuine = genuine_body();
  const KnownBatch known = delivered(genuine, registration_);
  std::string spaced = genuine;
  spaced.replace(spaced.find("},{"), 3, "},\n {");
  const ResultVerdict verdict = verify_result(kBatchId, spaced, &known, keys_);
  EXPECT_FALSE(verdict.verified);
  EXPECT_EQ(verdict.rows, 3u);
  EXPECT_EQ(verdict.rows_verified, 3u);
  EXPECT_EQ(verdict.problems, std::vector<std::string>{"batch signature does not match the body"});
}

TEST_F(VerifyResult, SignatureByAnotherRegistrationsKeyFails) {
  const std::string body = genuine_body();
  KnownBatch known = delivered(body, old_registration_);
  known.sidecar_id = kSidecar;  // the KMS got it from kSidecar, signed with someone else's key
  const ResultVerdict verdict = verify_result(kBatchId, body, &known, keys_);
  EXPECT_FALSE(verdict.verified);
  EXPECT_EQ(verdict.rows_verified, 3u);
  EXPECT_EQ(verdict.problems, std::vector<std::string>{"batch signature does not match the body"});
}

TEST_F(VerifyResult, ReceivedSignatureThatIsNotHexFails) {
  const std::string body = genuine_body();
  KnownBatch known = delivered(body, registration_);
  known.signature_hex.replace(10, 1, "g");
  EXPECT_TRUE(has_problem(verify_result(kBatchId, body, &known, keys_), "not 128 hex digits"));
  known.signature_hex.pop_back();
  EXPECT_TRUE(has_problem(verify_result(kBatchId, body, &known, keys_), "not 128 hex digits"));
  known.signature_hex.clear();
  EXPECT_FALSE(verify_result(kBatchId, body, &known, keys_).verified);
}

TEST_F(VerifyResult, DeliveringRegistrationWithoutKeysFails) {
  const std::string body = array_text({signed_element(registration_, 1, "first")});
  const KnownBatch known = delivered(body, stranger_);
  const ResultVerdict verdict = verify_result(kBatchId, body, &known, keys_);
  EXPECT_FALSE(verdict.verified);
  EXPECT_EQ(verdict.sidecar_id, std::optional<std::string>(kStranger));
  EXPECT_TRUE(has_problem(verdict, std::string("no public key known for registration ") + kStranger));
}

TEST_F(VerifyResult, BatchTheKmsNeverReceivedIsNotVerified) {
  const std::string body = genuine_body();
  const ResultVerdict verdict = verify_result(upper(kBatchId), body, nullptr, keys_);
  EXPECT_FALSE(verdict.verified);
  EXPECT_EQ(verdict.batch_id, kBatchId);
  EXPECT_EQ(verdict.sidecar_id, std::nullopt);
  EXPECT_EQ(verdict.problems,
            std::vector<std::string>{std::string("batch ") + kBatchId + " was never received by the KMS"});
  // Its rows are still checked and reported.
  EXPECT_EQ(verdict.rows, 3u);
  EXPECT_EQ(verdict.rows_verified, 3u);
  EXPECT_EQ(verdict.row_keys.size(), 3u);
}

// After a reconnect the product re-batches the old registration's unbatched rows under the new
// registration: the batch is checked with the delivering key, each row with its own keyId's.
TEST_F(VerifyResult, RowsOfTwoRegistrationsInOneBatchVerify) {
  const std::string body =
      array_text({signed_element(old_registration_, 5, "old five"), signed_element(old_registration_, 6, "old six"),
                  signed_element(registration_, 1, "new one"), signed_element(registration_, 2, "new two")});
  const KnownBatch known = delivered(body, registration_);
  const ResultVerdict verdict = verify_result(kBatchId, body, &known, keys_);
  EXPECT_TRUE(verdict.verified) << (verdict.problems.empty() ? "" : verdict.problems.front());
  EXPECT_EQ(verdict.rows, 4u);
  EXPECT_EQ(verdict.rows_verified, 4u);
  const std::vector<std::pair<std::string, std::int64_t>> expected_keys{
      {kOldSidecar, 5}, {kOldSidecar, 6}, {kSidecar, 1}, {kSidecar, 2}};
  EXPECT_EQ(verdict.row_keys, expected_keys);
}

TEST_F(VerifyResult, RowSignedWithAnotherKeyIdsRowKeyFails) {
  const std::string row = row_text(kSidecar, 1, "first");
  const std::string body = array_text({element_text(row, old_registration_.sign_row(row))});
  const KnownBatch known = delivered(body, registration_);
  const ResultVerdict verdict = verify_result(kBatchId, body, &known, keys_);
  EXPECT_FALSE(verdict.verified);
  EXPECT_EQ(verdict.rows_verified, 0u);
  EXPECT_EQ(verdict.problems,
            std::vector<std::string>{std::string("row signature invalid for keyId ") + kSidecar + " sequence 1"});
}

TEST_F(VerifyResult, RowWithUnknownKeyIdFailsNamingKeyIdAndSequence) {
  const std::string body =
      array_text({signed_element(registration_, 1, "first"), signed_element(stranger_, 7, "from nowhere")});
  const KnownBatch known = delivered(body, registration_);
  const ResultVerdict verdict = verify_result(kBatchId, body, &known, keys_);
  EXPECT_FALSE(verdict.verified);
  EXPECT_EQ(verdict.rows, 2u);
  EXPECT_EQ(verdict.rows_verified, 1u);
  EXPECT_TRUE(has_problem(verdict, std::string("keyId ") + kStranger + " sequence 7"));
}

TEST_F(VerifyResult, EmptyArrayIsNotVerified) {
  const KnownBatch known = delivered("[]", registration_);
  const ResultVerdict verdict = verify_result(kBatchId, "[]", &known, keys_);
  EXPECT_FALSE(verdict.verified);
  EXPECT_EQ(verdict.rows, 0u);
  EXPECT_TRUE(has_problem(verdict, "body contains no rows"));
}

// ---- Bodies that are not a JSON array at all ----

class BodyNotAnArray : public VerifyResult, public testing::WithParamInterface<const char*> {};

TEST_P(BodyNotAnArray, GivesNoRowsAndAProblem) {
  const std::string body = GetParam();
  const KnownBatch known = delivered(body, registration_);
  const ResultVerdict verdict = verify_result(kBatchId, body, &known, keys_);
  EXPECT_FALSE(verdict.verified);
  EXPECT_EQ(verdict.rows, 0u);
  EXPECT_EQ(verdict.problems, std::vector<std::string>{"body is not a JSON array of signed rows"});
}

INSTANTIATE_TEST_SUITE_P(Bodies, BodyNotAnArray,
                         testing::Values("", "not json", "[1,2", R"({"row":{}})", R"("[]")", "null", "[] []",
                                         "[\"\xFF\"]", "[1,]"));

// ---- Elements that are not well-formed signed rows ----

struct MalformedElement {
  const char* name;
  std::string element;
  std::string label;  // how the problem names the row
};

class MalformedRow : public VerifyResult, public testing::WithParamInterface<MalformedElement> {};

TEST_P(MalformedRow, CountsButDoesNotVerifyAndIsNamed) {
  const std::string body = array_text({signed_element(registration_, 1, "first"), GetParam().element});
  const KnownBatch known = delivered(body, registration_);
  const ResultVerdict verdict = verify_result(kBatchId, body, &known, keys_);
  EXPECT_FALSE(verdict.verified);
  EXPECT_EQ(verdict.rows, 2u);
  EXPECT_EQ(verdict.rows_verified, 1u);
  ASSERT_EQ(verdict.problems.size(), 1u);
  EXPECT_TRUE(has_problem(verdict, "malformed row (" + GetParam().label + ")"));
  // Only the well-formed row counts for gap detection.
  EXPECT_EQ(verdict.row_keys.size(), 1u);
}

const std::string kKeyLabel = std::string("keyId ") + kSidecar + " sequence 2";
const std::string kSignature(32, 'a');

INSTANTIATE_TEST_SUITE_P(
    Elements, MalformedRow,
    testing::Values(
        MalformedElement{"Number", "1", "element 2"}, MalformedElement{"Array", "[]", "element 2"},
        MalformedElement{"NoRow", R"({"signature":")" + kSignature + R"("})", "element 2"},
        MalformedElement{"RowNotObject", R"({"row":"x","signature":")" + kSignature + R"("})", "element 2"},
        MalformedElement{"NoSignature", R"({"row":)" + row_text(kSidecar, 2, "m") + "}", kKeyLabel},
        MalformedElement{"SignatureNotString", R"({"row":)" + row_text(kSidecar, 2, "m") + R"(,"signature":5})",
                         kKeyLabel},
        MalformedElement{"SequenceString",
                         element_text(R"({"keyId":")" + std::string(kSidecar) +
                                          R"(","sequence":"2","message":"m","timestamp":")" + kTimestamp + "\"}",
                                      kSignature),
                         "element 2"},
        MalformedElement{"SequenceFraction",
                         element_text(R"({"keyId":")" + std::string(kSidecar) +
                                          R"(","sequence":2.5,"message":"m","timestamp":")" + kTimestamp + "\"}",
                                      kSignature),
                         "element 2"},
        MalformedElement{
            "SequenceBeyondInt64",
            element_text(R"({"keyId":")" + std::string(kSidecar) +
                             R"(","sequence":18446744073709551615,"message":"m","timestamp":")" + kTimestamp + "\"}",
                         kSignature),
            "element 2"},
        MalformedElement{"MessageMissing",
                         element_text(R"({"keyId":")" + std::string(kSidecar) + R"(","sequence":2,"timestamp":")" +
                                          kTimestamp + "\"}",
                                      kSignature),
                         kKeyLabel},
        MalformedElement{
            "KeyIdNull",
            element_text(R"({"keyId":null,"sequence":2,"message":"m","timestamp":")" + std::string(kTimestamp) + "\"}",
                         kSignature),
            "element 2"},
        MalformedElement{"TimestampOneFractionDigit",
                         element_text(row_text(kSidecar, 2, "m", "2017-07-14T14:16:15.1Z"), kSignature), kKeyLabel},
        MalformedElement{"TimestampNoFraction",
                         element_text(row_text(kSidecar, 2, "m", "2017-07-14T14:16:15Z"), kSignature), kKeyLabel},
        MalformedElement{"TimestampOffset",
                         element_text(row_text(kSidecar, 2, "m", "2017-07-14T14:16:15.123+00:00"), kSignature),
                         kKeyLabel},
        MalformedElement{"TimestampNotADate", element_text(row_text(kSidecar, 2, "m", "yesterday"), kSignature),
                         kKeyLabel}),
    [](const testing::TestParamInfo<MalformedElement>& info) { return std::string(info.param.name); });

// ---- Rows whose MAC checks out over the canonical row but whose bytes differ from it ----

struct NonCanonicalElement {
  const char* name;
  std::string element;  // "SIG" stands for the genuine signature of row_text(kSidecar, 1, "hi")
};

class NonCanonicalRow : public VerifyResult, public testing::WithParamInterface<NonCanonicalElement> {};

// Even a batch signature over these bytes does not make the row verified: it is not what the
// row signature was computed over.
TEST_P(NonCanonicalRow, IsNotVerified) {
  std::string element = GetParam().element;
  element.replace(element.find("SIG"), 3, registration_.sign_row(row_text(kSidecar, 1, "hi")));
  const std::string body = array_text({element});
  const KnownBatch known = delivered(body, registration_);
  const ResultVerdict verdict = verify_result(kBatchId, body, &known, keys_);
  EXPECT_FALSE(verdict.verified);
  EXPECT_EQ(verdict.rows, 1u);
  EXPECT_EQ(verdict.rows_verified, 0u);
  ASSERT_EQ(verdict.problems.size(), 1u);
  EXPECT_TRUE(has_problem(verdict, std::string("keyId ") + kSidecar + " sequence 1"));
}

const std::string kId = kSidecar;
const std::string kTime = kTimestamp;

INSTANTIATE_TEST_SUITE_P(
    Elements, NonCanonicalRow,
    testing::Values(
        NonCanonicalElement{"RowKeysReordered", R"({"row":{"sequence":1,"keyId":")" + kId +
                                                    R"(","message":"hi","timestamp":")" + kTime +
                                                    R"("},"signature":"SIG"})"},
        NonCanonicalElement{"EscapedLetter", element_text(row_text(kId, 1, R"(\u0068i)"), "SIG")},
        NonCanonicalElement{"SpaceInsideRow", R"({"row":{"keyId": ")" + kId + R"(","sequence":1,"message":"hi",)" +
                                                  R"("timestamp":")" + kTime + R"("},"signature":"SIG"})"},
        NonCanonicalElement{"DuplicateMessage", R"({"row":{"keyId":")" + kId +
                                                    R"(","sequence":1,"message":"forged","message":"hi",)" +
                                                    R"("timestamp":")" + kTime + R"("},"signature":"SIG"})"},
        NonCanonicalElement{"ExtraRowMember", R"({"row":{"keyId":")" + kId + R"(","sequence":1,"message":"hi",)" +
                                                  R"("timestamp":")" + kTime + R"(","extra":1},"signature":"SIG"})"},
        NonCanonicalElement{"WrapperKeysReordered", R"({"signature":"SIG","row":)" + row_text(kId, 1, "hi") + "}"},
        NonCanonicalElement{"DuplicateSignature",
                            R"({"row":)" + row_text(kId, 1, "hi") + R"(,"signature":"00","signature":"SIG"})"}),
    [](const testing::TestParamInfo<NonCanonicalElement>& info) { return std::string(info.param.name); });

// ---- Input from the network: never a throw, never a false verification ----

TEST_F(VerifyResult, RandomAndTruncatedBodiesNeverThrowNorVerify) {
  const std::string genuine = genuine_body();
  const KnownBatch known = delivered(genuine, registration_);
  std::vector<std::string> bodies;
  for (std::size_t size = 0; size < genuine.size(); size += 3) bodies.push_back(genuine.substr(0, size));
  std::mt19937 random(20170714);
  for (int i = 0; i < 200; ++i) {
    std::string mutated = genuine;
    mutated[random() % mutated.size()] = static_cast<char>(random() % 256);
    if (mutated != genuine) bodies.push_back(mutated);
  }
  constexpr std::string_view kAlphabet = "[]{}\",:0123456789abcdefE.-+\\u tnrl \x01\x80\xC3\xFF";
  for (int i = 0; i < 200; ++i) {
    std::string noise(random() % 80, ' ');
    for (char& c : noise) c = kAlphabet[random() % kAlphabet.size()];
    bodies.push_back(noise);
  }
  bodies.push_back(std::string(100000, '['));
  bodies.push_back(std::string(100000, '[') + std::string(100000, ']'));
  bodies.push_back(genuine.substr(0, genuine.size() - 1) + "," + std::string(50000, '{') + "]");
  bodies.push_back(genuine.substr(0, genuine.size() - 1) + ",[" + std::string(50000, '[') + std::string(50000, ']') +
                   "]]");

  for (const std::string& body : bodies) {
    const std::string shown = body.substr(0, 200);  // keeps failure output readable
    for (const KnownBatch* batch : {&known, static_cast<const KnownBatch*>(nullptr)}) {
      ResultVerdict verdict;
      ASSERT_NO_THROW(verdict = verify_result(kBatchId, body, batch, keys_)) << shown;
      EXPECT_FALSE(verdict.verified) << shown;
      EXPECT_FALSE(verdict.problems.empty()) << shown;
      EXPECT_LE(verdict.rows_verified, verdict.rows) << shown;
      // verify_result turns internal exceptions into this problem; the body must never cause one.
      EXPECT_FALSE(has_problem(verdict, "could not be completed")) << shown;
    }
  }
}

// ---- sequence_runs ----

using RunTuple = std::tuple<std::string, std::int64_t, std::int64_t>;

std::vector<RunTuple> as_tuples(const std::vector<SequenceRun>& runs) {
  std::vector<RunTuple> out;
  for (const SequenceRun& run : runs) out.emplace_back(run.key_id, run.first, run.last);
  return out;
}

TEST(SequenceRuns, ConsecutiveNumbersOfOneKeyBecomeOneRunSortedByKeyThenFirst) {
  EXPECT_EQ(as_tuples(sequence_runs({{"key-c", 10},
                                     {"key-c", 12},
                                     {"key-b", 5},
                                     {"key-b", 6},
                                     {"key-a", 4},
                                     {"key-a", 2},
                                     {"key-a", 3},
                                     {"key-a", 3}})),
            (std::vector<RunTuple>{{"key-a", 2, 4}, {"key-b", 5, 6}, {"key-c", 10, 10}, {"key-c", 12, 12}}));
  EXPECT_TRUE(sequence_runs({}).empty());
}

TEST(SequenceRuns, ExtremeSequencesDoNotOverflow) {
  constexpr std::int64_t kMin = std::numeric_limits<std::int64_t>::min();
  constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(as_tuples(sequence_runs({{"k", kMax}, {"k", kMin}, {"k", kMax - 1}, {"k", kMax}})),
            (std::vector<RunTuple>{{"k", kMin, kMin}, {"k", kMax - 1, kMax}}));
}

// verify_result over real signed batches of one registration: each verifies, and the runs of
// their verified rows show the hole a withheld batch leaves.
TEST_F(VerifyResult, VerifiedBatchesAndTheirSequenceRuns) {
  const std::string ids[] = {"11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222",
                             "33333333-3333-4333-8333-333333333333"};
  std::vector<ResultVerdict> all;
  for (int b = 0; b < 3; ++b) {
    const std::string body =
        array_text({signed_element(registration_, 2 * b + 1, "odd"), signed_element(registration_, 2 * b + 2, "even")});
    const KnownBatch known = delivered(body, registration_, ids[b]);
    all.push_back(verify_result(ids[b], body, &known, keys_));
    EXPECT_TRUE(all.back().verified) << b;
  }
  // The middle batch withheld: two runs, with 3..4 missing between them.
  auto row_keys = all[0].row_keys;
  row_keys.insert(row_keys.end(), all[2].row_keys.begin(), all[2].row_keys.end());
  EXPECT_EQ(as_tuples(sequence_runs(row_keys)), (std::vector<RunTuple>{{kSidecar, 1, 2}, {kSidecar, 5, 6}}));
}

}  // namespace
}  // namespace fls::kms
