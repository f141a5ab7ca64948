#include "core/run/explanation.hpp"

#include <algorithm>
#include <span>
#include <string>
#include <vector>

namespace strata::run {

template <class T>
void run_explainers(engine::GptModel<T>& model, const TrainingData& data, int64_t batch, int64_t seq, int64_t step,
                    const Instances& explainers) {
  if (explainers.empty()) return;
  uint32_t needs = 0;
  for (const auto& e : explainers) needs |= e->explain_requirements();
  std::vector<int32_t> tokens(static_cast<size_t>(batch * seq)), targets(tokens.size());
  for (int64_t b = 0; b < batch; ++b) {
    const uint64_t room = data.val.token_count() - static_cast<uint64_t>(seq);  // > 0: evaluate() ran first
    const uint64_t start = static_cast<uint64_t>(b * (seq + 1)) % room;
    std::vector<int32_t> window(static_cast<size_t>(seq + 1));
    data.val.copy_tokens(start, static_cast<uint64_t>(seq + 1), window.data());
    std::copy(window.begin(), window.end() - 1, tokens.begin() + b * seq);
    std::copy(window.begin() + 1, window.end(), targets.begin() + b * seq);
  }
  // Capture costs L*B*H*T*T values, so it is on only for this batch; gradients are
  // computed for the explainers and then discarded (the next step zeroes them).
  model.set_attention_capture(true);
  model.forward(tokens.data(), targets.data(), batch, seq);
  if (needs & STRATA_EXPLAIN_NEEDS_ATTENTION_GRAD) model.backward(1.0);
  const auto& cfg = model.config();
  const auto att_count = static_cast<uint64_t>(cfg.layers * batch * cfg.heads * seq * seq);
  std::vector<std::string> text;
  for (int32_t id : tokens) text.push_back(data.tokenizer->decode(std::span(&id, 1)));
  std::vector<const char*> text_ptrs;
  for (const auto& s : text) text_ptrs.push_back(s.c_str());
  const uint32_t dtype = sizeof(T) == 8 ? STRATA_DTYPE_F64 : STRATA_DTYPE_F32;
  strata_explain_input in{};
  in.struct_size = STRATA_EXPLAIN_INPUT_STRUCT_SIZE;
  in.step = step;
  in.batch = batch;
  in.seq = seq;
  in.layers = cfg.layers;
  in.heads = cfg.heads;
  in.tokens = {tokens.data(), tokens.size(), STRATA_DTYPE_I32, STRATA_DEVICE_CPU, 0};
  in.token_text = text_ptrs.data();
  in.attention = {const_cast<T*>(model.attention_probs()), att_count, dtype, STRATA_DEVICE_CPU, 0};
  if (needs & STRATA_EXPLAIN_NEEDS_ATTENTION_GRAD)
    in.attention_grad = {const_cast<T*>(model.attention_grads()), att_count, dtype, STRATA_DEVICE_CPU, 0};
  for (const auto& e : explainers) e->explain(in);
  model.set_attention_capture(false);
  model.zero_grads();
}

template void run_explainers<float>(engine::GptModel<float>&, const TrainingData&, int64_t, int64_t, int64_t,
                                    const Instances&);
template void run_explainers<double>(engine::GptModel<double>&, const TrainingData&, int64_t, int64_t, int64_t,
                                     const Instances&);

}  // namespace strata::run
