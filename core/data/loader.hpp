// Training batches and evaluation windows over a TokenFile.
//
// Every training sample is a window of seq_len + 1 tokens (inputs = the first seq_len,
// targets = the last seq_len). Where global sample g starts is a pure function of (seed,
// g, token count, seq_len): a keyed permutation of non-overlapping window slots per epoch.
// Nothing depends on the world size or on history, so:
//   * rank r of W, in each step, takes global samples [step*B*W + r*B, step*B*W + (r+1)*B);
//     concatenating the ranks' batches in rank order gives exactly the batch a single
//     process with batch size B*W sees;
//   * the whole loader state is one counter, and seek() resumes exactly, even under a
//     different world size with the same global batch.
// Windows run across document boundaries (documents end with "\n\n"): pretraining packs them.
#pragma once

#include "core/data/token_file.hpp"

#include <cstdint>

namespace strata::data {

// Serialisable loader state: the global index of the first sample of the next step.
struct LoaderPosition {
  uint64_t next_sample = 0;
  friend bool operator==(const LoaderPosition&, const LoaderPosition&) = default;
};

class BatchLoader {
public:
  // The file must outlive the loader. Throws std::invalid_argument for zero sizes or
  // rank >= world_size, and std::runtime_error naming the file when it holds fewer than
  // seq_len + 1 tokens.
  BatchLoader(const TokenFile& file, uint64_t seq_len, uint64_t batch_size, uint64_t rank, uint64_t world_size,
              uint64_t seed);

  // Fills inputs and targets, each [batch_size, seq_len] row-major, and advances one step.
  void next(int32_t* inputs, int32_t* targets);

  LoaderPosition position() const { return {next_sample_}; }
  void seek(LoaderPosition position) { next_sample_ = position.next_sample; }

  // Non-overlapping window slots per epoch: (token_count - 1) / seq_len. An epoch is one
  // pass over these slots in a seed- and epoch-keyed order.
  uint64_t samples_per_epoch() const { return slots_; }
  uint64_t epoch() const { return next_sample_ / slots_; }  // of the next sample
  uint64_t global_batch_size() const { return batch_size_ * world_size_; }

  // First token of global sample g's window; start + seq_len + 1 <= token_count always.
  uint64_t sample_start(uint64_t global_sample) const;

private:
  const TokenFile* file_;
  uint64_t seq_len_;
  uint64_t batch_size_;
  uint64_t rank_;
  uint64_t world_size_;
  uint64_t seed_;
  uint64_t slots_;  // windows per epoch
  uint64_t slack_;  // tokens left over by the slots, used to shift them per epoch
  uint64_t next_sample_ = 0;
};

// Fixed, non-overlapping evaluation windows: window j covers tokens [j*seq_len,
// j*seq_len + seq_len], for j < (token_count - 1) / seq_len; the tail shorter than a window
// is not evaluated. Window order and the rank split follow the training rule, so the union
// of all ranks' rows is every window exactly once, whatever the world size.
class EvalIterator {
public:
  EvalIterator(const TokenFile& file, uint64_t seq_len, uint64_t batch_size, uint64_t rank = 0,
               uint64_t world_size = 1);

  uint64_t window_count() const { return windows_; }  // over all ranks
  // Steps needed to cover every window; every rank must take the same number (the last
  // step may leave some ranks with fewer rows, or none).
  uint64_t steps() const;
  bool done() const { return step_ >= steps(); }

  // Fills up to batch_size rows of [batch_size, seq_len] and returns how many rows are
  // valid (0 once done()). Rows past the returned count are left untouched.
  uint64_t next(int32_t* inputs, int32_t* targets);
  void reset() { step_ = 0; }

private:
  const TokenFile* file_;
  uint64_t seq_len_;
  uint64_t batch_size_;
  uint64_t rank_;
  uint64_t world_size_;
  uint64_t windows_;
  uint64_t step_ = 0;
};

}  // namespace strata::data
