#pragma once
// A fresh PostgreSQL database per test, in the throwaway cluster that scripts/test.sh starts
// (FLS_TEST_DATABASE_URI names its maintenance database); dropped at the end.
#include <pqxx/pqxx>
#include <string>

namespace fls::test {

class TestDatabase {
 public:
  TestDatabase();
  ~TestDatabase();
  TestDatabase(const TestDatabase&) = delete;
  TestDatabase& operator=(const TestDatabase&) = delete;

  const std::string& uri() const { return uri_; }
  // Runs one query in its own transaction and returns the result.
  pqxx::result query(const std::string& sql);
  long long count(const std::string& sql);  // the first column of the first row

 private:
  std::string admin_uri_;
  std::string name_;
  std::string uri_;
};

}  // namespace fls::test
