#include "test_database.h"

#include <cstdlib>
#include <iostream>
#include <random>
#include <stdexcept>

namespace fls::test {
namespace {

std::string admin_uri_from_environment() {
  const char* admin = std::getenv("FLS_TEST_DATABASE_URI");
  if (admin == nullptr || *admin == '\0') {
    throw std::runtime_error("FLS_TEST_DATABASE_URI is not set: run the tests through scripts/test.sh");
  }
  return admin;
}

std::string random_name() {
  std::random_device random;
  return "fls_test_" + std::to_string(random()) + std::to_string(random());
}

}  // namespace

std::string with_database(const std::string& uri, const std::string& database) {
  const auto scheme = uri.find("://");
  const auto slash = uri.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  const auto query = uri.find('?', slash == std::string::npos ? 0 : slash);
  std::string out = slash == std::string::npos ? uri.substr(0, query) : uri.substr(0, slash);
  out += "/" + database;
  if (query != std::string::npos) out += uri.substr(query);
  return out;
}

TestDatabase::TestDatabase() : admin_uri_(admin_uri_from_environment()), name_(random_name()) { create(); }

TestDatabase::TestDatabase(std::string admin_uri, std::string name)
    : admin_uri_(std::move(admin_uri)), name_(std::move(name)) {
  create();
}

void TestDatabase::create() {
  pqxx::connection connection(admin_uri_);
  pqxx::nontransaction tx(connection);
  tx.exec("CREATE DATABASE " + tx.quote_name(name_));
  uri_ = with_database(admin_uri_, name_);
}

TestDatabase::~TestDatabase() {
  try {
    pqxx::connection connection(admin_uri_);
    pqxx::nontransaction tx(connection);
    tx.exec("DROP DATABASE IF EXISTS " + tx.quote_name(name_) + " WITH (FORCE)");
  } catch (const std::exception& e) {
    // A leftover database is harmless in a throwaway cluster, but worth a word in a kept one.
    std::cerr << "could not drop database " << name_ << ": " << e.what() << "\n";
  }
}

pqxx::result TestDatabase::query(const std::string& sql) {
  pqxx::connection connection(uri_);
  pqxx::work tx(connection);
  auto result = tx.exec(sql);
  tx.commit();
  return result;
}

long long TestDatabase::count(const std::string& sql) { return query(sql)[0][0].as<long long>(); }

}  // namespace fls::test
