#pragma once
// An IdSource for tests and fuzz targets whose ids are fixed and readable:
// 00000000-0000-4000-8000-000000000001, …-000000000002, and so on (the last group in hex). A
// prefix (the first group, 8 hex digits) tells apart the ids of two sources in one test.
#include <cstdio>
#include <string>
#include <utility>

#include "fls/common/ids.h"

namespace fls::test {

class CountingIds final : public IdSource {
 public:
  explicit CountingIds(std::string prefix = "00000000") : prefix_(std::move(prefix)) {}

  std::string next_uuid() override {
    char tail[40];
    std::snprintf(tail, sizeof tail, "-0000-4000-8000-%012llx", ++counter_);
    return prefix_ + tail;
  }

 private:
  std::string prefix_;
  unsigned long long counter_ = 0;
};

}  // namespace fls::test
