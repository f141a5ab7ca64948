// Text generation from a trained model: encode the prompt, then repeatedly run the model
// over the last `context` tokens and sample the next one.
#pragma once

#include <string>

#include "core/engine/gpt/gpt_model.hpp"
#include "core/engine/sampler.hpp"
#include "core/tokenizer/tokenizer.hpp"

namespace strata::engine {

// The model must have been built with max_batch >= 1; the prompt text is part of the result.
template <class T>
std::string generate(GptModel<T>& model, const tokenizer::Tokenizer& tokenizer, const std::string& prompt,
                     int64_t new_tokens, const SamplingOptions& options);

}  // namespace strata::engine
