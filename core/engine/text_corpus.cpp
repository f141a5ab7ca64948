#include "core/engine/text_corpus.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace strata::engine {
namespace {

namespace fs = std::filesystem;

bool looks_binary(const std::string& bytes) { return bytes.find('\0') != std::string::npos; }

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

uint64_t counter_hash(uint64_t seed, uint64_t counter) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + counter + 0x632BE59BD9B4E019ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

TextCorpus::TextCorpus(const std::vector<std::string>& paths, double val_fraction, uint64_t max_bytes) {
  std::string all;
  for (const auto& p : paths) {
    std::error_code ec;
    std::vector<fs::path> candidates;
    if (fs::is_directory(p, ec)) {
      for (const auto& entry : fs::directory_iterator(p, ec))
        if (entry.is_regular_file()) candidates.push_back(entry.path());
      std::sort(candidates.begin(), candidates.end());  // directory order is not stable
    } else if (fs::is_regular_file(p, ec)) {
      candidates.emplace_back(p);
    } else {
      throw std::runtime_error("data path " + p + " does not exist (install the corpus or set /data/paths)");
    }
    for (const auto& file : candidates) {
      std::string text = read_file(file);
      if (text.empty() || looks_binary(text)) continue;
      files_.push_back({file.string(), text.size()});
      all += text;
      if (all.back() != '\n') all += '\n';
      if (max_bytes > 0 && all.size() >= max_bytes) break;
    }
    if (max_bytes > 0 && all.size() >= max_bytes) {
      all.resize(max_bytes);
      break;
    }
  }
  if (all.size() < 1024)
    throw std::runtime_error("the data paths hold only " + std::to_string(all.size()) +
                             " bytes of text; at least 1 KiB is needed");
  const auto val_bytes = static_cast<size_t>(static_cast<double>(all.size()) * val_fraction);
  val_ = all.substr(all.size() - val_bytes);
  train_ = all.substr(0, all.size() - val_bytes);
}

std::vector<std::string> TextCorpus::validation_lines(size_t max_lines) const {
  std::vector<std::string> lines;
  std::stringstream ss(val_);
  std::string line;
  while (lines.size() < max_lines && std::getline(ss, line))
    if (line.size() >= 8) lines.push_back(line);  // very short lines carry no signal
  return lines;
}

uint64_t TextCorpus::window_start(uint64_t seed, uint64_t index, uint64_t text_size, uint64_t length) {
  if (text_size <= length) return 0;
  return counter_hash(seed, index) % (text_size - length);
}

}  // namespace strata::engine
