// metrics.jsonl: one JSON object per line, appended and flushed as the run goes, so a
// crashed or cancelled run still leaves every line it logged.
#pragma once

#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

namespace strata::run {

class MetricsWriter {
 public:
  // An empty path writes nothing (the ranks other than 0 of a distributed run).
  explicit MetricsWriter(const std::filesystem::path& path);
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;
  void write(const nlohmann::json& record);

 private:
  std::mutex mutex_;
  std::FILE* file_;
};

// A number with 9 significant digits, as metrics print losses (exact enough to compare runs).
nlohmann::json sig9(double value);

}  // namespace strata::run
