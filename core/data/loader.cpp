#include "core/data/loader.hpp"

#include <bit>
#include <stdexcept>
#include <string>

namespace strata::data {
namespace {

// Domain tags keep the loader's hashes apart from the validation split's (tag 1).
constexpr uint64_t kShiftDomain = 2;
constexpr uint64_t kOrderDomain = 3;
constexpr uint64_t kFeistelRounds = 6;

void check_sizes(uint64_t seq_len, uint64_t batch_size, uint64_t rank, uint64_t world_size) {
  if (seq_len == 0 || batch_size == 0 || world_size == 0)
    throw std::invalid_argument("seq_len, batch_size and world_size must be positive");
  if (rank >= world_size)
    throw std::invalid_argument("rank " + std::to_string(rank) + " is not below world size " +
                                std::to_string(world_size));
}

// A keyed bijection on [0, n): a balanced Feistel network on the smallest even-bit domain
// covering n, with cycle walking back into range. The domain is < 4n, so a walk takes under
// four steps on average. O(1) memory, so any sample index is computable without history.
uint64_t permute(uint64_t i, uint64_t n, uint64_t key) {
  if (n <= 1) return 0;
  const int half = static_cast<int>((std::bit_width(n - 1) + 1) / 2);
  const uint64_t mask = (uint64_t{1} << half) - 1;
  uint64_t x = i;
  do {
    uint64_t left = x >> half, right = x & mask;
    for (uint64_t round = 0; round < kFeistelRounds; ++round) {
      const uint64_t f = counter_hash(key, round, right) & mask;
      const uint64_t next_right = left ^ f;
      left = right;
      right = next_right;
    }
    x = (left << half) | right;
  } while (x >= n);
  return x;
}

// Copies window [start, start + seq_len] as one input row and one target row.
void fill_row(const TokenFile& file, uint64_t start, uint64_t seq_len, int32_t* inputs, int32_t* targets) {
  file.copy_tokens(start, seq_len, inputs);
  for (uint64_t t = 0; t + 1 < seq_len; ++t) targets[t] = inputs[t + 1];
  targets[seq_len - 1] = file.token(start + seq_len);
}

}  // namespace

BatchLoader::BatchLoader(const TokenFile& file, uint64_t seq_len, uint64_t batch_size, uint64_t rank,
                         uint64_t world_size, uint64_t seed)
    : file_(&file), seq_len_(seq_len), batch_size_(batch_size), rank_(rank), world_size_(world_size), seed_(seed) {
  check_sizes(seq_len, batch_size, rank, world_size);
  const uint64_t tokens = file.token_count();
  if (tokens <= seq_len)
    throw std::runtime_error(file.path().string() + ": holds " + std::to_string(tokens) +
                             " tokens, too few for one training window of seq_len + 1 = " +
                             std::to_string(seq_len + 1));
  slots_ = (tokens - 1) / seq_len;
  slack_ = tokens - 1 - slots_ * seq_len;
}

uint64_t BatchLoader::sample_start(uint64_t global_sample) const {
  const uint64_t epoch = global_sample / slots_;
  const uint64_t slot = permute(global_sample % slots_, slots_, counter_hash(seed_, kOrderDomain, epoch));
  // A per-epoch shift in [0, slack] moves the slot grid, so over epochs every token gets to
  // be a window's first position, without any window passing the end of the array.
  const uint64_t shift = counter_hash(seed_, kShiftDomain, epoch) % (slack_ + 1);
  return shift + slot * seq_len_;
}

void BatchLoader::next(int32_t* inputs, int32_t* targets) {
  const uint64_t first = next_sample_ + rank_ * batch_size_;
  for (uint64_t k = 0; k < batch_size_; ++k)
    fill_row(*file_, sample_start(first + k), seq_len_, inputs + k * seq_len_, targets + k * seq_len_);
  next_sample_ += global_batch_size();
}

EvalIterator::EvalIterator(const TokenFile& file, uint64_t seq_len, uint64_t batch_size, uint64_t rank,
                           uint64_t world_size)
    : file_(&file), seq_len_(seq_len), batch_size_(batch_size), rank_(rank), world_size_(world_size) {
  check_sizes(seq_len, batch_size, rank, world_size);
  windows_ = file.token_count() == 0 ? 0 : (file.token_count() - 1) / seq_len;
}

uint64_t EvalIterator::steps() const {
  const uint64_t per_step = batch_size_ * world_size_;
  return (windows_ + per_step - 1) / per_step;
}

uint64_t EvalIterator::next(int32_t* inputs, int32_t* targets) {
  if (done()) return 0;
  const uint64_t first = step_ * batch_size_ * world_size_ + rank_ * batch_size_;
  ++step_;
  uint64_t rows = 0;
  for (; rows < batch_size_ && first + rows < windows_; ++rows)
    fill_row(*file_, (first + rows) * seq_len_, seq_len_, inputs + rows * seq_len_, targets + rows * seq_len_);
  return rows;
}

}  // namespace strata::data
