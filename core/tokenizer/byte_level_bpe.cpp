#include "core/tokenizer/byte_level_bpe.hpp"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <stdexcept>
#include <unordered_map>

#include <nlohmann/json.hpp>

namespace strata::tokenizer {
namespace {

// ---------------------------------------------------------------- byte map --

constexpr char32_t kMaxMappedCodePoint = 0x143;  // 256 + 68 - 1

// Reverse of bytes_to_unicode, indexed by code point; -1 where unmapped.
const std::array<int16_t, kMaxMappedCodePoint + 1>& unicode_to_byte() {
    static const auto table = [] {
        std::array<int16_t, kMaxMappedCodePoint + 1> t{};
        t.fill(-1);
        const auto& fwd = bytes_to_unicode();
        for (int b = 0; b < 256; ++b) t[fwd[b]] = static_cast<int16_t>(b);
        return t;
    }();
    return table;
}

void append_utf8(char32_t cp, std::string& out) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

// Decodes one code point at s[i], advancing i; nullopt on malformed UTF-8.
// Only needs to be exact for the 1- and 2-byte forms the byte map uses; longer
// well-formed sequences are decoded so callers can report them.
std::optional<char32_t> next_code_point(std::string_view s, size_t& i) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    int len = b0 < 0x80 ? 1 : b0 >= 0xC2 && b0 <= 0xDF ? 2 : b0 >= 0xE0 && b0 <= 0xEF ? 3
            : b0 >= 0xF0 && b0 <= 0xF4 ? 4 : 0;
    if (len == 0 || s.size() - i < static_cast<size_t>(len)) return std::nullopt;
    char32_t cp = len == 1 ? b0 : b0 & (0x7F >> len);
    for (int k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80) return std::nullopt;
        cp = (cp << 6) | (b & 0x3F);
    }
    i += static_cast<size_t>(len);
    return cp;
}

// ------------------------------------------------------------------- files --

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error("cannot open " + path.string() + ": " + std::strerror(errno));
    }
    std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw std::runtime_error("error reading " + path.string());
    return data;
}

std::string json_quote(std::string_view s) {
    // JSON-style quoting keeps odd bytes in tokens readable in messages.
    return nlohmann::json(std::string(s)).dump(-1, ' ', false,
                                               nlohmann::json::error_handler_t::replace);
}

// --------------------------------------------------------------- vocab.json --

// An iterator over the vocab.json bytes that records the furthest position the
// JSON lexer has read. nlohmann's SAX callbacks carry no position, and this is
// what lets semantic errors ("id is not an integer") name a line: the lexer
// has read at most one character past the value when the callback runs.
class TrackingIterator {
public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = char;
    using difference_type = std::ptrdiff_t;
    using pointer = const char*;
    using reference = const char&;

    TrackingIterator() = default;
    TrackingIterator(const char* p, const char** high_water) : p_(p), high_water_(high_water) {}
    const char& operator*() const {
        *high_water_ = p_;
        return *p_;
    }
    TrackingIterator& operator++() {
        ++p_;
        return *this;
    }
    TrackingIterator operator++(int) {
        TrackingIterator old = *this;
        ++p_;
        return old;
    }
    bool operator==(const TrackingIterator& other) const { return p_ == other.p_; }

private:
    const char* p_ = nullptr;
    const char** high_water_ = nullptr;
};

// Collects {token text -> id} from a flat JSON object, rejecting anything else.
class VocabSax final : public nlohmann::json_sax<nlohmann::json> {
public:
    VocabSax(std::string_view json, std::string_view name, const char** high_water)
        : json_(json), name_(name), high_water_(high_water) {}

    struct Entry {
        std::string text;
        int32_t id;
        size_t line;
    };
    std::vector<Entry> entries;

    bool null() override { bad_value("null"); }
    bool boolean(bool) override { bad_value("a boolean"); }
    bool number_float(number_float_t, const string_t& s) override { bad_value(s); }
    bool string(string_t& s) override { bad_value(json_quote(s)); }
    bool binary(binary_t&) override { bad_value("binary data"); }
    bool number_integer(number_integer_t v) override {
        if (v >= 0) return add(static_cast<uint64_t>(v));
        bad_value(std::to_string(v));
    }
    bool number_unsigned(number_unsigned_t v) override { return add(v); }

