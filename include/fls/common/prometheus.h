#pragma once
// Writes metrics in the Prometheus text exposition format (version 0.0.4).
#include <cstdint>
#include <string>
#include <vector>

namespace fls {

class PrometheusText {
 public:
  void counter(const std::string& name, const std::string& help, double value);
  void gauge(const std::string& name, const std::string& help, double value);
  // `bucket_counts[i]` counts observations <= `bounds[i]` (not cumulative); `count` is all of them.
  void histogram(const std::string& name, const std::string& help, const std::vector<double>& bounds,
                 const std::vector<std::uint64_t>& bucket_counts, double sum, std::uint64_t count);
  const std::string& text() const { return text_; }

 private:
  void header(const std::string& name, const std::string& help, const char* type);
  std::string text_;
};

// A latency histogram with fixed bounds, for one writer thread; copy it to read it elsewhere.
struct LatencyHistogram {
  static const std::vector<double>& bounds();  // seconds
  std::vector<std::uint64_t> buckets = std::vector<std::uint64_t>(bounds().size(), 0);
  double sum = 0;
  std::uint64_t count = 0;
  void observe(double seconds);
};

}  // namespace fls
