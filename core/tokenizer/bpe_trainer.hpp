// Learns GPT-2 style byte-level BPE merges from text and writes them in the
// vocab.json + merges.txt layout that ByteLevelBpe::load reads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace strata::tokenizer {

struct BpeVocab {
    // id -> raw bytes. Ids 0..255 are the single bytes in byte order (so they
    // coincide with ByteTokenizer's ids); merged tokens follow in merge order.
    std::vector<std::string> tokens;
    // (left id, right id) in rank order; merge i yields tokens[left] + tokens[right].
    std::vector<std::pair<int32_t, int32_t>> merges;
};

struct BpeTrainProgress {
    int32_t vocab_size;         // tokens so far
    int32_t target_vocab_size;  // what train_bpe was asked for
    int64_t pair_count;         // occurrences of the pair just merged
};
using BpeProgressFn = std::function<void(const BpeTrainProgress&)>;

// Pre-splits each text with the GPT-2 regex (pieces never span texts), counts
// distinct pieces, then repeatedly merges the most frequent adjacent pair
// until `vocab_size` tokens exist or no pair is left (then fewer are
// returned). `progress`, if set, is called after every merge.
//
// Tie-breaking is deterministic: among pairs with equal counts the one with
// the smaller left id wins, then the smaller right id. Ids are assigned
// deterministically (bytes by value, merges in order), so the same corpus
// always gives the same merges regardless of hashing or piece order.
//
// Throws std::invalid_argument if vocab_size < 256.
BpeVocab train_bpe(std::span<const std::string_view> texts, int32_t vocab_size,
                   const BpeProgressFn& progress = {});
BpeVocab train_bpe(std::string_view text, int32_t vocab_size,
                   const BpeProgressFn& progress = {});

// Writes dir/vocab.json and dir/merges.txt (creating dir if needed) in GPT-2's
// format. Each file is replaced atomically: written to a temporary file in
// dir, fsynced, renamed over the target, then the directory is fsynced. The
// two renames are separate (vocab.json first), so a crash between them can
// leave a new vocab.json beside an old merges.txt; retrain into a fresh
// directory when that matters.
// Throws std::invalid_argument for an inconsistent BpeVocab and
// std::runtime_error (with the path) for I/O failures.
void save_bpe(const std::filesystem::path& dir, const BpeVocab& vocab);

}  // namespace strata::tokenizer
