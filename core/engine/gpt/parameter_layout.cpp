#include "core/engine/gpt/parameter_layout.hpp"

#include <stdexcept>
#include <utility>

namespace strata::engine {
namespace {

int64_t align_up(int64_t n, int64_t a) { return (n + a - 1) / a * a; }

}  // namespace

ParameterLayout::ParameterLayout(const GptConfig& config) : config_(config) {
  config_.validate();
  const int64_t V = config_.vocab_size, C = config_.width, F = config_.ffn_width();
  const int64_t L = config_.layers;

  wte_ = add("wte", {V, C});
  wpe_ = add("wpe", {config_.context, C});
  segments_.push_back({"embedding", 0, total_count_});

  blocks_.reserve(static_cast<size_t>(L));
  for (int64_t i = 0; i < L; ++i) {
    const std::string p = "h." + std::to_string(i) + ".";
    const int64_t begin = total_count_;
    BlockOffsets b{};
    b.ln_1_weight = add(p + "ln_1.weight", {C});
    b.ln_1_bias = add(p + "ln_1.bias", {C});
    b.c_attn_weight = add(p + "attn.c_attn.weight", {3 * C, C});
    b.c_attn_bias = add(p + "attn.c_attn.bias", {3 * C});
    b.attn_proj_weight = add(p + "attn.c_proj.weight", {C, C});
    b.attn_proj_bias = add(p + "attn.c_proj.bias", {C});
    b.ln_2_weight = add(p + "ln_2.weight", {C});
    b.ln_2_bias = add(p + "ln_2.bias", {C});
    b.c_fc_weight = add(p + "mlp.c_fc.weight", {F, C});
    b.c_fc_bias = add(p + "mlp.c_fc.bias", {F});
    b.mlp_proj_weight = add(p + "mlp.c_proj.weight", {C, F});
    b.mlp_proj_bias = add(p + "mlp.c_proj.bias", {C});
    blocks_.push_back(b);
    segments_.push_back({"h." + std::to_string(i), begin, total_count_});
  }

  const int64_t begin = total_count_;
  ln_f_weight_ = add("ln_f.weight", {C});
  ln_f_bias_ = add("ln_f.bias", {C});
  segments_.push_back({"ln_f", begin, total_count_});
}

// Appends a tensor at the current (aligned) end and moves the end past it, rounded up so
// the next tensor is aligned too; total_count_ therefore always ends on an alignment
// boundary, which keeps segments tiling the buffer.
int64_t ParameterLayout::add(std::string name, std::vector<int64_t> shape) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  const bool decay = shape.size() >= 2;
  const int64_t offset = total_count_;
  tensors_.push_back({std::move(name), std::move(shape), offset, count, decay});
  total_count_ = align_up(offset + count, kAlignElems);
  parameter_count_ += count;
  return offset;
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
