#include "core/tokenizer/bpe_trainer.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <queue>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include <nlohmann/json.hpp>

#include "core/tokenizer/byte_level_bpe.hpp"
#include "core/tokenizer/gpt2_pretokenizer.hpp"

namespace strata::tokenizer {
namespace {

uint64_t pair_key(int32_t left, int32_t right) {
    return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) |
           static_cast<uint32_t>(right);
}
int32_t left_of(uint64_t key) { return static_cast<int32_t>(key >> 32); }
int32_t right_of(uint64_t key) { return static_cast<int32_t>(key & 0xFFFFFFFFu); }

// A distinct pre-split piece, as the token ids it currently consists of.
struct Word {
    std::vector<int32_t> symbols;
    int64_t count;  // occurrences in the corpus
};

struct Candidate {
    int64_t count;
    uint64_t pair;
};
// Priority: higher count first; on ties the smaller (left, right) ids, which
// is the smaller key because ids are non-negative.
struct CandidateOrder {
    bool operator()(const Candidate& a, const Candidate& b) const {
        if (a.count != b.count) return a.count < b.count;
        return a.pair > b.pair;
    }
};

// Merges every non-overlapping (left, right) in `symbols`, left to right —
// the same order ByteLevelBpe::encode applies a merge in.
void merge_word(std::vector<int32_t>& symbols, int32_t left, int32_t right, int32_t result) {
    size_t out = 0;
    for (size_t i = 0; i < symbols.size(); ++i) {
        if (i + 1 < symbols.size() && symbols[i] == left && symbols[i + 1] == right) {
            symbols[out++] = result;
            ++i;
        } else {
            symbols[out++] = symbols[i];
        }
    }
    symbols.resize(out);
}

}  // namespace

BpeVocab train_bpe(std::string_view text, int32_t vocab_size, const BpeProgressFn& progress) {
    return train_bpe(std::span<const std::string_view>(&text, 1), vocab_size, progress);
}

BpeVocab train_bpe(std::span<const std::string_view> texts, int32_t vocab_size,
                   const BpeProgressFn& progress) {
    if (vocab_size < 256) {
        throw std::invalid_argument("train_bpe: vocab_size must be at least 256 (one token per "
                                    "byte), got " + std::to_string(vocab_size));
    }
    BpeVocab vocab;
    vocab.tokens.reserve(static_cast<size_t>(vocab_size));
    for (int b = 0; b < 256; ++b) vocab.tokens.emplace_back(1, static_cast<char>(b));

    // 1. Count distinct pieces: merges never cross a piece, so each distinct
    //    piece needs handling once, weighted by how often it occurs.
    Gpt2Pretokenizer pretokenizer;
    std::unordered_map<std::string_view, int64_t> piece_counts;
    for (std::string_view text : texts) {
        pretokenizer.for_each_piece(text, [&](std::string_view p) { ++piece_counts[p]; });
    }
    std::vector<std::pair<std::string_view, int64_t>> sorted(piece_counts.begin(),
                                                             piece_counts.end());
    std::sort(sorted.begin(), sorted.end());  // fixed word order, for reproducible runs
    std::vector<Word> words;
    words.reserve(sorted.size());
    for (const auto& [piece, count] : sorted) {
        Word w{{}, count};
        w.symbols.reserve(piece.size());
        for (unsigned char c : piece) w.symbols.push_back(c);
        words.push_back(std::move(w));
    }

    // 2. Initial pair counts and, per pair, the words that contain it.
    std::unordered_map<uint64_t, int64_t> pair_counts;
    std::unordered_map<uint64_t, std::vector<int32_t>> pair_words;
    for (size_t w = 0; w < words.size(); ++w) {
        const auto& s = words[w].symbols;
        for (size_t i = 0; i + 1 < s.size(); ++i) {
            const uint64_t key = pair_key(s[i], s[i + 1]);
            pair_counts[key] += words[w].count;
            pair_words[key].push_back(static_cast<int32_t>(w));
        }
    }
    // Max-heap with lazy deletion: an entry is checked against pair_counts
    // when popped; counts that grew get a fresh entry when they change.
    std::priority_queue<Candidate, std::vector<Candidate>, CandidateOrder> heap;
    for (const auto& [key, count] : pair_counts) heap.push({count, key});

    // 3. Merge until the vocabulary is full.
    std::unordered_map<std::string, int32_t> token_ids;
    for (int32_t id = 0; id < 256; ++id) token_ids.emplace(vocab.tokens[id], id);
    std::unordered_map<uint64_t, int64_t> delta;
    while (static_cast<int32_t>(vocab.tokens.size()) < vocab_size && !heap.empty()) {
        const Candidate top = heap.top();
        heap.pop();
        auto count_it = pair_counts.find(top.pair);
        const int64_t current = count_it == pair_counts.end() ? 0 : count_it->second;
        if (current != top.count) {
            if (current > 0) heap.push({current, top.pair});
            continue;
        }
        if (current <= 0) break;

        const int32_t left = left_of(top.pair);
        const int32_t right = right_of(top.pair);
        std::string merged = vocab.tokens[left] + vocab.tokens[right];
        // Two different merges can spell the same bytes ("a"+"bc", "ab"+"c");
        // they share one token, as in Hugging Face's trainer.
        auto [tok_it, is_new] = token_ids.emplace(merged, static_cast<int32_t>(vocab.tokens.size()));
        const int32_t result = tok_it->second;
        if (is_new) vocab.tokens.push_back(std::move(merged));
        vocab.merges.emplace_back(left, right);

        // Re-count only the words that contain the pair: subtract each one's
        // old pairs, merge, add its new pairs.
        std::vector<int32_t> affected = std::move(pair_words[top.pair]);
        pair_words.erase(top.pair);
        std::sort(affected.begin(), affected.end());
        affected.erase(std::unique(affected.begin(), affected.end()), affected.end());
        delta.clear();
        for (int32_t w : affected) {
            auto& s = words[w].symbols;
            const int64_t n = words[w].count;
            for (size_t i = 0; i + 1 < s.size(); ++i) delta[pair_key(s[i], s[i + 1])] -= n;
            merge_word(s, left, right, result);
            for (size_t i = 0; i + 1 < s.size(); ++i) {
                const uint64_t key = pair_key(s[i], s[i + 1]);
                delta[key] += n;
                // Only pairs touching the new token are new to this word.
                if (s[i] == result || s[i + 1] == result) pair_words[key].push_back(w);
            }
        }
        for (const auto& [key, d] : delta) {
            if (d == 0) continue;
            int64_t& c = pair_counts[key];
            c += d;
            if (d > 0) heap.push({c, key});
            if (c == 0) pair_counts.erase(key);
        }
        pair_counts.erase(top.pair);

        if (progress) {
            progress({static_cast<int32_t>(vocab.tokens.size()), vocab_size, top.count});
        }
    }
    return vocab;
}