    bool start_object(std::size_t) override {
        if (depth_++ != 0) fail("values must be integer token ids, got an object");
        return true;
    }
    bool end_object() override {
        --depth_;
        return true;
    }
    bool start_array(std::size_t) override {
        fail(depth_ == 0 ? "expected a JSON object {\"token\": id, ...}, got an array"
                         : "values must be integer token ids, got an array");
        return false;
    }
    bool end_array() override { return true; }
    bool key(string_t& k) override {
        if (!seen_.emplace(k, line()).second) {
            fail("token " + json_quote(k) + " appears twice (first on line " +
                 std::to_string(seen_[k]) + ")");
        }
        key_ = k;
        return true;
    }
    bool parse_error(std::size_t, const std::string&,
                     const nlohmann::detail::exception& e) override {
        // nlohmann's message already says "at line L, column C".
        throw std::runtime_error(std::string(name_) + ": invalid JSON: " + e.what());
    }

private:
    // Counts newlines incrementally: the lexer only moves forward, so the
    // whole file is scanned once however many keys ask for their line.
    size_t line() {
        const char* upto = *high_water_ == nullptr ? json_.data() : *high_water_;
        if (upto > counted_to_) {
            lines_ += static_cast<size_t>(std::count(counted_to_, upto, '\n'));
            counted_to_ = upto;
        }
        return lines_;
    }
    [[noreturn]] void fail(const std::string& what) {
        throw std::runtime_error(std::string(name_) + " line " + std::to_string(line()) + ": " +
                                 what);
    }
    [[noreturn]] void bad_value(const std::string& got) {
        if (depth_ == 0) fail("expected a JSON object {\"token\": id, ...}, got " + got);
        fail("token " + json_quote(key_) + ": id must be a non-negative integer, got " + got);
    }
    bool add(uint64_t v) {
        if (depth_ == 0) fail("expected a JSON object {\"token\": id, ...}, got a number");
        if (v >= static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
            fail("token " + json_quote(key_) + ": id " + std::to_string(v) + " is too large");
        }
        entries.push_back({key_, static_cast<int32_t>(v), line()});
        return true;
    }

    std::string_view json_;
    std::string_view name_;
    const char** high_water_;
    const char* counted_to_ = json_.data();
    size_t lines_ = 1;
    int depth_ = 0;
    std::string key_;
    std::unordered_map<std::string, size_t> seen_;  // token -> line, for duplicates
};

// ---------------------------------------------------------------- merges.txt --

struct MergeLine {
    std::string_view left, right;
    size_t line;
};

std::vector<MergeLine> parse_merge_lines(std::string_view text, std::string_view name) {
    std::vector<MergeLine> merges;
    size_t line_no = 0;
    size_t pos = 0;
    while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // CRLF files
        // The Hugging Face header ("#version: 0.2 ...") is only meaningful first.
        if (line_no == 1 && line.starts_with("#version")) continue;
        if (line.empty()) continue;
        // Byte-level token text never contains a space (space is written Ġ),
        // so a merge is exactly two non-empty tokens and one space.
        size_t sp = line.find(' ');
        size_t parts = static_cast<size_t>(std::count(line.begin(), line.end(), ' ')) + 1;
        if (sp == std::string_view::npos || parts != 2 || sp == 0 || sp + 1 == line.size()) {
            throw std::runtime_error(std::string(name) + " line " + std::to_string(line_no) +
                                     ": expected two tokens separated by one space, got " +
                                     json_quote(line));
        }
        merges.push_back({line.substr(0, sp), line.substr(sp + 1), line_no});
    }
    return merges;
}

}  // namespace

// ------------------------------------------------------------ byte map API --

const std::array<char32_t, 256>& bytes_to_unicode() {
    static const auto table = [] {
        std::array<char32_t, 256> t{};
        char32_t next_free = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) ||
                                   (b >= 0xAE && b <= 0xFF);
            t[b] = printable ? static_cast<char32_t>(b) : next_free++;
        }
        return t;
    }();
    return table;
}

std::string byte_level_encode(std::string_view raw) {
    const auto& map = bytes_to_unicode();
    std::string out;
    out.reserve(raw.size() * 2);
    for (unsigned char b : raw) append_utf8(map[b], out);
    return out;
}

