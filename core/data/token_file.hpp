// The Strata token file (.tok): a tokenized corpus as one flat token array plus document
// boundaries, optional per-document labels and group attributes, and provenance metadata,
// closed by a SHA-256 trailer. docs/data-format.md is the byte-level specification; this
// header is its reference implementation. Readers memory-map the file, so a training run
// touches only the pages it samples.
#pragma once

#include <bit>
#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace strata::data {

// The sections are read in place through the mapping, so the host must share the file's
// byte order. Every platform Strata targets is little-endian.
static_assert(std::endian::native == std::endian::little, "token files are little-endian");

inline constexpr char kTokenFileMagic[8] = {'S', 'T', 'R', 'A', 'T', 'A', 'T', 'K'};
inline constexpr uint32_t kTokenFileVersion = 1;
inline constexpr uint32_t kFixedHeaderBytes = 48;   // magic .. header_bytes
inline constexpr uint32_t kHeaderAlignment = 64;    // header_bytes is a multiple of this
inline constexpr uint32_t kTrailerBytes = 32;       // SHA-256 of every byte before it
inline constexpr int64_t kMaxU16Vocab = 65536;      // largest vocabulary stored as u16

enum class TokenDtype : uint32_t { u16 = 1, u32 = 2 };

// The narrowest dtype that holds every id of a vocabulary: the format allows exactly one.
inline TokenDtype dtype_for_vocab(int64_t vocab_size) {
  return vocab_size <= kMaxU16Vocab ? TokenDtype::u16 : TokenDtype::u32;
}

struct SourceFile {
  std::string path;    // as it was given to the preparer
  std::string sha256;  // of the bytes that were tokenized
  uint64_t bytes = 0;
};

struct Attribute {
  std::string name;                 // e.g. "dialect"
  std::vector<std::string> groups;  // value g of this attribute means groups[g]; -1 means unknown
};

// The JSON blob in the header. Stored as canonical JSON (sorted keys, no whitespace) so the
// same inputs always give byte-identical files.
struct TokenFileMetadata {
  std::string tokenizer_name;
  int64_t tokenizer_vocab_size = 0;
  std::map<std::string, std::string> tokenizer_files;  // file name -> sha256 (empty for "byte")
  std::vector<SourceFile> sources;
  std::vector<std::string> label_names;  // empty, or one per label column
  std::vector<Attribute> attributes;     // one per attribute column
  nlohmann::json extra = nlohmann::json::object();  // producer-specific provenance (split, seed, ...)
};

nlohmann::json metadata_to_json(const TokenFileMetadata& metadata);
// Throws std::runtime_error "<what is wrong>" (the caller adds the file name).
TokenFileMetadata metadata_from_json(const nlohmann::json& json);

// Collects documents in memory (tokens already narrowed to the file's dtype) and writes the
// file atomically: a reader sees the old file or the complete new one, never a partial one.
class TokenFileWriter {
public:
  // Throws std::invalid_argument when the vocabulary size is not positive or label_names
  // does not have label_width entries.
  explicit TokenFileWriter(TokenFileMetadata metadata, uint64_t label_width = 0);

  // labels: label_width floats; attributes: one value per attribute, each -1 or a group
  // index. Both may be empty, meaning "unknown" (NaN labels, -1 attributes). Throws
  // std::invalid_argument for a token id outside the vocabulary or a bad label/attribute.
  void add_document(std::span<const int32_t> tokens, std::span<const float> labels = {},
                    std::span<const int32_t> attributes = {});

  // Provenance is often only known while documents are being read, so sources can be added
  // at any point before write().
  void add_source(SourceFile source) { metadata_.sources.push_back(std::move(source)); }

  uint64_t token_count() const { return token_bytes_.size() / token_size_; }
  uint64_t document_count() const { return offsets_.size() - 1; }

