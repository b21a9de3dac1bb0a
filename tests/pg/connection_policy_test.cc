// The connection policy's defaults are added to what a database URI leaves unset, in both of
// libpq's forms, and never change what it sets. Checked by libpq's own parser; no database.
#include "fls/pg/connection_policy.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>

#include <map>
#include <memory>
#include <string>

namespace fls {
namespace {

// The options libpq reads from `conninfo` (those it sets), or an empty map if it cannot parse it.
std::map<std::string, std::string> parsed(const std::string& conninfo) {
  char* error = nullptr;
  const std::unique_ptr<PQconninfoOption, void (*)(PQconninfoOption*)> options(
      PQconninfoParse(conninfo.c_str(), &error), PQconninfoFree);
  PQfreemem(error);
  std::map<std::string, std::string> out;
  if (!options) return out;
  for (const PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o) {
    if (o->val != nullptr) out[o->keyword] = o->val;
  }
  return out;
}

const std::map<std::string, std::string> kPolicy{{"connect_timeout", "10"},
                                                 {"keepalives_idle", "30"},
                                                 {"keepalives_interval", "10"},
                                                 {"keepalives_count", "3"},
                                                 {"tcp_user_timeout", "30000"}};
constexpr const char* kPolicyQuery =
    "connect_timeout=10&keepalives_idle=30&keepalives_interval=10&keepalives_count=3&tcp_user_timeout=30000";

std::map<std::string, std::string> with_policy(std::map<std::string, std::string> options) {
  for (const auto& [keyword, value] : kPolicy) options.emplace(keyword, value);
  return options;
}

TEST(ConnectionPolicy, AUriWithoutOptionsGetsAllTheDefaults) {
  const std::string uri = "postgresql://fls:secret@db.example:5433/events";
  const auto out = with_connection_policy(uri);
  EXPECT_EQ(out, uri + "?" + kPolicyQuery);
  EXPECT_EQ(
      parsed(out),
      with_policy(
          {{"user", "fls"}, {"password", "secret"}, {"host", "db.example"}, {"port", "5433"}, {"dbname", "events"}}));
}

TEST(ConnectionPolicy, AUrisOwnOptionsStayAndTheDefaultsFollowThem) {
  const std::string uri = "postgresql://fls@db/events?sslmode=require&application_name=fls";
  const auto out = with_connection_policy(uri);
  EXPECT_EQ(out, uri + "&" + kPolicyQuery);
  EXPECT_EQ(parsed(out), with_policy({{"user", "fls"},
                                      {"host", "db"},
                                      {"dbname", "events"},
                                      {"sslmode", "require"},
                                      {"application_name", "fls"}}));
}

TEST(ConnectionPolicy, AnOptionTheUriSetsKeepsItsValue) {
  const std::string uri = "postgres://db/events?connect_timeout=3&tcp_user_timeout=0";
  const auto out = with_connection_policy(uri);
  EXPECT_EQ(out, uri + "&keepalives_idle=30&keepalives_interval=10&keepalives_count=3");
  const auto options = parsed(out);
  EXPECT_EQ(options.at("connect_timeout"), "3");
  EXPECT_EQ(options.at("tcp_user_timeout"), "0");
  EXPECT_EQ(options.at("keepalives_idle"), "30");
}

TEST(ConnectionPolicy, AUriSettingEverythingIsUnchanged) {
  const std::string uri = std::string("postgresql:///events?") + kPolicyQuery;
  EXPECT_EQ(with_connection_policy(uri), uri);
}

TEST(ConnectionPolicy, AUriEndingInAQuestionMarkOrWithoutAPath) {
  EXPECT_EQ(with_connection_policy("postgresql://db/events?"), std::string("postgresql://db/events?") + kPolicyQuery);
  const auto out = with_connection_policy("postgresql://db");
  EXPECT_EQ(out, std::string("postgresql://db?") + kPolicyQuery);
  EXPECT_EQ(parsed(out), with_policy({{"host", "db"}}));
}

TEST(ConnectionPolicy, AQuestionMarkInThePasswordIsNotAQuery) {
  const auto out = with_connection_policy("postgresql://fls:pa?ss@db/events");
  EXPECT_EQ(parsed(out), with_policy({{"user", "fls"}, {"password", "pa?ss"}, {"host", "db"}, {"dbname", "events"}}));
}

TEST(ConnectionPolicy, AKeyValueStringGetsTheDefaultsItLeavesUnset) {
  const std::string conninfo = "host=db dbname=events connect_timeout=5 password='a b\\' connect_timeout=1'";
  const auto out = with_connection_policy(conninfo);
  EXPECT_EQ(out, "keepalives_idle=30 keepalives_interval=10 keepalives_count=3 tcp_user_timeout=30000 " + conninfo);
  EXPECT_EQ(
      parsed(out),
      with_policy(
          {{"host", "db"}, {"dbname", "events"}, {"connect_timeout", "5"}, {"password", "a b' connect_timeout=1"}}));
}

TEST(ConnectionPolicy, AKeyValueStringEndingInABackslashKeepsItsLastValue) {
  const std::string conninfo = "host=db password=abc\\";
  EXPECT_EQ(parsed(with_connection_policy(conninfo)), with_policy(parsed(conninfo)));
}

TEST(ConnectionPolicy, AnEmptyStringGetsTheDefaultsOnly) { EXPECT_EQ(parsed(with_connection_policy("")), kPolicy); }

TEST(ConnectionPolicy, WhatLibpqCannotParseIsUnchanged) {
  for (const std::string bad : {"postgresql://db/events?nonsense_option=1", "host=db dbname", "not a uri"}) {
    EXPECT_EQ(with_connection_policy(bad), bad);
  }
}

}  // namespace
}  // namespace fls
