#include "core/run/metrics_writer.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace strata::run {

MetricsWriter::MetricsWriter(const std::filesystem::path& path)
    : file_(path.empty() ? nullptr : std::fopen(path.c_str(), "a")) {
  if (file_ == nullptr && !path.empty()) throw std::runtime_error("cannot open " + path.string() + ": " + std::strerror(errno));
}

MetricsWriter::~MetricsWriter() {
  if (file_ != nullptr) std::fclose(file_);
}

void MetricsWriter::write(const nlohmann::json& record) {
  if (file_ == nullptr) return;
  const std::string line = record.dump() + "\n";
  std::lock_guard lock(mutex_);
  std::fputs(line.c_str(), file_);
  std::fflush(file_);
}

nlohmann::json sig9(double value) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", value);
  return nlohmann::json::parse(buf, nullptr, false).is_number() ? nlohmann::json::parse(buf) : nlohmann::json(value);
}

}  // namespace strata::run
