// The JSON-RPC 2.0 envelope of the KMS connection (protocol.md §4): how each kind of text is
// sorted, which error it gets, and the exact bytes of what either end writes.
#include "fls/protocol/jsonrpc.h"

#include <gtest/gtest.h>

#include <string>
#include <variant>

namespace fls::protocol {
namespace {

using json = nlohmann::json;

Invalid invalid(std::string_view text) {
  Incoming message = parse(text);
  EXPECT_TRUE(std::holds_alternative<Invalid>(message)) << text;
  return std::holds_alternative<Invalid>(message) ? std::get<Invalid>(message) : Invalid{};
}

TEST(JsonRpcParse, RequestKeepsIdMethodAndParams) {
  const Incoming message = parse(R"({"jsonrpc":"2.0","id":"a-1","method":"HealthCheck","params":{"level":"ping"}})");
  const auto* request = std::get_if<Request>(&message);
  ASSERT_NE(request, nullptr);
  EXPECT_EQ(request->id, "a-1");
  EXPECT_TRUE(request->has_id);
  EXPECT_EQ(request->method, "HealthCheck");
  EXPECT_TRUE(request->is("healthcheck"));  // method names are compared case-insensitively
  EXPECT_FALSE(request->is("healthchecks"));
  EXPECT_EQ(request->params, json({{"level", "ping"}}));
}

TEST(JsonRpcParse, NotificationHasNoIdAndNullParams) {
  const Incoming message = parse(R"({"jsonrpc":"2.0","method":"inquiry-response"})");
  const auto* request = std::get_if<Request>(&message);
  ASSERT_NE(request, nullptr);
  EXPECT_FALSE(request->has_id);
  EXPECT_TRUE(request->id.is_null());
  EXPECT_TRUE(request->params.is_null());
}

TEST(JsonRpcParse, ResultAndErrorAreResponses) {
  Incoming message = parse(R"({"jsonrpc":"2.0","id":"r","result":{"status":"OK"}})");
  auto* response = std::get_if<Response>(&message);
  ASSERT_NE(response, nullptr);
  EXPECT_FALSE(response->is_error);
  ASSERT_NE(response->id_text(), nullptr);
  EXPECT_EQ(*response->id_text(), "r");
  EXPECT_EQ(response->payload, json({{"status", "OK"}}));

  message = parse(R"({"jsonrpc":"2.0","id":7,"error":{"code":120,"message":"Batch exists"}})");
  response = std::get_if<Response>(&message);
  ASSERT_NE(response, nullptr);
  EXPECT_TRUE(response->is_error);
  EXPECT_EQ(response->id_text(), nullptr);  // only string ids match requests
  EXPECT_TRUE(response->has_error_code(ErrorCode::batch_exists));
  EXPECT_FALSE(response->has_error_code(ErrorCode::sidecar_exists));
  EXPECT_EQ(response->describe_error(), "code 120: Batch exists");
}

TEST(JsonRpcParse, MethodWinsOverResult) {
  EXPECT_TRUE(std::holds_alternative<Request>(parse(R"({"id":"x","method":"batch","result":1})")));
}

TEST(JsonRpcParse, MalformedTextIsAParseErrorWithNullId) {
  const Invalid answer = invalid(R"({"jsonrpc":"2.0","id":"x",)");
  EXPECT_EQ(answer.error.code, ErrorCode::parse_error);
  EXPECT_EQ(answer.error.message, "Parse error");
  EXPECT_TRUE(answer.id.is_null());
}

TEST(JsonRpcParse, DeepNestingIsRefusedUnparsed) {
  const std::string deep = std::string(100, '[') + std::string(100, ']');
  const Invalid answer = invalid(R"({"id":"x","method":"batch","params":)" + deep + "}");
  EXPECT_EQ(answer.error.code, ErrorCode::invalid_request);
  EXPECT_EQ(answer.error.message, "Invalid Request: nested too deeply");
  EXPECT_TRUE(answer.id.is_null());
}

TEST(JsonRpcParse, ValuesThatAreNotRequestsOrResponses) {
  EXPECT_EQ(invalid("[1,2]").error.message, "Invalid Request");
  EXPECT_EQ(invalid(R"("text")").error.code, ErrorCode::invalid_request);
  // Neither a method nor a result: the id is echoed when it may be.
  EXPECT_EQ(invalid(R"({"id":"q"})").id, "q");
  EXPECT_TRUE(invalid(R"({"id":{"a":1}})").id.is_null());
  // A method that is not a string: the request's id is echoed.
  const Invalid method = invalid(R"({"id":5,"method":7})");
  EXPECT_EQ(method.id, 5);
  EXPECT_EQ(method.error.message, "Invalid Request");
}

TEST(JsonRpcParse, StructuredRequestIdsAreNeverEchoed) {
  const Invalid answer = invalid(R"({"jsonrpc":"2.0","id":[1],"method":"register","params":{}})");
  EXPECT_EQ(answer.error.code, ErrorCode::invalid_request);
  EXPECT_EQ(answer.error.message, "Invalid Request: id must be a string, number or null");
  EXPECT_TRUE(answer.id.is_null());
}

TEST(JsonRpcParse, ResponsesAreNeverAnsweredWhateverTheirId) {
  const Incoming message = parse(R"({"id":[1],"result":{}})");
  const auto* response = std::get_if<Response>(&message);
  ASSERT_NE(response, nullptr);
  EXPECT_EQ(response->id_text(), nullptr);
}

TEST(JsonRpcEncode, ExactBytes) {
  EXPECT_EQ(encode_request("i", "healthcheck", OrderedJson{{"level", "ping"}}),
            R"({"jsonrpc":"2.0","id":"i","method":"healthcheck","params":{"level":"ping"}})");
  EXPECT_EQ(encode_result(12, OrderedJson{{"id", "b"}}), R"({"jsonrpc":"2.0","id":12,"result":{"id":"b"}})");
  EXPECT_EQ(encode_error(nullptr, {ErrorCode::parse_error, "Parse error"}),
            R"({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}})");
}

TEST(JsonRpcEncode, InvalidUtf8IsReplacedNotThrown) {
  EXPECT_EQ(dump(OrderedJson("a\xff"
                             "b")),
            "\"a\xEF\xBF\xBD"
            "b\"");
}

TEST(ErrorCodes, AreTheProtocolsNumbers) {
  EXPECT_EQ(static_cast<int>(ErrorCode::parse_error), -32700);
  EXPECT_EQ(static_cast<int>(ErrorCode::invalid_request), -32600);
  EXPECT_EQ(static_cast<int>(ErrorCode::method_not_found), -32601);
  EXPECT_EQ(static_cast<int>(ErrorCode::invalid_params), -32602);
  EXPECT_EQ(static_cast<int>(ErrorCode::internal_error), -32603);
  EXPECT_EQ(static_cast<int>(ErrorCode::batch_exists), 120);
  EXPECT_EQ(static_cast<int>(ErrorCode::sidecar_exists), 40001);
  EXPECT_EQ(static_cast<int>(ErrorCode::bad_batch_signature), 40004);
  EXPECT_EQ(static_cast<int>(ErrorCode::bad_row_signature), 40005);
  EXPECT_EQ(static_cast<int>(ErrorCode::registration_refused), 40100);
}

}  // namespace
}  // namespace fls::protocol
