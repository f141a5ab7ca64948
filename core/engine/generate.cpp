#include "core/engine/generate.hpp"

#include <algorithm>
#include <span>
#include <vector>

namespace strata::engine {

template <class T>
std::string generate(GptModel<T>& model, const tokenizer::Tokenizer& tokenizer, const std::string& prompt,
                     int64_t new_tokens, const SamplingOptions& options) {
  std::vector<int32_t> tokens = tokenizer.encode(prompt);
  if (tokens.empty()) tokens.push_back(0);
  const int64_t context = std::min<int64_t>(model.config().context, model.max_seq());
  const int64_t vocab = model.config().vocab_size;
  for (int64_t i = 0; i < new_tokens; ++i) {
    // No key/value cache: recomputing the window is simple and fast enough for a sample.
    const int64_t len = std::min<int64_t>(static_cast<int64_t>(tokens.size()), context);
    const int32_t* window = tokens.data() + tokens.size() - static_cast<size_t>(len);
    model.forward(window, nullptr, 1, len);
    const T* last = model.logits() + (len - 1) * vocab;
    tokens.push_back(sample_token<T>(std::span<const T>(last, static_cast<size_t>(vocab)), options,
                                     static_cast<uint64_t>(i)));
  }
  return tokenizer.decode(tokens);
}

template std::string generate<float>(GptModel<float>&, const tokenizer::Tokenizer&, const std::string&, int64_t,
                                     const SamplingOptions&);
template std::string generate<double>(GptModel<double>&, const tokenizer::Tokenizer&, const std::string&, int64_t,
                                      const SamplingOptions&);

}  // namespace strata::engine
