#include "core/tokenizer/gpt2_pretokenizer.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdexcept>
#include <string>

namespace strata::tokenizer {
namespace {

// Unicode White_Space, written as class contents (no brackets) so it can be
// used both positively and inside the negated punctuation class.
#define STRATA_WS "\\t\\n\\x{0B}\\f\\r\\x{20}\\x{85}\\x{A0}\\x{1680}\\x{2000}-\\x{200A}" \
                  "\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}"

constexpr const char kPattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d"
    "| ?\\p{L}+"
    "| ?\\p{N}+"
    "| ?[^" STRATA_WS "\\p{L}\\p{N}]+"
    "|[" STRATA_WS "]+(?![^" STRATA_WS "])"
    "|[" STRATA_WS "]+";

#undef STRATA_WS

std::string pcre2_message(int code) {
    PCRE2_UCHAR buf[256];
    int n = pcre2_get_error_message(code, buf, sizeof buf);
    if (n < 0) return "PCRE2 error " + std::to_string(code);
    return std::string(reinterpret_cast<const char*>(buf), static_cast<size_t>(n));
}

struct MatchDataDeleter {
    void operator()(pcre2_match_data* md) const { pcre2_match_data_free(md); }
};

// Length of the well-formed UTF-8 sequence starting at s[i] (Unicode 15,
// table 3-7: no overlongs, no surrogates, nothing above U+10FFFF), or 0 if the
// byte there does not start one. Matches what PCRE2's own UTF check accepts,
// which is what makes PCRE2_NO_UTF_CHECK safe on the runs we hand it.
size_t utf8_sequence_length(std::string_view s, size_t i) {
    auto at = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
    const unsigned char b0 = at(i);
    if (b0 < 0x80) return 1;
    const size_t left = s.size() - i;
    auto cont = [&](size_t k) { return (at(i + k) & 0xC0) == 0x80; };
    if (b0 >= 0xC2 && b0 <= 0xDF) return left >= 2 && cont(1) ? 2 : 0;
    if (b0 >= 0xE0 && b0 <= 0xEF) {
        if (left < 3 || !cont(1) || !cont(2)) return 0;
        const unsigned char b1 = at(i + 1);
        if (b0 == 0xE0 && b1 < 0xA0) return 0;  // overlong
        if (b0 == 0xED && b1 > 0x9F) return 0;  // surrogate
        return 3;
    }
    if (b0 >= 0xF0 && b0 <= 0xF4) {
        if (left < 4 || !cont(1) || !cont(2) || !cont(3)) return 0;
        const unsigned char b1 = at(i + 1);
        if (b0 == 0xF0 && b1 < 0x90) return 0;  // overlong
        if (b0 == 0xF4 && b1 > 0x8F) return 0;  // above U+10FFFF
        return 4;
    }
    return 0;  // continuation byte, C0/C1, or F5..FF
}

}  // namespace

const char* Gpt2Pretokenizer::pattern() { return kPattern; }

void Gpt2Pretokenizer::CodeDeleter::operator()(pcre2_real_code_8* code) const {
    pcre2_code_free(code);
}

Gpt2Pretokenizer::Gpt2Pretokenizer() {
    int err = 0;
    PCRE2_SIZE err_offset = 0;
    // Every character matches some alternative, so anchoring changes no result
    // but stops PCRE2 from scanning ahead; it must be a compile option because
    // a match-time PCRE2_ANCHORED would bypass the JIT.
    pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(kPattern), PCRE2_ZERO_TERMINATED,
                                     PCRE2_UTF | PCRE2_UCP | PCRE2_ANCHORED, &err, &err_offset,
                                     nullptr);
    if (code == nullptr) {
        throw std::runtime_error("GPT-2 pre-tokenizer: regex compile failed at offset " +
                                 std::to_string(err_offset) + ": " + pcre2_message(err));
    }
    code_.reset(code);
    // JIT is an optimisation only: PCRE2 built without it, or a JIT failure,
    // leaves the interpreter, which gives identical results.
    jit_ = pcre2_jit_compile(code, PCRE2_JIT_COMPLETE) == 0;
}

Gpt2Pretokenizer::~Gpt2Pretokenizer() = default;
Gpt2Pretokenizer::Gpt2Pretokenizer(Gpt2Pretokenizer&&) noexcept = default;
Gpt2Pretokenizer& Gpt2Pretokenizer::operator=(Gpt2Pretokenizer&&) noexcept = default;

std::vector<std::string_view> Gpt2Pretokenizer::split(std::string_view text) const {
    std::vector<std::string_view> out;
    split(text, out);
    return out;
}

void Gpt2Pretokenizer::split(std::string_view text, std::vector<std::string_view>& out) const {
    for_each_piece(text, [&out](std::string_view piece) { out.push_back(piece); });
}

void Gpt2Pretokenizer::for_each_piece(std::string_view text,
                                      const std::function<void(std::string_view)>& sink) const {
    if (!code_) throw std::logic_error("GPT-2 pre-tokenizer used after move");
    std::unique_ptr<pcre2_match_data, MatchDataDeleter> md(
        pcre2_match_data_create_from_pattern(code_.get(), nullptr));
    if (!md) throw std::bad_alloc();

    // Splits one run that is known to be valid UTF-8.
    auto split_valid = [&](std::string_view run) {
        const auto* subject = reinterpret_cast<PCRE2_SPTR>(run.data());
        size_t pos = 0;
        while (pos < run.size()) {
            int rc = pcre2_match(code_.get(), subject, run.size(), pos, PCRE2_NO_UTF_CHECK,
                                 md.get(), nullptr);
            if (rc == PCRE2_ERROR_NOMATCH) {
                // Cannot happen (the alternatives cover every character), but
                // never drop input: emit one character and carry on.
                size_t len = utf8_sequence_length(run, pos);
                sink(run.substr(pos, len));
                pos += len;
                continue;
            }
            if (rc < 0) {
                throw std::runtime_error("GPT-2 pre-tokenizer: match failed: " + pcre2_message(rc));
            }
            const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md.get());
            if (ov[1] <= pos) {  // empty match: also impossible, guard the loop anyway
                throw std::logic_error("GPT-2 pre-tokenizer: regex made an empty match");
            }
            sink(run.substr(pos, ov[1] - pos));
            pos = ov[1];
        }
    };

    size_t run_start = 0;
    size_t i = 0;
    while (i < text.size()) {
        size_t len = utf8_sequence_length(text, i);
        if (len != 0) {
            i += len;
            continue;
        }
        split_valid(text.substr(run_start, i - run_start));
        sink(text.substr(i, 1));
        run_start = ++i;
    }
    split_valid(text.substr(run_start));
}

}  // namespace strata::tokenizer