  // Writes temp file, fsync, rename, fsync folder. Returns the SHA-256 of the whole file
  // (trailer included). Throws std::runtime_error naming the path on any I/O failure.
  std::string write(const std::filesystem::path& path) const;

private:
  TokenFileMetadata metadata_;
  uint64_t label_width_;
  size_t token_size_;
  std::string token_bytes_;             // little-endian u16 or u32
  std::vector<uint64_t> offsets_{0};    // document_count + 1
  std::vector<float> labels_;
  std::vector<int32_t> attributes_;
};

struct ReadOptions {
  // Hash the whole file against the trailer. Costs one sequential read of the file; turn it
  // off only for huge files that were verified once already.
  bool verify_checksum = true;
  // Check every token id is below the vocabulary size, so an embedding lookup can never go
  // out of range. Also one pass over the token array.
  bool verify_token_ids = true;
};

// A validated, read-only view of a token file. Every accessor is bounds-checked against
// values validated at open time, so no input file can make it read outside the mapping.
class TokenFile {
public:
  // Throws std::runtime_error "<path>: <what is wrong>" for anything that is not a complete,
  // consistent token file; it never crashes on garbage input.
  static TokenFile open(const std::filesystem::path& path, const ReadOptions& options = {});

  // Not open: no tokens, no documents (document_offsets() is empty). Lets a TokenFile be a
  // member that is assigned from open() later.
  TokenFile() = default;

  TokenFile(TokenFile&& other) noexcept;
  TokenFile& operator=(TokenFile&& other) noexcept;
  TokenFile(const TokenFile&) = delete;
  TokenFile& operator=(const TokenFile&) = delete;
  ~TokenFile();

  const std::filesystem::path& path() const { return path_; }
  TokenDtype dtype() const { return dtype_; }
  uint64_t token_count() const { return token_count_; }
  uint64_t document_count() const { return document_count_; }
  uint64_t label_width() const { return label_width_; }
  uint32_t attribute_count() const { return attribute_count_; }
  uint64_t file_bytes() const { return size_; }
  const TokenFileMetadata& metadata() const { return metadata_; }

  // Throws std::out_of_range past the end.
  int32_t token(uint64_t index) const;
  // Widens tokens [begin, begin + count) into out. Throws std::out_of_range past the end.
  void copy_tokens(uint64_t begin, uint64_t count, int32_t* out) const;
  std::vector<int32_t> document_tokens(uint64_t doc) const;

  // document_count + 1 entries, offsets[0] == 0, non-decreasing, last == token_count.
  std::span<const uint64_t> document_offsets() const { return offsets_; }
  // label_width floats / attribute_count values of one document. Throw std::out_of_range.
  std::span<const float> labels(uint64_t doc) const;
  std::span<const int32_t> attributes(uint64_t doc) const;

private:
  void release() noexcept;

  std::filesystem::path path_;
  const unsigned char* base_ = nullptr;  // the mapping
  uint64_t size_ = 0;
  TokenDtype dtype_ = TokenDtype::u16;
  uint64_t token_count_ = 0;
  uint64_t document_count_ = 0;
  uint64_t label_width_ = 0;
  uint32_t attribute_count_ = 0;
  const unsigned char* tokens_ = nullptr;
  std::span<const uint64_t> offsets_;
  std::span<const float> labels_;
  std::span<const int32_t> attributes_;
  TokenFileMetadata metadata_;
};

// The counter-based hash behind every random-looking choice in the data pipeline
// (validation split, sample order). It is a pure function of its arguments, so choices are
// reproducible on any machine and any world size, and seekable without replaying history.
// Spelled out in docs/data-format.md so other tools can reproduce the same choices.
constexpr uint64_t mix64(uint64_t x) {  // the splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
constexpr uint64_t counter_hash(uint64_t seed, uint64_t a, uint64_t b = 0, uint64_t c = 0) {
  return mix64(mix64(mix64(mix64(seed) ^ a) ^ b) ^ c);
}

}  // namespace strata::data
