// The trivial tokenizer: one token per byte. Useful as a baseline and for
// smoke tests that must not depend on vocabulary files.
#pragma once

#include "core/tokenizer/tokenizer.hpp"

namespace strata::tokenizer {

class ByteTokenizer final : public Tokenizer {
public:
    static constexpr int32_t kVocabSize = 256;

    std::vector<int32_t> encode(std::string_view text) const override;
    std::string decode(std::span<const int32_t> ids) const override;
    int32_t vocab_size() const override { return kVocabSize; }
    std::string name() const override { return "byte"; }
};

}  // namespace strata::tokenizer
