#pragma once
// An IdSource for tests and fuzz targets whose ids are fixed and readable:
// 00000000-0000-4000-8000-000000000001, …-000000000002, and so on (the last group in hex).
#include <cstdio>
#include <string>

#include "fls/common/ids.h"

namespace fls::test {

class CountingIds final : public IdSource {
 public:
  std::string next_uuid() override {
    char text[40];
    std::snprintf(text, sizeof text, "00000000-0000-4000-8000-%012llx", ++counter_);
    return text;
  }

 private:
  unsigned long long counter_ = 0;
};

}  // namespace fls::test
