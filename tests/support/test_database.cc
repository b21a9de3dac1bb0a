#include "test_database.h"

#include <cstdlib>
#include <random>
#include <stdexcept>

namespace fls::test {
namespace {

// Replaces the database name (the path) of a postgres:// URI.
std::string with_database(const std::string& uri, const std::string& name) {
  const auto scheme = uri.find("://");
  const auto slash = uri.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  const auto query = uri.find('?', slash == std::string::npos ? 0 : slash);
  std::string out = slash == std::string::npos ? uri : uri.substr(0, slash);
  out += "/" + name;
  if (query != std::string::npos) out += uri.substr(query);
  return out;
}

}  // namespace

TestDatabase::TestDatabase() {
  const char* admin = std::getenv("FLS_TEST_DATABASE_URI");
  if (admin == nullptr || *admin == '\0') {
    throw std::runtime_error("FLS_TEST_DATABASE_URI is not set: run the tests through scripts/test.sh");
  }
  admin_uri_ = admin;
  std::random_device random;
  name_ = "fls_test_" + std::to_string(random()) + std::to_string(random());
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
  } catch (const std::exception&) {
    // The cluster is thrown away after the run; a leftover database is harmless.
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
