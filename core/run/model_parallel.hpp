// What the runner needs to execute a Megatron-style plan (tp x pp x dp) on top of the
// communicator service: each rank's coordinates, the process groups split off the world,
// the tensor-parallel adapter the engine calls, the 1F1B pipeline schedule, and the moves
// between a rank's shard and the full-shape tensors that checkpoints hold.
//
// Rank order is Megatron-LM's: tensor-parallel ranks fastest, then data parallel, then
// pipeline stages: world rank = tp_rank + tp·(dp_rank + dp·pp_rank).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/engine/gpt/gpt_model.hpp"
#include "core/engine/gpt/parameter_layout.hpp"
#include "core/engine/gpt/tensor_parallel_group.hpp"
#include "strata/abi/comm.h"

namespace strata::run {

struct ParallelCoordinates {
  int tp = 1, pp = 1, dp = 1;
  int tp_rank = 0, pp_rank = 0, dp_rank = 0;
  std::vector<int64_t> stage_begin;  // pp + 1 entries: stage s holds layers [s, s + 1)

  // Throws std::invalid_argument when the plan's stage boundaries do not cut `layers` in
  // pp non-empty, increasing ranges.
  static ParallelCoordinates of(int tp, int pp, int dp, const int32_t* stage_layer_begin, int64_t layers,
                                int world_rank);
  bool model_parallel() const { return tp > 1 || pp > 1; }
  bool first_stage() const { return pp_rank == 0; }
  bool last_stage() const { return pp_rank == pp - 1; }
  engine::ModelShard shard() const {
    return {tp_rank, tp, stage_begin[static_cast<size_t>(pp_rank)], stage_begin[static_cast<size_t>(pp_rank) + 1]};
  }
  std::string describe() const;  // "tp rank 1/2, pipeline stage 0/2 (layers 0-1), dp rank 0/1"
};

// The groups a rank belongs to, split off the world (a collective call on every rank).
// Null where the group is the rank alone and nothing needs it.
class ParallelGroups {
 public:
  ParallelGroups(const strata_comm* world, const ParallelCoordinates& at);
  ~ParallelGroups();
  ParallelGroups(const ParallelGroups&) = delete;
  ParallelGroups& operator=(const ParallelGroups&) = delete;

  const strata_comm* tp() const { return tp_; }          // same dp and stage; ordered by tp rank
  const strata_comm* dp() const { return dp_; }          // same tp rank and stage: gradient averaging
  const strata_comm* pp() const { return pp_; }          // one pipeline, ordered by stage
  const strata_comm* model() const { return model_; }    // tp x pp of one replica: gradient norm
  const strata_comm* embedding() const { return embedding_; }  // first and last stage: the tied wte

 private:
  std::vector<strata_comm*> owned_;
  const strata_comm *tp_ = nullptr, *dp_ = nullptr, *pp_ = nullptr, *model_ = nullptr, *embedding_ = nullptr;
};

// In-place all-reduce helpers (throw std::runtime_error naming `what` on failure).
void allreduce_in_place(const strata_comm* comm, float* data, int64_t n, int32_t op, const char* what);
void allreduce_in_place(const strata_comm* comm, double* data, int64_t n, int32_t op, const char* what);

// The engine's tensor-parallel collectives over a communicator.
class CommTensorGroup final : public engine::TensorParallelGroup {
 public:
  explicit CommTensorGroup(const strata_comm* comm) : comm_(comm) {}
  void sum(float* data, int64_t n) override;
  void sum(double* data, int64_t n) override;
  void max(double* data, int64_t n) override;

 private:
  const strata_comm* comm_;
};

// The non-interleaved 1F1B schedule of Megatron-LM (PipeDream-Flush) over one pipeline:
// stage s runs min(pp - s - 1, M) warm-up forwards, then alternates one forward and one
// backward, then drains the remaining backwards. Activations go to the next stage and
// gradients to the previous one point to point; sends are non-blocking and waited for
// before their buffer is reused, so no stage waits on a neighbour's send.
template <class T>
class PipelineSchedule {
 public:
  // `model` is this rank's stage with at least min(pp - stage, micro_batches) slots.
  PipelineSchedule(engine::GptModel<T>& model, const strata_comm* pipeline, const ParallelCoordinates& at,
                   int64_t rows, int64_t seq);
  // One optimizer step's micro-batches: next_batch fills tokens and targets [rows, seq] of
  // the next micro-batch (every stage reads them in the same order). Each micro-batch's
  // loss is back-propagated with loss_scale. Returns the sum of the micro-batch losses on
  // the last stage, 0 elsewhere. Gradients accumulate into the model's.
  double train(int64_t micro_batches, double loss_scale, const std::function<void(int32_t*, int32_t*)>& next_batch);
  // Forward only (evaluation): the loss on the last stage, NaN elsewhere.
  double forward(const int32_t* tokens, const int32_t* targets, int64_t rows);

 private:
  struct Pending {
    strata_comm_request* request = nullptr;
  };
  void send(const T* data, int64_t n, int peer, int tag, Pending& pending);
  void recv(T* data, int64_t n, int peer, int tag);
  void wait(Pending& pending);

  engine::GptModel<T>& model_;
  const strata_comm* comm_;
  ParallelCoordinates at_;
  int64_t rows_, seq_, width_;
  std::vector<int32_t> tokens_, targets_;  // per slot
  std::vector<T> input_, output_grad_;     // received, consumed at once
  std::vector<std::vector<T>> input_grad_;  // per slot: sent to the previous stage
  std::vector<Pending> sent_activation_, sent_grad_;
};

// A rank's shard into full-shape state (ParameterLayout::index_runs; the way back is
// restore_state in train_state.hpp). `full` is laid out as ParameterLayout(config).
// Writes the shard's primary tensors into `full` (other elements are left alone).
template <class T>
void shard_to_full(const engine::ParameterLayout& shard, const T* local, const engine::ParameterLayout& whole, T* full);
// Sum of squares of the shard's primary tensors, in double.
template <class T>
double primary_sum_of_squares(const engine::ParameterLayout& shard, const T* values);

}  // namespace strata::run
