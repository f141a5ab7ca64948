// GPT-2's regex pre-split: cuts text into pieces (words with their leading
// space, digit runs, punctuation runs, whitespace runs) that BPE then encodes
// independently, so merges never cross a word boundary.
#pragma once

#include <functional>
#include <memory>
#include <string_view>
#include <vector>

// Forward declaration so PCRE2's macros stay out of every includer.
struct pcre2_real_code_8;

namespace strata::tokenizer {

class Gpt2Pretokenizer {
public:
    // The published GPT-2 pattern is
    //   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
    // We spell \s out as Unicode White_Space because that is what the reference
    // implementations (Python `regex`, tiktoken) mean by it, while PCRE2's \s
    // under PCRE2_UCP leaves out U+0085 (NEL). Everything else is verbatim.
    static const char* pattern();

    // Compiles the pattern (JIT when PCRE2 has it). Throws std::runtime_error
    // with PCRE2's message if compilation fails.
    Gpt2Pretokenizer();
    ~Gpt2Pretokenizer();
    Gpt2Pretokenizer(Gpt2Pretokenizer&&) noexcept;
    Gpt2Pretokenizer& operator=(Gpt2Pretokenizer&&) noexcept;

    // Appends the pieces of `text` to `out`; they are views into `text` and
    // concatenate back to exactly `text`.
    //
    // Invalid UTF-8: GPT-2 works on bytes, so no input may be rejected. The
    // text is cut into maximal valid UTF-8 runs, each split by the regex on its
    // own, and every byte that is not part of a valid UTF-8 sequence becomes a
    // piece of its own. A run's end acts like end of text for the \s+(?!\S)
    // lookahead. Valid UTF-8 input is split exactly like the reference.
    // Thread-safe: matching uses per-call state only.
    void split(std::string_view text, std::vector<std::string_view>& out) const;
    std::vector<std::string_view> split(std::string_view text) const;

    // Same pieces, handed to `sink` one at a time in order, so callers that
    // consume pieces immediately (encoding) need no piece list at all.
    void for_each_piece(std::string_view text,
                        const std::function<void(std::string_view)>& sink) const;

    bool uses_jit() const { return jit_; }

private:
    struct CodeDeleter {
        void operator()(pcre2_real_code_8* code) const;
    };
    std::unique_ptr<pcre2_real_code_8, CodeDeleter> code_;
    bool jit_ = false;
};

}  // namespace strata::tokenizer