// ------------------------------------------------------------------- saving --

namespace {

[[noreturn]] void throw_io(const std::string& what, const std::filesystem::path& path) {
    throw std::runtime_error("save_bpe: " + what + " " + path.string() + ": " +
                             std::strerror(errno));
}

// Write-to-temp, fsync, rename: readers see the old file or the new one,
// never a partial write, and the data is on disk before the name points at it.
void write_file_atomic(const std::filesystem::path& path, std::string_view data) {
    std::string tmp = path.string() + ".tmp.XXXXXX";
    const int fd = ::mkstemp(tmp.data());
    if (fd < 0) throw_io("cannot create temporary file for", path);
    auto fail = [&](const char* what) {
        const int saved = errno;
        ::close(fd);
        ::unlink(tmp.c_str());
        errno = saved;
        throw_io(what, path);
    };
    size_t done = 0;
    while (done < data.size()) {
        const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("cannot write");
        }
        done += static_cast<size_t>(n);
    }
    // mkstemp creates 0600; vocabulary files are meant to be shared.
    if (::fchmod(fd, 0644) != 0) fail("cannot chmod temporary file for");
    if (::fsync(fd) != 0) fail("cannot fsync");
    if (::close(fd) != 0) {
        const int saved = errno;
        ::unlink(tmp.c_str());
        errno = saved;
        throw_io("cannot close", path);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        const int saved = errno;
        ::unlink(tmp.c_str());
        errno = saved;
        throw_io("cannot rename temporary file onto", path);
    }
}

// Makes the renames themselves durable.
void fsync_directory(const std::filesystem::path& dir) {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
    if (fd < 0) throw_io("cannot open directory", dir);
    const int rc = ::fsync(fd);
    const int saved = errno;
    ::close(fd);
    errno = saved;
    if (rc != 0) throw_io("cannot fsync directory", dir);
}

}  // namespace

void save_bpe(const std::filesystem::path& dir, const BpeVocab& vocab) {
    // Check what the loader would reject, so a bad vocabulary fails here
    // rather than when someone later tries to load it.
    if (vocab.tokens.size() < 256) {
        throw std::invalid_argument("save_bpe: need at least the 256 byte tokens, got " +
                                    std::to_string(vocab.tokens.size()));
    }
    std::vector<std::string> texts;
    texts.reserve(vocab.tokens.size());
    std::unordered_set<std::string_view> seen;
    for (const std::string& token : vocab.tokens) {
        if (token.empty()) throw std::invalid_argument("save_bpe: empty token");
        texts.push_back(byte_level_encode(token));
    }
    for (size_t id = 0; id < texts.size(); ++id) {
        if (!seen.insert(texts[id]).second) {
            throw std::invalid_argument("save_bpe: token id " + std::to_string(id) +
                                        " duplicates an earlier token");
        }
    }
    const auto n = static_cast<int32_t>(texts.size());
    for (size_t i = 0; i < vocab.merges.size(); ++i) {
        const auto [l, r] = vocab.merges[i];
        if (l < 0 || l >= n || r < 0 || r >= n ||
            !seen.contains(texts[static_cast<size_t>(l)] + texts[static_cast<size_t>(r)])) {
            throw std::invalid_argument("save_bpe: merge " + std::to_string(i) +
                                        " refers to unknown tokens or makes a token that is not "
                                        "in the vocabulary");
        }
    }

    // GPT-2's vocab.json is one compact JSON object, entries in id order.
    std::string json = "{";
    for (size_t id = 0; id < texts.size(); ++id) {
        if (id != 0) json += ',';
        json += nlohmann::json(texts[id]).dump();
        json += ':';
        json += std::to_string(id);
    }
    json += "}";
    std::string merges = "#version: 0.2\n";
    for (const auto& [l, r] : vocab.merges) {
        merges += texts[static_cast<size_t>(l)];
        merges += ' ';
        merges += texts[static_cast<size_t>(r)];
        merges += '\n';
    }

    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec) {
        throw std::runtime_error("save_bpe: cannot create directory " + dir.string() + ": " +
                                 ec.message());
    }
    write_file_atomic(dir / "vocab.json", json);
    write_file_atomic(dir / "merges.txt", merges);
    fsync_directory(dir);
}

}  // namespace strata::tokenizer
