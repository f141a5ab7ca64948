// Shape of a GPT-2 style decoder (nanoGPT's GPTConfig without dropout and bias flags).
//
// The architecture is fixed: pre-LN blocks exactly as GPT-2,
//   x += attn.c_proj(attention(ln_1(x)))
//   x += mlp.c_proj(gelu_tanh(mlp.c_fc(ln_2(x))))
// then ln_f and a head tied to wte (logits = ln_f(x) · wte^T). Every Linear has a bias
// except the tied head; LayerNorm eps is 1e-5; the MLP is 4*width wide; no dropout.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

namespace strata::engine {

struct GptConfig {
  int64_t vocab_size = 0;
  int64_t context = 0;  // maximum sequence length (rows of wpe)
  int64_t layers = 0;
  int64_t heads = 0;
  int64_t width = 0;  // channels C; each head has width / heads channels

  int64_t ffn_width() const { return 4 * width; }
  int64_t head_size() const { return width / heads; }

  // Throws std::invalid_argument naming the offending field, so a bad pipeline config
  // fails before any buffer is sized from it.
  void validate() const {
    check_positive("vocab_size", vocab_size);
    check_positive("context", context);
    check_positive("layers", layers);
    check_positive("heads", heads);
    check_positive("width", width);
    if (width % heads != 0)
      throw std::invalid_argument("GptConfig: width (" + std::to_string(width) +
                                  ") must be divisible by heads (" + std::to_string(heads) + ")");
    // Token ids are int32 (kernels' token_t): a larger vocabulary cannot be addressed.
    if (vocab_size > INT32_MAX)
      throw std::invalid_argument("GptConfig: vocab_size (" + std::to_string(vocab_size) +
                                  ") does not fit int32 token ids");
  }

  friend bool operator==(const GptConfig&, const GptConfig&) = default;

 private:
  static void check_positive(const char* field, int64_t value) {
    if (value <= 0)
      throw std::invalid_argument(std::string("GptConfig: ") + field + " must be positive, got " +
                                  std::to_string(value));
  }
};

}  // namespace strata::engine
