// A byte-level text corpus for the placeholder engine: reads text files (or the text files
// of a folder, skipping binary ones), concatenates them and splits off the tail as the
// validation set. Batches are drawn by a counter-based generator keyed by (seed, global
// sample index), so the data order never depends on how the run is laid out or resumed.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace strata::engine {

struct CorpusFile {
  std::string path;
  uint64_t bytes;
};

class TextCorpus {
 public:
  // Throws std::runtime_error naming the path when nothing readable is found.
  TextCorpus(const std::vector<std::string>& paths, double val_fraction, uint64_t max_bytes);

  const std::string& train() const { return train_; }
  const std::string& validation() const { return val_; }
  const std::vector<CorpusFile>& files() const { return files_; }
  // Validation split as lines (for per-example evaluation).
  std::vector<std::string> validation_lines(size_t max_lines) const;

  // Sample `index` (global): the start offset of a window of `length` bytes in `text`.
  static uint64_t window_start(uint64_t seed, uint64_t index, uint64_t text_size, uint64_t length);

 private:
  std::vector<CorpusFile> files_;
  std::string train_;
  std::string val_;
};

// SplitMix64 of (seed, counter): a stateless, counter-based random stream.
uint64_t counter_hash(uint64_t seed, uint64_t counter);

}  // namespace strata::engine