bool byte_level_decode(std::string_view text, std::string& raw) {
    const auto& rev = unicode_to_byte();
    raw.clear();
    size_t i = 0;
    while (i < text.size()) {
        auto cp = next_code_point(text, i);
        if (!cp || *cp > kMaxMappedCodePoint || rev[*cp] < 0) return false;
        raw.push_back(static_cast<char>(rev[*cp]));
    }
    return true;
}

// ------------------------------------------------------------------ loading --

ByteLevelBpe ByteLevelBpe::load(const std::filesystem::path& dir) {
    return load(dir / "vocab.json", dir / "merges.txt");
}

ByteLevelBpe ByteLevelBpe::load(const std::filesystem::path& vocab_json,
                                const std::filesystem::path& merges_txt) {
    const std::string vocab = read_file(vocab_json);
    const std::string merges = read_file(merges_txt);
    return parse(vocab, merges, vocab_json.string(), merges_txt.string());
}

ByteLevelBpe ByteLevelBpe::parse(std::string_view vocab_json, std::string_view merges_txt,
                                 std::string_view vocab_name, std::string_view merges_name) {
    ByteLevelBpe bpe;

    // vocab.json -> id table.
    const char* high_water = nullptr;
    VocabSax sax(vocab_json, vocab_name, &high_water);
    const char* begin = vocab_json.data();
    nlohmann::json::sax_parse(TrackingIterator(begin, &high_water),
                              TrackingIterator(begin + vocab_json.size(), &high_water), &sax);
    if (sax.entries.empty()) {
        throw std::runtime_error(std::string(vocab_name) + ": vocabulary is empty");
    }
    int32_t max_id = 0;
    for (const auto& e : sax.entries) max_id = std::max(max_id, e.id);
    bpe.id_to_bytes_.assign(static_cast<size_t>(max_id) + 1, {});
    bpe.id_used_.assign(static_cast<size_t>(max_id) + 1, false);
    std::vector<const VocabSax::Entry*> id_entry(static_cast<size_t>(max_id) + 1, nullptr);
    std::unordered_map<std::string_view, int32_t> text_to_id;
    text_to_id.reserve(sax.entries.size());
    for (const auto& entry : sax.entries) {
        const auto& [text, id, line] = entry;
        if (bpe.id_used_[id]) {
            throw std::runtime_error(std::string(vocab_name) + " line " + std::to_string(line) +
                                     ": id " + std::to_string(id) + " of token " +
                                     json_quote(text) + " is already used by " +
                                     json_quote(id_entry[id]->text) + " (line " +
                                     std::to_string(id_entry[id]->line) + ")");
        }
        bpe.id_used_[id] = true;
        id_entry[id] = &entry;
        text_to_id.emplace(text, id);
        // Tokens outside the byte alphabet (added special tokens such as
        // "<|pad|>" with odd characters) decode to their own UTF-8 text.
        if (!byte_level_decode(text, bpe.id_to_bytes_[id])) bpe.id_to_bytes_[id] = text;
    }
    const auto& b2u = bytes_to_unicode();
    for (int b = 0; b < 256; ++b) {
        std::string text;
        append_utf8(b2u[b], text);
        auto it = text_to_id.find(text);
        if (it == text_to_id.end()) {
            throw std::runtime_error(std::string(vocab_name) + ": no token for byte " +
                                     std::to_string(b) + " (" + json_quote(text) +
                                     "); a byte-level vocabulary needs all 256");
        }
        bpe.byte_token_[b] = it->second;
    }

    // merges.txt -> (left, right) -> (rank, result).
    const auto lines = parse_merge_lines(merges_txt, merges_name);
    size_t table_size = 16;
    while (table_size < 2 * lines.size()) table_size *= 2;  // load factor <= 1/2
    bpe.merge_table_.assign(table_size, MergeSlot{kEmptySlot, 0, 0});
    bpe.merge_shift_ = 64 - std::countr_zero(table_size);
    std::string joined;
    for (const auto& m : lines) {
        auto lookup = [&](std::string_view token, const char* what) {
            auto it = text_to_id.find(token);
            if (it == text_to_id.end()) {
                throw std::runtime_error(std::string(merges_name) + " line " +
                                         std::to_string(m.line) + ": " + what + " " +
                                         json_quote(token) + " is not in " +
                                         std::string(vocab_name));
            }
            return it->second;
        };
        const int32_t left = lookup(m.left, "token");
        const int32_t right = lookup(m.right, "token");
        joined.assign(m.left);
        joined.append(m.right);
        const int32_t result = lookup(joined, "merged token");
        if (!bpe.insert_merge(left, right, bpe.num_merges_, result)) {
            const int32_t first_rank = bpe.find_merge(left, right)->rank;
            throw std::runtime_error(std::string(merges_name) + " line " + std::to_string(m.line) +
                                     ": duplicate merge " +
                                     json_quote(std::string(m.left) + " " + std::string(m.right)) +
                                     " (first on line " +
                                     std::to_string(lines[first_rank].line) + ")");
        }
        ++bpe.num_merges_;
    }
    return bpe;
}

