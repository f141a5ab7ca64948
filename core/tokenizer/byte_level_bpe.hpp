// GPT-2 byte-level BPE: bytes are mapped to printable code points, text is
// pre-split with the GPT-2 regex, and each piece is merged bottom-up by merge
// rank. Reads the Hugging Face layout (vocab.json + merges.txt).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "core/tokenizer/gpt2_pretokenizer.hpp"
#include "core/tokenizer/tokenizer.hpp"

namespace strata::tokenizer {

// GPT-2's bytes_to_unicode(): byte b is written in vocab/merges files as this
// code point. Printable Latin-1 bytes map to themselves; the other 68 bytes
// (controls, space, 0x7F-0xA0, 0xAD) map to U+0100.. in byte order, so that no
// token text contains whitespace or control characters.
const std::array<char32_t, 256>& bytes_to_unicode();

// Raw bytes -> the UTF-8 text GPT-2 files use for them (e.g. " the" -> "Ġthe").
std::string byte_level_encode(std::string_view raw);

// Inverse of byte_level_encode. Returns false (leaving `raw` unspecified) if
// `text` is not valid UTF-8 or holds a code point outside the mapping.
bool byte_level_decode(std::string_view text, std::string& raw);

class ByteLevelBpe final : public Tokenizer {
public:
    // Loads dir/vocab.json and dir/merges.txt.
    static ByteLevelBpe load(const std::filesystem::path& dir);
    static ByteLevelBpe load(const std::filesystem::path& vocab_json,
                             const std::filesystem::path& merges_txt);

    // Builds from file contents; the names only label error messages.
    // Errors are std::runtime_error naming the file and, where one exists, the
    // line: invalid JSON, non-integer or duplicate ids, duplicate tokens, a
    // byte with no token, merges lines without exactly two tokens, merge tokens
    // or merge results missing from the vocabulary, duplicate merges.
    static ByteLevelBpe parse(std::string_view vocab_json, std::string_view merges_txt,
                              std::string_view vocab_name = "vocab.json",
                              std::string_view merges_name = "merges.txt");

    std::vector<int32_t> encode(std::string_view text) const override;
    std::string decode(std::span<const int32_t> ids) const override;
    int32_t vocab_size() const override { return static_cast<int32_t>(id_to_bytes_.size()); }
    std::string name() const override { return "byte-level-bpe"; }

    // BPE on one pre-split piece (no regex), appending ids to `out`.
    void encode_piece(std::string_view piece, std::vector<int32_t>& out) const;

    int32_t num_merges() const { return num_merges_; }
    // Raw bytes of a token; throws std::out_of_range for unknown ids.
    const std::string& token_bytes(int32_t id) const;

private:
    // Merge table: open addressing keyed by (left id << 32 | right id). The
    // lookup sits in the innermost encode loop, and a flat power-of-two table
    // is several times faster there than std::unordered_map.
    struct MergeSlot {
        uint64_t key;    // kEmptySlot when unused
        int32_t rank;    // line order in merges.txt: lower merges first
        int32_t result;  // id of the merged token
    };
    static constexpr uint64_t kEmptySlot = ~uint64_t{0};  // ids are never negative
    const MergeSlot* find_merge(int32_t left, int32_t right) const;
    bool insert_merge(int32_t left, int32_t right, int32_t rank, int32_t result);
    static uint64_t pair_key(int32_t left, int32_t right) {
        return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
               static_cast<uint32_t>(right);
    }

    struct Scratch;  // per-encode buffers, reused across pieces

    ByteLevelBpe() = default;
    void encode_piece(std::string_view piece, std::vector<int32_t>& out, Scratch& scratch) const;
    // Pieces up to this many bytes take the array-scan path, longer ones the heap.
    static constexpr int32_t kShortPiece = 32;
    void encode_short_piece(std::string_view piece, std::vector<int32_t>& out) const;

    Gpt2Pretokenizer pretokenizer_;
    std::array<int32_t, 256> byte_token_{};       // id of each single-byte token
    std::vector<std::string> id_to_bytes_;        // raw bytes per id ("" for unused ids)
    std::vector<bool> id_used_;                   // false for gaps in the id range
    std::vector<MergeSlot> merge_table_;
    int merge_shift_ = 64;  // 64 - log2(table size), for multiplicative hashing
    int32_t num_merges_ = 0;
};

}  // namespace strata::tokenizer
