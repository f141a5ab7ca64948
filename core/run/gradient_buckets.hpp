// The flat gradient buffer cut into the buckets an aggregation plugin averages over the
// data-parallel group, started in order and then waited for in the same order (the
// aggregation tier's contract). Shared by the training step and `strata bench comm`, so the
// benchmark drives the plugin exactly as training does.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/plugin/instance.hpp"

namespace strata::run {

// Buckets of bucket_elems elements (the last one shorter) over grads [total].
template <class T>
void aggregate_in_buckets(const plugin::PluginInstance& aggregator, const strata_comm* comm, T* grads, uint64_t total,
                          uint64_t bucket_elems, int64_t step) {
  std::vector<std::pair<strata_grad_bucket, strata_agg_pending*>> started;
  started.reserve(total / bucket_elems + 1);
  int32_t index = 0;
  for (uint64_t offset = 0; offset < total; offset += bucket_elems, ++index) {
    strata_grad_bucket b{};
    b.struct_size = STRATA_GRAD_BUCKET_STRUCT_SIZE;
    b.index = index;
    b.offset = offset;
    b.step = step;
    b.grads = {grads + offset, std::min<uint64_t>(bucket_elems, total - offset),
               sizeof(T) == 8 ? STRATA_DTYPE_F64 : STRATA_DTYPE_F32, STRATA_DEVICE_CPU, 0};
    started.emplace_back(b, nullptr);
    started.back().second = aggregator.aggregate_start(comm, started.back().first);
  }
  for (auto& [bucket, pending] : started) aggregator.aggregate_wait(pending);
}

}  // namespace strata::run
