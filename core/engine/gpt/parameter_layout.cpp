#include "core/engine/gpt/parameter_layout.hpp"

#include <stdexcept>
#include <utility>

namespace strata::engine {
namespace {

int64_t align_up(int64_t n, int64_t a) { return (n + a - 1) / a * a; }

}  // namespace

ParameterLayout::ParameterLayout(const GptConfig& config, const ModelShard& shard) : config_(config), shard_(shard) {
  config_.validate();
  shard_.validate(config_);
  if (shard_.layer_end < 0) shard_.layer_end = config_.layers;
  const int64_t V = config_.vocab_size, C = config_.width, F = config_.ffn_width();
  const int64_t tp = shard_.tp_size, r = shard_.tp_rank;
  const bool replica_primary = r == 0;
  // Column-parallel outputs (axis 0) and row-parallel inputs (axis 1), cut in tp equal parts.
  const auto rows = [&](int64_t n, int64_t groups) { return Cut{0, groups, r * n / tp, (r + 1) * n / tp, true}; };
  const auto cols = [&](int64_t n) { return Cut{1, 1, r * n / tp, (r + 1) * n / tp, true}; };
  const Cut replicated{-1, 1, 0, 0, replica_primary};
  const Cut vocab{0, 1, shard_.vocab_begin(config_), shard_.vocab_end(config_), true};
  const bool split = tp > 1;

  if (shard_.first_stage()) {
    wte_ = add("wte", {V, C}, split ? vocab : Cut{});
    wpe_ = add("wpe", {config_.context, C}, split ? replicated : Cut{});
    segments_.push_back({"embedding", 0, total_count_});
  }

  for (int64_t i = shard_.layer_begin; i < shard_.layer_end; ++i) {
    const std::string p = "h." + std::to_string(i) + ".";
    const int64_t begin = total_count_;
    const Cut rep = split ? replicated : Cut{};
    BlockOffsets b{};
    b.ln_1_weight = add(p + "ln_1.weight", {C}, rep);
    b.ln_1_bias = add(p + "ln_1.bias", {C}, rep);
    b.c_attn_weight = add(p + "attn.c_attn.weight", {3 * C, C}, split ? rows(C, 3) : Cut{});
    b.c_attn_bias = add(p + "attn.c_attn.bias", {3 * C}, split ? rows(C, 3) : Cut{});
    b.attn_proj_weight = add(p + "attn.c_proj.weight", {C, C}, split ? cols(C) : Cut{});
    b.attn_proj_bias = add(p + "attn.c_proj.bias", {C}, rep);
    b.ln_2_weight = add(p + "ln_2.weight", {C}, rep);
    b.ln_2_bias = add(p + "ln_2.bias", {C}, rep);
    b.c_fc_weight = add(p + "mlp.c_fc.weight", {F, C}, split ? rows(F, 1) : Cut{});
    b.c_fc_bias = add(p + "mlp.c_fc.bias", {F}, split ? rows(F, 1) : Cut{});
    b.mlp_proj_weight = add(p + "mlp.c_proj.weight", {C, F}, split ? cols(F) : Cut{});
    b.mlp_proj_bias = add(p + "mlp.c_proj.bias", {C}, rep);
    blocks_.push_back(b);
    segments_.push_back({"h." + std::to_string(i), begin, total_count_});
  }

  if (shard_.last_stage(config_)) {
    int64_t begin = total_count_;
    const Cut rep = split ? replicated : Cut{};
    ln_f_weight_ = add("ln_f.weight", {C}, rep);
    ln_f_bias_ = add("ln_f.bias", {C}, rep);
    segments_.push_back({"ln_f", begin, total_count_});
    if (!shard_.first_stage()) {  // the tied head's own copy of wte
      begin = total_count_;
      Cut head = split ? vocab : Cut{};
      head.primary = false;
      wte_ = add("wte", {V, C}, head);
      segments_.push_back({"head.wte", begin, total_count_});
    }
  }
}

// Appends a tensor at the current (aligned) end and moves the end past it, rounded up so
// the next tensor is aligned too; total_count_ therefore always ends on an alignment
// boundary, which keeps segments tiling the buffer.
int64_t ParameterLayout::add(std::string name, std::vector<int64_t> full_shape, Cut cut) {
  std::vector<int64_t> shape = full_shape;
  if (cut.axis >= 0) {
    const auto axis = static_cast<size_t>(cut.axis);
    shape[axis] = cut.groups * (cut.end - cut.begin);
  }
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  const bool decay = shape.size() >= 2;
  const int64_t offset = total_count_;
  ParameterTensor t{std::move(name), std::move(shape), offset, count, decay};
  t.full_shape = std::move(full_shape);
  t.split_axis = cut.axis;
  t.split_groups = cut.groups;
  t.split_begin = cut.begin;
  t.split_end = cut.end;
  t.primary = cut.primary;
  tensors_.push_back(std::move(t));
  total_count_ = align_up(offset + count, kAlignElems);
  parameter_count_ += count;
  return offset;
}

std::vector<IndexRun> ParameterLayout::index_runs(const ParameterTensor& t) const {
  if (t.split_axis < 0) return {{0, 0, t.count}};
  std::vector<IndexRun> runs;
  const int64_t width = t.split_end - t.split_begin;
  if (t.split_axis == 0) {
    int64_t inner = 1;  // elements per row
    for (size_t d = 1; d < t.shape.size(); ++d) inner *= t.shape[d];
    const int64_t full_group = t.full_shape[0] / t.split_groups;
    for (int64_t g = 0; g < t.split_groups; ++g)
      runs.push_back({g * width * inner, (g * full_group + t.split_begin) * inner, width * inner});
  } else {  // axis 1 of a matrix: one run per row
    const int64_t full_cols = t.full_shape[1];
    for (int64_t row = 0; row < t.shape[0]; ++row)
      runs.push_back({row * width, row * full_cols + t.split_begin, width});
  }
  return runs;
}

const ParameterTensor* ParameterLayout::find(std::string_view name) const {
  for (const ParameterTensor& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

const ParameterTensor& ParameterLayout::at(std::string_view name) const {
  const ParameterTensor* t = find(name);
  if (t == nullptr) throw std::out_of_range("ParameterLayout: no tensor named '" + std::string(name) + "'");
  return *t;
}

std::vector<kernels::cpu::DecayRange> ParameterLayout::weight_decay_ranges() const {
  std::vector<kernels::cpu::DecayRange> ranges;
  bool previous_decayed = false;
  for (const ParameterTensor& t : tensors_) {
    if (t.decay && previous_decayed)
      ranges.back().end = t.offset + t.count;
    else if (t.decay)
      ranges.push_back({t.offset, t.offset + t.count});
    previous_decayed = t.decay;
  }
  return ranges;
}

}  // namespace strata::engine