// ----------------------------------------------------------------- encoding --

const ByteLevelBpe::MergeSlot* ByteLevelBpe::find_merge(int32_t left, int32_t right) const {
    const uint64_t key = pair_key(left, right);
    const size_t mask = merge_table_.size() - 1;
    size_t i = static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> merge_shift_);
    for (;; i = (i + 1) & mask) {  // linear probing; the table is never full
        const MergeSlot& slot = merge_table_[i];
        if (slot.key == key) return &slot;
        if (slot.key == kEmptySlot) return nullptr;
    }
}

bool ByteLevelBpe::insert_merge(int32_t left, int32_t right, int32_t rank, int32_t result) {
    const uint64_t key = pair_key(left, right);
    const size_t mask = merge_table_.size() - 1;
    size_t i = static_cast<size_t>((key * 0x9E3779B97F4A7C15ull) >> merge_shift_);
    for (;; i = (i + 1) & mask) {
        MergeSlot& slot = merge_table_[i];
        if (slot.key == key) return false;
        if (slot.key == kEmptySlot) {
            slot = MergeSlot{key, rank, result};
            return true;
        }
    }
}

struct ByteLevelBpe::Scratch {
    // One node per byte position; a node absorbs its right neighbour on merge,
    // so a live node's index is the byte offset where its token starts.
    std::vector<int32_t> token;  // -1 once absorbed
    std::vector<int32_t> next;   // index of the right neighbour, n at the end
    std::vector<int32_t> prev;   // index of the left neighbour, -1 at the start
    struct Candidate {
        uint64_t order;  // rank << 32 | position: lowest rank, then leftmost
        int32_t left, right, result;
    };
    std::vector<Candidate> heap;
};

void ByteLevelBpe::encode_piece(std::string_view piece, std::vector<int32_t>& out) const {
    Scratch scratch;
    encode_piece(piece, out, scratch);
}

// Applies merges in rank order (leftmost first among equal ranks) until none
// applies: the same result as GPT-2's "merge the lowest-ranked bigram" loop.
// A min-heap of candidate pairs with lazy invalidation makes this
// O(n log n), so a long piece (a megabyte without spaces) stays cheap.
void ByteLevelBpe::encode_piece(std::string_view piece, std::vector<int32_t>& out,
                                Scratch& s) const {
    const auto n = static_cast<int32_t>(piece.size());
    if (n == 0) return;
    if (n == 1) {
        out.push_back(byte_token_[static_cast<unsigned char>(piece[0])]);
        return;
    }
    if (n <= kShortPiece) {
        encode_short_piece(piece, out);
        return;
    }
    s.token.resize(n);
    s.next.resize(n);
    s.prev.resize(n);
    s.heap.clear();
    auto later = [](const Scratch::Candidate& a, const Scratch::Candidate& b) {
        return a.order > b.order;
    };
    auto consider = [&](int32_t pos) {
        const int32_t right_pos = s.next[pos];
        if (right_pos >= n) return;
        const MergeSlot* m = find_merge(s.token[pos], s.token[right_pos]);
        if (m == nullptr) return;
        s.heap.push_back({(static_cast<uint64_t>(m->rank) << 32) | static_cast<uint32_t>(pos),
                          s.token[pos], s.token[right_pos], m->result});
        std::push_heap(s.heap.begin(), s.heap.end(), later);
    };

    for (int32_t i = 0; i < n; ++i) {
        s.token[i] = byte_token_[static_cast<unsigned char>(piece[i])];
        s.next[i] = i + 1;
        s.prev[i] = i - 1;
    }
    for (int32_t i = 0; i + 1 < n; ++i) consider(i);

    while (!s.heap.empty()) {
        std::pop_heap(s.heap.begin(), s.heap.end(), later);
        const Scratch::Candidate c = s.heap.back();
        s.heap.pop_back();
        const auto pos = static_cast<int32_t>(c.order & 0xFFFFFFFFu);
        const int32_t right_pos = s.next[pos];
        // Stale if either side changed since this entry was pushed. A node only
        // changes by absorbing its right neighbour, which lengthens its token,
        // so it can never hold an earlier id again: equal ids mean same pair.
        if (s.token[pos] != c.left || right_pos >= n || s.token[right_pos] != c.right) continue;
        s.token[pos] = c.result;
        s.token[right_pos] = -1;
        s.next[pos] = s.next[right_pos];
        if (s.next[pos] < n) s.prev[s.next[pos]] = pos;
        if (s.prev[pos] >= 0) consider(s.prev[pos]);
        consider(pos);
    }
    for (int32_t i = 0; i < n; i = s.next[i]) out.push_back(s.token[i]);
}

