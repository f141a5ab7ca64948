// Common interface for every tokenizer Strata trains or evaluates with.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace strata::tokenizer {

// Token ids are int32_t because that is what embedding lookups and on-disk
// token shards use; vocabularies never approach 2^31.
class Tokenizer {
public:
    virtual ~Tokenizer() = default;

    // Text is taken as raw bytes: byte-level tokenizers must accept any byte
    // sequence, including invalid UTF-8, and reproduce it exactly on decode.
    virtual std::vector<int32_t> encode(std::string_view text) const = 0;

    // Throws std::out_of_range for an id outside [0, vocab_size()).
    virtual std::string decode(std::span<const int32_t> ids) const = 0;

    virtual int32_t vocab_size() const = 0;
    virtual std::string name() const = 0;
};

// "byte" gives the 256-token byte tokenizer; a directory holding vocab.json
// and merges.txt gives GPT-2 style byte-level BPE. Anything else throws
// std::runtime_error naming what was looked for.
std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& dir_or_spec);

}  // namespace strata::tokenizer
