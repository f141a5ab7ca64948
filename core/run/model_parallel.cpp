#include "core/run/model_parallel.hpp"

#include <algorithm>
#include <stdexcept>

namespace strata::run {
namespace {

template <class T>
constexpr uint32_t dtype_of() {
  return sizeof(T) == 8 ? STRATA_DTYPE_F64 : STRATA_DTYPE_F32;
}

template <class T>
void allreduce(const strata_comm* comm, T* data, int64_t n, int32_t op, const char* what) {
  strata_buffer b{data, static_cast<uint64_t>(n), dtype_of<T>(), STRATA_DEVICE_CPU, 0};
  if (comm->api->allreduce(comm->handle, &b, &b, op, nullptr) != STRATA_OK)
    throw std::runtime_error(std::string("all-reduce failed: ") + what);
}

}  // namespace

ParallelCoordinates ParallelCoordinates::of(int tp, int pp, int dp, const int32_t* stage_layer_begin, int64_t layers,
                                            int world_rank) {
  ParallelCoordinates c;
  c.tp = tp;
  c.pp = pp;
  c.dp = dp;
  c.tp_rank = world_rank % tp;
  c.dp_rank = (world_rank / tp) % dp;
  c.pp_rank = world_rank / (tp * dp);
  if (pp == 1) {
    c.stage_begin = {0, layers};
    return c;
  }
  for (int s = 0; s <= pp; ++s) c.stage_begin.push_back(stage_layer_begin[s]);
  if (c.stage_begin.front() != 0 || c.stage_begin.back() != layers)
    throw std::invalid_argument("the plan's pipeline stages cover layers [" + std::to_string(c.stage_begin.front()) +
                                ", " + std::to_string(c.stage_begin.back()) + "), not [0, " + std::to_string(layers) +
                                ")");
  for (int s = 0; s < pp; ++s)
    if (c.stage_begin[static_cast<size_t>(s) + 1] <= c.stage_begin[static_cast<size_t>(s)])
      throw std::invalid_argument("the plan's pipeline stage " + std::to_string(s) + " holds no layer");
  return c;
}

std::string ParallelCoordinates::describe() const {
  const auto s = static_cast<size_t>(pp_rank);
  return "tp rank " + std::to_string(tp_rank) + "/" + std::to_string(tp) + ", pipeline stage " +
         std::to_string(pp_rank) + "/" + std::to_string(pp) + " (layers " + std::to_string(stage_begin[s]) + "-" +
         std::to_string(stage_begin[s + 1] - 1) + "), dp rank " + std::to_string(dp_rank) + "/" + std::to_string(dp);
}

ParallelGroups::ParallelGroups(const strata_comm* world, const ParallelCoordinates& at) {
  const int world_rank = at.tp_rank + at.tp * (at.dp_rank + at.dp * at.pp_rank);
  const auto split = [&](int colour, int key, const char* name) -> const strata_comm* {
    strata_comm* out = nullptr;
    if (world->api->split(world->handle, colour, key, &out) != STRATA_OK || out == nullptr)
      throw std::runtime_error(std::string("could not split the world into the ") + name + " groups");
    owned_.push_back(out);
    return out;
  };
  // Every rank takes part in every split, in the same order.
  tp_ = split(at.dp_rank + at.dp * at.pp_rank, at.tp_rank, "tensor-parallel");
  dp_ = split(at.tp_rank + at.tp * at.pp_rank, at.dp_rank, "data-parallel");
  pp_ = split(at.tp_rank + at.tp * at.dp_rank, at.pp_rank, "pipeline");
  model_ = split(at.dp_rank, at.tp_rank + at.tp * at.pp_rank, "model-parallel");
  // Ranks outside the first and last stage get a group of their own (not used).
  const bool ends = at.pp > 1 && (at.first_stage() || at.last_stage());
  const int outside = at.tp * at.dp + world_rank;
  const strata_comm* e = split(ends ? at.tp_rank + at.tp * at.dp_rank : outside, at.pp_rank, "embedding");
  embedding_ = ends ? e : nullptr;
}

ParallelGroups::~ParallelGroups() {
  for (auto it = owned_.rbegin(); it != owned_.rend(); ++it) (*it)->api->free_comm(*it);
}

void allreduce_in_place(const strata_comm* comm, float* data, int64_t n, int32_t op, const char* what) {
  allreduce(comm, data, n, op, what);
}
void allreduce_in_place(const strata_comm* comm, double* data, int64_t n, int32_t op, const char* what) {
  allreduce(comm, data, n, op, what);
}

void CommTensorGroup::sum(float* data, int64_t n) { allreduce(comm_, data, n, STRATA_REDUCE_SUM, "tensor parallel"); }
void CommTensorGroup::sum(double* data, int64_t n) { allreduce(comm_, data, n, STRATA_REDUCE_SUM, "tensor parallel"); }
void CommTensorGroup::max(double* data, int64_t n) { allreduce(comm_, data, n, STRATA_REDUCE_MAX, "tensor parallel"); }

template <class T>
PipelineSchedule<T>::PipelineSchedule(engine::GptModel<T>& model, const strata_comm* pipeline,
                                      const ParallelCoordinates& at, int64_t rows, int64_t seq)
    : model_(model), comm_(pipeline), at_(at), rows_(rows), seq_(seq), width_(model.config().width) {
  const auto slots = static_cast<size_t>(model.activation_slots());
  const auto n = static_cast<size_t>(rows * seq);
  tokens_.resize(n * slots);
  targets_.resize(n * slots);
  input_.resize(n * static_cast<size_t>(width_));
  output_grad_.resize(input_.size());
  input_grad_.assign(slots, std::vector<T>(at.first_stage() ? 0 : input_.size()));
  sent_activation_.resize(slots);
  sent_grad_.resize(slots);
}

template <class T>
void PipelineSchedule<T>::send(const T* data, int64_t n, int peer, int tag, Pending& pending) {
  strata_buffer b{const_cast<T*>(data), static_cast<uint64_t>(n), dtype_of<T>(), STRATA_DEVICE_CPU, 0};
  if (comm_->api->send(comm_->handle, &b, peer, tag, &pending.request) != STRATA_OK)
    throw std::runtime_error("pipeline: send to stage " + std::to_string(peer) + " failed");
}

template <class T>
void PipelineSchedule<T>::recv(T* data, int64_t n, int peer, int tag) {
  strata_buffer b{data, static_cast<uint64_t>(n), dtype_of<T>(), STRATA_DEVICE_CPU, 0};
  if (comm_->api->recv(comm_->handle, &b, peer, tag, nullptr) != STRATA_OK)
    throw std::runtime_error("pipeline: receive from stage " + std::to_string(peer) + " failed");
}

template <class T>
void PipelineSchedule<T>::wait(Pending& pending) {
  if (pending.request == nullptr) return;
  strata_comm_request* r = pending.request;
  pending.request = nullptr;
  if (comm_->api->wait(comm_->handle, r) != STRATA_OK) throw std::runtime_error("pipeline: a send failed");
}

constexpr int kActivationTag = 0;
constexpr int kGradientTag = 1;

template <class T>
double PipelineSchedule<T>::train(int64_t micro_batches, double loss_scale,
                                  const std::function<void(int32_t*, int32_t*)>& next_batch) {
  const int slots = model_.activation_slots();
  const int64_t n = rows_ * seq_;
  const int stage = at_.pp_rank;
  double loss = 0;
  const auto forward_one = [&](int64_t mb) {
    const int slot = static_cast<int>(mb % slots);
    int32_t* tok = tokens_.data() + slot * n;
    int32_t* tgt = targets_.data() + slot * n;
    next_batch(tok, tgt);
    if (!at_.first_stage()) recv(input_.data(), n * width_, stage - 1, kActivationTag);
    wait(sent_activation_[static_cast<size_t>(slot)]);  // the slot's output is about to change
    const double l =
        model_.forward_stage(tok, tgt, at_.first_stage() ? nullptr : input_.data(), rows_, seq_, slot);
    if (at_.last_stage())
      loss += l;
    else
      send(model_.stage_output(slot), n * width_, stage + 1, kActivationTag, sent_activation_[static_cast<size_t>(slot)]);
  };
  const auto backward_one = [&](int64_t mb) {
    const int slot = static_cast<int>(mb % slots);
    if (!at_.last_stage()) recv(output_grad_.data(), n * width_, stage + 1, kGradientTag);
    model_.backward_stage(loss_scale, at_.last_stage() ? nullptr : output_grad_.data(), slot);
    if (at_.first_stage()) return;
    auto& buffer = input_grad_[static_cast<size_t>(slot)];
    wait(sent_grad_[static_cast<size_t>(slot)]);
    std::copy_n(model_.input_grad(), n * width_, buffer.data());
    send(buffer.data(), n * width_, stage - 1, kGradientTag, sent_grad_[static_cast<size_t>(slot)]);
  };
  const int64_t warmup = std::min<int64_t>(at_.pp - stage - 1, micro_batches);
  for (int64_t mb = 0; mb < warmup; ++mb) forward_one(mb);
  for (int64_t mb = 0; mb < micro_batches - warmup; ++mb) {
    forward_one(mb + warmup);
    backward_one(mb);
  }
  for (int64_t mb = micro_batches - warmup; mb < micro_batches; ++mb) backward_one(mb);
  for (auto& p : sent_activation_) wait(p);
  for (auto& p : sent_grad_) wait(p);
  return loss;
}

template <class T>
double PipelineSchedule<T>::forward(const int32_t* tokens, const int32_t* targets, int64_t rows) {
  const int64_t n = rows * seq_;
  const int stage = at_.pp_rank;
  if (!at_.first_stage()) recv(input_.data(), n * width_, stage - 1, kActivationTag);
  const double l = model_.forward_stage(tokens, targets, at_.first_stage() ? nullptr : input_.data(), rows, seq_, 0);
  if (!at_.last_stage()) {
    Pending p;
    send(model_.stage_output(0), n * width_, stage + 1, kActivationTag, p);
    wait(p);
  }
  return l;
}

template <class T>
void shard_to_full(const engine::ParameterLayout& shard, const T* local, const engine::ParameterLayout& whole, T* full) {
  for (const engine::ParameterTensor& t : shard.tensors()) {
    if (!t.primary) continue;
    const engine::ParameterTensor& f = whole.at(t.name);
    for (const engine::IndexRun& r : shard.index_runs(t))
      std::copy_n(local + t.offset + r.local, r.count, full + f.offset + r.full);
  }
}

template <class T>
double primary_sum_of_squares(const engine::ParameterLayout& shard, const T* values) {
  double total = 0;
  for (const engine::ParameterTensor& t : shard.tensors()) {
    if (!t.primary) continue;
    const T* v = values + t.offset;
    double sum = 0;
#pragma omp parallel for reduction(+ : sum) schedule(static) if (t.count >= (int64_t{1} << 16))
    for (int64_t i = 0; i < t.count; ++i) sum += static_cast<double>(v[i]) * static_cast<double>(v[i]);
    total += sum;
  }
  return total;
}

template class PipelineSchedule<float>;
template class PipelineSchedule<double>;
template void shard_to_full<float>(const engine::ParameterLayout&, const float*, const engine::ParameterLayout&, float*);
template void shard_to_full<double>(const engine::ParameterLayout&, const double*, const engine::ParameterLayout&,
                                    double*);
template double primary_sum_of_squares<float>(const engine::ParameterLayout&, const float*);
template double primary_sum_of_squares<double>(const engine::ParameterLayout&, const double*);

}  // namespace strata::run
