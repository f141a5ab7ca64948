// The flat gradient buffer cut into the buckets an aggregation plugin averages over the
// data-parallel group (the aggregation tier's contract: start each bucket as soon as the
// backward pass has produced it, then wait for every started bucket in start order).
// Shared by the training step and `strata bench comm`, so the benchmark drives the plugin
// exactly as training does.
//
// The backward pass finishes the flat buffer from its end (ln_f and the last block come
// first, the embedding last), so buckets are cut from the end: bucket 0 holds the last
// bucket_elems elements, and each bucket can start as soon as the backward has gone below
// its first element.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "core/plugin/instance.hpp"

namespace strata::run {

template <class T>
class BucketedAggregation {
 public:
  BucketedAggregation(const plugin::PluginInstance& aggregator, const strata_comm* comm, T* grads, uint64_t total,
                      uint64_t bucket_elems, int64_t step)
      : aggregator_(aggregator), comm_(comm), grads_(grads), total_(total), bucket_elems_(bucket_elems), step_(step) {
    started_.reserve(total / bucket_elems + 1);
  }
  // A gradient buffer that may live on a device (a DeviceTrainer's): every bucket carries
  // its device kind and index, and the host never touches the data.
  BucketedAggregation(const plugin::PluginInstance& aggregator, const strata_comm* comm, const strata_buffer& grads,
                      uint64_t bucket_elems, int64_t step)
      : BucketedAggregation(aggregator, comm, static_cast<T*>(grads.data), grads.count, bucket_elems, step) {
    if (grads.dtype != (sizeof(T) == 8 ? STRATA_DTYPE_F64 : STRATA_DTYPE_F32))
      throw std::invalid_argument("gradient buckets: the buffer's dtype does not match the aggregation's");
    device_kind_ = grads.device_kind;
    device_index_ = grads.device_index;
  }
  BucketedAggregation(const BucketedAggregation&) = delete;
  BucketedAggregation& operator=(const BucketedAggregation&) = delete;

  // Elements [begin, total) hold their final gradient: start every bucket inside them.
  void ready_from(uint64_t begin) {
    while (next_end_ > 0) {
      const uint64_t start = next_end_ > bucket_elems_ ? next_end_ - bucket_elems_ : 0;
      if (start < begin) return;
      strata_grad_bucket b{};
      b.struct_size = STRATA_GRAD_BUCKET_STRUCT_SIZE;
      b.index = static_cast<int32_t>(started_.size());
      b.offset = start;
      b.step = step_;
      b.grads = {grads_ + start, next_end_ - start, sizeof(T) == 8 ? STRATA_DTYPE_F64 : STRATA_DTYPE_F32,
                 device_kind_, device_index_};
      started_.emplace_back(b, nullptr);
      started_.back().second = aggregator_.aggregate_start(comm_, started_.back().first);
      next_end_ = start;
    }
  }
  // Starts what is left and waits for every bucket, in start order.
  void finish() {
    ready_from(0);
    for (auto& [bucket, pending] : started_) aggregator_.aggregate_wait(pending);
    started_.clear();
  }
  size_t started() const { return started_.size(); }

 private:
  const plugin::PluginInstance& aggregator_;
  const strata_comm* comm_;
  T* grads_;
  uint64_t total_, bucket_elems_;
  int64_t step_;
  uint64_t next_end_ = total_;  // buckets below this are not started yet
  uint16_t device_kind_ = STRATA_DEVICE_CPU, device_index_ = 0;
  std::vector<std::pair<strata_grad_bucket, strata_agg_pending*>> started_;
};

// The gradient hook of one step of `micro_batches` backward passes (GptModel's and
// DeviceTrainer's set_gradient_hook): it counts the backwards, each of which ends with
// complete_from == 0, and with `overlap` starts the buckets that the last one completes.
// Earlier micro-batches only accumulate.
template <class T>
std::function<void(int64_t)> start_buckets_in_last_backward(BucketedAggregation<T>& buckets, int64_t micro_batches,
                                                            bool overlap) {
  return [&buckets, micro_batches, overlap, backwards = int64_t{0}](int64_t complete_from) mutable {
    if (overlap && backwards == micro_batches - 1) buckets.ready_from(static_cast<uint64_t>(complete_from));
    if (complete_from == 0) ++backwards;
  };
}

// All buckets of grads [total], started and waited for at once.
template <class T>
void aggregate_in_buckets(const plugin::PluginInstance& aggregator, const strata_comm* comm, T* grads, uint64_t total,
                          uint64_t bucket_elems, int64_t step) {
  BucketedAggregation<T>(aggregator, comm, grads, total, bucket_elems, step).finish();
}

}  // namespace strata::run