// Same merge order as the heap version, for the common short piece: keep the
// rank of every adjacent pair in an array and rescan it for the minimum. The
// scan is quadratic but branch-predictable and allocation-free, which beats
// heap bookkeeping for words of a few bytes.
void ByteLevelBpe::encode_short_piece(std::string_view piece, std::vector<int32_t>& out) const {
    constexpr int32_t kNone = std::numeric_limits<int32_t>::max();
    int32_t n = static_cast<int32_t>(piece.size());
    int32_t token[kShortPiece];
    int32_t rank[kShortPiece];    // rank[i]: merge rank of (token[i], token[i+1])
    int32_t result[kShortPiece];  // result[i]: the token that merge makes
    auto update = [&](int32_t i) {
        const MergeSlot* m = find_merge(token[i], token[i + 1]);
        rank[i] = m ? m->rank : kNone;
        result[i] = m ? m->result : -1;
    };
    for (int32_t i = 0; i < n; ++i) token[i] = byte_token_[static_cast<unsigned char>(piece[i])];
    for (int32_t i = 0; i + 1 < n; ++i) update(i);
    while (n > 1) {
        int32_t best = 0;
        for (int32_t i = 1; i + 1 < n; ++i) {
            if (rank[i] < rank[best]) best = i;
        }
        if (rank[best] == kNone) break;
        // Remove token best+1 and pair best+1; pairs best-1 and best change.
        token[best] = result[best];
        for (int32_t i = best + 1; i + 1 < n; ++i) token[i] = token[i + 1];
        for (int32_t i = best + 1; i + 2 < n; ++i) {
            rank[i] = rank[i + 1];
            result[i] = result[i + 1];
        }
        --n;
        if (best > 0) update(best - 1);
        if (best + 1 < n) update(best);
    }
    out.insert(out.end(), token, token + n);
}

std::vector<int32_t> ByteLevelBpe::encode(std::string_view text) const {
    std::vector<int32_t> ids;
    ids.reserve(text.size() / 3);  // English averages 3-4 bytes per token
    Scratch scratch;
    pretokenizer_.for_each_piece(
        text, [&](std::string_view piece) { encode_piece(piece, ids, scratch); });
    return ids;
}

// ----------------------------------------------------------------- decoding --

const std::string& ByteLevelBpe::token_bytes(int32_t id) const {
    if (id < 0 || id >= vocab_size() || !id_used_[id]) {
        throw std::out_of_range("byte-level BPE: unknown token id " + std::to_string(id) +
                                " (vocab size " + std::to_string(vocab_size()) + ")");
    }
    return id_to_bytes_[id];
}

std::string ByteLevelBpe::decode(std::span<const int32_t> ids) const {
    std::string out;
    out.reserve(ids.size() * 4);
    for (int32_t id : ids) out += token_bytes(id);
    return out;
}

}  // namespace strata::tokenizer
