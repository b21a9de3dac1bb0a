#include "fls/common/prometheus.h"

#include <cstdio>

namespace fls {
namespace {

std::string number(double value) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.17g", value);
  return buffer;
}

}  // namespace

void PrometheusText::header(const std::string& name, const std::string& help, const char* type) {
  text_ += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

void PrometheusText::counter(const std::string& name, const std::string& help, double value) {
  header(name, help, "counter");
  text_ += name + " " + number(value) + "\n";
}

void PrometheusText::gauge(const std::string& name, const std::string& help, double value) {
  header(name, help, "gauge");
  text_ += name + " " + number(value) + "\n";
}

void PrometheusText::histogram(const std::string& name, const std::string& help, const std::vector<double>& bounds,
                               const std::vector<std::uint64_t>& bucket_counts, double sum, std::uint64_t count) {
  header(name, help, "histogram");
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    cumulative += bucket_counts[i];
    text_ += name + "_bucket{le=\"" + number(bounds[i]) + "\"} " + std::to_string(cumulative) + "\n";
  }
  text_ += name + "_bucket{le=\"+Inf\"} " + std::to_string(count) + "\n";
  text_ += name + "_sum " + number(sum) + "\n" + name + "_count " + std::to_string(count) + "\n";
}

const std::vector<double>& LatencyHistogram::bounds() {
  static const std::vector<double> kBounds{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  return kBounds;
}

void LatencyHistogram::observe(double seconds) {
  for (std::size_t i = 0; i < bounds().size(); ++i) {
    if (seconds <= bounds()[i]) {
      ++buckets[i];
      break;
    }
  }
  sum += seconds;
  ++count;
}

}  // namespace fls
