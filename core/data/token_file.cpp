#include "core/data/token_file.hpp"

#include "core/util/atomic_file.hpp"
#include "core/util/canonical_json.hpp"
#include "core/util/sha256.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string_view>
#include <utility>

namespace strata::data {
namespace {

using nlohmann::json;

uint64_t pad8(uint64_t n) { return (8 - n % 8) % 8; }

template <typename T>
void put(std::string& out, T value) {
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
  out.append(bytes, sizeof(T));
}

template <typename T>
T get(const unsigned char* at) {
  T value;
  std::memcpy(&value, at, sizeof(T));
  return value;
}

std::string_view bytes_of(const void* data, size_t n) { return {static_cast<const char*>(data), n}; }

std::string hex(const unsigned char* digest, size_t n) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 15];
  }
  return out;
}

// Streams the file to a temp sibling while hashing, so the writer never holds a second copy
// of the token array; the same temp/fsync/rename/fsync-folder dance as write_file_atomically.
class AtomicHashedWriter {
public:
  explicit AtomicHashedWriter(const std::filesystem::path& path) : path_(path) {
    tmp_ = (path.parent_path() / ("." + path.filename().string() + ".tmp.XXXXXX")).string();
    fd_ = ::mkstemp(tmp_.data());
    if (fd_ < 0) fail("create temporary file for " + path_.string());
    crypto_hash_sha256_init(&body_);
    crypto_hash_sha256_init(&whole_);
  }
  ~AtomicHashedWriter() {
    if (fd_ >= 0) {
      ::close(fd_);
      ::unlink(tmp_.c_str());
    }
  }
  AtomicHashedWriter(const AtomicHashedWriter&) = delete;
  AtomicHashedWriter& operator=(const AtomicHashedWriter&) = delete;

  void write(std::string_view bytes) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    crypto_hash_sha256_update(&body_, p, bytes.size());
    crypto_hash_sha256_update(&whole_, p, bytes.size());
    raw_write(bytes);
  }

  // Appends the trailer (digest of everything so far), commits, returns the file's digest.
  std::string commit() {
    unsigned char trailer[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&body_, trailer);
    crypto_hash_sha256_update(&whole_, trailer, sizeof trailer);
    raw_write(bytes_of(trailer, sizeof trailer));
    unsigned char digest[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&whole_, digest);
    if (::fsync(fd_) != 0) fail("fsync " + tmp_);
    if (::fchmod(fd_, 0644) != 0) fail("chmod " + tmp_);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) {
      ::unlink(tmp_.c_str());
      fail("close " + tmp_);
    }
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
      const int saved = errno;
      ::unlink(tmp_.c_str());
      errno = saved;
      fail("rename to " + path_.string());
    }
    util::fsync_directory(path_.parent_path());
    return hex(digest, sizeof digest);
  }

private:
  [[noreturn]] static void fail(const std::string& what) {
    throw std::runtime_error(what + ": " + std::strerror(errno));
  }
  void raw_write(std::string_view bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail("write " + tmp_);
      done += static_cast<size_t>(n);
    }
  }

  std::filesystem::path path_;
  std::string tmp_;
  int fd_ = -1;
  crypto_hash_sha256_state body_;
  crypto_hash_sha256_state whole_;
};

// a * b + c with overflow detection: a hostile header must not wrap a size into range.
bool checked_mul_add(uint64_t a, uint64_t b, uint64_t c, uint64_t& out) {
  uint64_t product = 0;
  return !__builtin_mul_overflow(a, b, &product) && !__builtin_add_overflow(product, c, &out);
}

void check_attribute_value(int32_t value, const Attribute& attribute) {
  if (value < -1 || (value >= 0 && static_cast<size_t>(value) >= attribute.groups.size()))
    throw std::invalid_argument("attribute " + attribute.name + ": value " + std::to_string(value) +
                                " is neither -1 nor one of its " + std::to_string(attribute.groups.size()) +
                                " groups");
}

void validate_metadata(const TokenFileMetadata& m, uint64_t label_width) {
  if (m.tokenizer_vocab_size <= 0 || m.tokenizer_vocab_size > std::numeric_limits<int32_t>::max())
    throw std::invalid_argument("tokenizer vocab size " + std::to_string(m.tokenizer_vocab_size) +
                                " is not in [1, 2^31)");
  if (!m.label_names.empty() && m.label_names.size() != label_width)
    throw std::invalid_argument(std::to_string(m.label_names.size()) + " label names for label width " +
                                std::to_string(label_width));
  if (m.attributes.size() > std::numeric_limits<int32_t>::max())
    throw std::invalid_argument("too many attributes");
  if (!m.extra.is_object()) throw std::invalid_argument("metadata extra must be a JSON object");
}

[[noreturn]] void fail_file(const std::filesystem::path& path, const std::string& what) {
  throw std::runtime_error(path.string() + ": " + what);
}

}  // namespace

// --- metadata ------------------------------------------------------------------------------

json metadata_to_json(const TokenFileMetadata& m) {
  json sources = json::array();
  for (const auto& s : m.sources) sources.push_back({{"path", s.path}, {"sha256", s.sha256}, {"bytes", s.bytes}});
  json attributes = json::array();
  for (const auto& a : m.attributes) attributes.push_back({{"name", a.name}, {"groups", a.groups}});
  return {{"tokenizer", {{"name", m.tokenizer_name}, {"vocab_size", m.tokenizer_vocab_size}, {"files", m.tokenizer_files}}},
          {"sources", sources},
          {"label_names", m.label_names},
          {"attributes", attributes},
          {"extra", m.extra}};
}

TokenFileMetadata metadata_from_json(const json& j) {
  // at() and get<>() throw on missing keys or wrong types; turn that into one message.
  try {
    if (!j.is_object()) throw std::runtime_error("metadata is not a JSON object");
    TokenFileMetadata m;
    const json& tok = j.at("tokenizer");
    m.tokenizer_name = tok.at("name").get<std::string>();
    m.tokenizer_vocab_size = tok.at("vocab_size").get<int64_t>();
    m.tokenizer_files = tok.at("files").get<std::map<std::string, std::string>>();
    for (const json& s : j.at("sources"))
      m.sources.push_back({s.at("path").get<std::string>(), s.at("sha256").get<std::string>(),
                           s.at("bytes").get<uint64_t>()});
    m.label_names = j.at("label_names").get<std::vector<std::string>>();
    for (const json& a : j.at("attributes"))
      m.attributes.push_back({a.at("name").get<std::string>(), a.at("groups").get<std::vector<std::string>>()});
    m.extra = j.at("extra");
    if (!m.extra.is_object()) throw std::runtime_error("\"extra\" is not an object");
    return m;
  } catch (const json::exception& e) {
    throw std::runtime_error(e.what());
  }
}

// --- writer --------------------------------------------------------------------------------

TokenFileWriter::TokenFileWriter(TokenFileMetadata metadata, uint64_t label_width)
    : metadata_(std::move(metadata)), label_width_(label_width) {
  validate_metadata(metadata_, label_width_);
  token_size_ = dtype_for_vocab(metadata_.tokenizer_vocab_size) == TokenDtype::u16 ? 2 : 4;
}

void TokenFileWriter::add_document(std::span<const int32_t> tokens, std::span<const float> labels,
                                   std::span<const int32_t> attributes) {
  const int64_t vocab = metadata_.tokenizer_vocab_size;
  for (int32_t t : tokens)
    if (t < 0 || t >= vocab)
      throw std::invalid_argument("token id " + std::to_string(t) + " is outside the vocabulary of " +
                                  std::to_string(vocab));
  if (!labels.empty() && labels.size() != label_width_)
    throw std::invalid_argument(std::to_string(labels.size()) + " labels for label width " +
                                std::to_string(label_width_));
  if (!attributes.empty() && attributes.size() != metadata_.attributes.size())
    throw std::invalid_argument(std::to_string(attributes.size()) + " attribute values for " +
                                std::to_string(metadata_.attributes.size()) + " attributes");
  for (size_t a = 0; a < attributes.size(); ++a) check_attribute_value(attributes[a], metadata_.attributes[a]);

  // Validate everything before appending anything, so a refused document leaves no trace.
  token_bytes_.reserve(token_bytes_.size() + tokens.size() * token_size_);
  for (int32_t t : tokens) {
    if (token_size_ == 2)
      put(token_bytes_, static_cast<uint16_t>(t));
    else
      put(token_bytes_, static_cast<uint32_t>(t));
  }
  offsets_.push_back(offsets_.back() + tokens.size());
  if (labels.empty())
    labels_.insert(labels_.end(), label_width_, std::numeric_limits<float>::quiet_NaN());
  else
    labels_.insert(labels_.end(), labels.begin(), labels.end());
  if (attributes.empty())
    attributes_.insert(attributes_.end(), metadata_.attributes.size(), -1);
  else
    attributes_.insert(attributes_.end(), attributes.begin(), attributes.end());
}

std::string TokenFileWriter::write(const std::filesystem::path& path) const {
  std::string meta;
  try {
    meta = util::canonical_json(metadata_to_json(metadata_));
  } catch (const nlohmann::json::exception& e) {  // e.g. a source path that is not UTF-8
    fail_file(path, std::string("cannot encode metadata: ") + e.what());
  }
  const uint64_t unpadded = kFixedHeaderBytes + meta.size();
  const uint64_t header_bytes = (unpadded + kHeaderAlignment - 1) / kHeaderAlignment * kHeaderAlignment;
  if (header_bytes > std::numeric_limits<uint32_t>::max())
    throw std::runtime_error(path.string() + ": metadata too large (" + std::to_string(meta.size()) + " bytes)");

  std::string header;
  header.append(kTokenFileMagic, sizeof kTokenFileMagic);
  put<uint32_t>(header, kTokenFileVersion);
  put<uint32_t>(header, static_cast<uint32_t>(dtype_for_vocab(metadata_.tokenizer_vocab_size)));
  put<uint64_t>(header, token_count());
  put<uint64_t>(header, document_count());
  put<uint64_t>(header, label_width_);
  put<uint32_t>(header, static_cast<uint32_t>(metadata_.attributes.size()));
  put<uint32_t>(header, static_cast<uint32_t>(header_bytes));
  header += meta;
  header.append(header_bytes - unpadded, ' ');  // JSON allows trailing whitespace

  // Each section is zero-padded to 8 bytes so the next one is naturally aligned in the mapping.
  const std::string zeros(8, '\0');
  auto section = [&](AtomicHashedWriter& out, std::string_view bytes) {
    out.write(bytes);
    out.write(std::string_view(zeros).substr(0, pad8(bytes.size())));
  };
  try {
    AtomicHashedWriter out(path);
    out.write(header);
    section(out, token_bytes_);
    section(out, bytes_of(offsets_.data(), offsets_.size() * sizeof(uint64_t)));
    section(out, bytes_of(labels_.data(), labels_.size() * sizeof(float)));
    section(out, bytes_of(attributes_.data(), attributes_.size() * sizeof(int32_t)));
    return out.commit();
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    if (what.find(path.string()) != std::string::npos) throw;
    throw std::runtime_error(path.string() + ": " + what);
  }
}

// --- reader --------------------------------------------------------------------------------

TokenFile::TokenFile(TokenFile&& other) noexcept { *this = std::move(other); }

TokenFile& TokenFile::operator=(TokenFile&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    base_ = std::exchange(other.base_, nullptr);
    size_ = std::exchange(other.size_, 0);
    dtype_ = other.dtype_;
    token_count_ = std::exchange(other.token_count_, 0);
    document_count_ = std::exchange(other.document_count_, 0);
    label_width_ = std::exchange(other.label_width_, 0);
    attribute_count_ = std::exchange(other.attribute_count_, 0);
    tokens_ = std::exchange(other.tokens_, nullptr);
    offsets_ = std::exchange(other.offsets_, {});
    labels_ = std::exchange(other.labels_, {});
    attributes_ = std::exchange(other.attributes_, {});
    metadata_ = std::move(other.metadata_);
  }
  return *this;
}

TokenFile::~TokenFile() { release(); }

void TokenFile::release() noexcept {
  if (base_ != nullptr) ::munmap(const_cast<unsigned char*>(base_), size_);
  base_ = nullptr;
}

TokenFile TokenFile::open(const std::filesystem::path& path, const ReadOptions& options) {
  auto fail = [&](const std::string& what) { fail_file(path, what); };

  TokenFile f;
  f.path_ = path;
  {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) fail(std::string("cannot open: ") + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
      const int saved = errno;
      ::close(fd);
      fail(std::string("cannot stat: ") + std::strerror(saved));
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      fail("not a regular file");
    }
    f.size_ = static_cast<uint64_t>(st.st_size);
    if (f.size_ >= sizeof kTokenFileMagic) {  // mmap of an empty file fails; report it as truncated below
      void* p = ::mmap(nullptr, f.size_, PROT_READ, MAP_PRIVATE, fd, 0);
      const int saved = errno;
      ::close(fd);
      if (p == MAP_FAILED) fail(std::string("cannot mmap: ") + std::strerror(saved));
      f.base_ = static_cast<const unsigned char*>(p);
    } else {
      ::close(fd);
    }
  }
  const unsigned char* b = f.base_;
  const uint64_t size = f.size_;

  // Fixed header. The magic is checked first so "this is not a token file at all" wins over
  // "this token file is short".
  if (size >= sizeof kTokenFileMagic && std::memcmp(b, kTokenFileMagic, sizeof kTokenFileMagic) != 0)
    fail("bad magic: not a Strata token file (expected \"STRATATK\")");
  if (size < kFixedHeaderBytes)
    fail("truncated: the file holds " + std::to_string(size) + " bytes, less than the " +
         std::to_string(kFixedHeaderBytes) + "-byte fixed header");
  const auto version = get<uint32_t>(b + 8);
  if (version != kTokenFileVersion)
    fail("unsupported version " + std::to_string(version) + " (this build reads version " +
         std::to_string(kTokenFileVersion) + ")");
  const auto dtype = get<uint32_t>(b + 12);
  if (dtype != 1 && dtype != 2) fail("corrupt header: unknown dtype " + std::to_string(dtype));
  f.dtype_ = static_cast<TokenDtype>(dtype);
  f.token_count_ = get<uint64_t>(b + 16);
  f.document_count_ = get<uint64_t>(b + 24);
  f.label_width_ = get<uint64_t>(b + 32);
  f.attribute_count_ = get<uint32_t>(b + 40);
  const auto header_bytes = get<uint32_t>(b + 44);
  if (header_bytes < kFixedHeaderBytes + 2 || header_bytes % kHeaderAlignment != 0)
    fail("corrupt header: header_bytes " + std::to_string(header_bytes) + " is not a multiple of " +
         std::to_string(kHeaderAlignment) + " holding the metadata");

  // Section sizes, each checked for overflow before any is trusted.
  const uint64_t token_size = f.dtype_ == TokenDtype::u16 ? 2 : 4;
  uint64_t token_bytes = 0, offset_bytes = 0, label_bytes = 0, attribute_bytes = 0, label_values = 0;
  bool ok = checked_mul_add(f.token_count_, token_size, 0, token_bytes) &&
            checked_mul_add(f.document_count_, 8, 8, offset_bytes) &&
            checked_mul_add(f.document_count_, f.label_width_, 0, label_values) &&
            checked_mul_add(label_values, 4, 0, label_bytes) &&
            checked_mul_add(f.document_count_, f.attribute_count_, 0, attribute_bytes) &&
            checked_mul_add(attribute_bytes, 4, 0, attribute_bytes);
  uint64_t expected = header_bytes;
  for (uint64_t section : {token_bytes, offset_bytes, label_bytes, attribute_bytes}) {
    const uint64_t padded = section + pad8(section);
    ok = ok && padded >= section && checked_mul_add(1, padded, expected, expected);
  }
  ok = ok && checked_mul_add(1, kTrailerBytes, expected, expected);
  const std::string counts = std::to_string(f.token_count_) + " tokens and " + std::to_string(f.document_count_) +
                             " documents";
  if (!ok) fail("corrupt header: " + counts + " overflow any possible file size");
  if (size < expected)
    fail("truncated: header says " + counts + " (" + std::to_string(expected) + " bytes) but the file holds " +
         std::to_string(size) + " bytes");
  if (size > expected)
    fail(std::to_string(size - expected) + " unexpected bytes after the checksum: header says " + counts + " (" +
         std::to_string(expected) + " bytes)");

  const uint64_t body = size - kTrailerBytes;
  if (options.verify_checksum) {
    const std::string stored = hex(b + body, kTrailerBytes);
    const std::string actual = util::sha256_hex(bytes_of(b, body));
    if (stored != actual)
      fail("checksum mismatch, the file is corrupted: trailer says sha256 " + stored + " but the contents hash to " +
           actual);
  }

  // Metadata: a JSON object padded with spaces to header_bytes.
  const auto* meta_begin = reinterpret_cast<const char*>(b + kFixedHeaderBytes);
  const json meta_json = json::parse(meta_begin, meta_begin + (header_bytes - kFixedHeaderBytes), nullptr, false);
  if (meta_json.is_discarded()) fail("corrupt metadata: not valid JSON");
  try {
    f.metadata_ = metadata_from_json(meta_json);
  } catch (const std::runtime_error& e) {
    fail(std::string("corrupt metadata: ") + e.what());
  }
  const TokenFileMetadata& m = f.metadata_;
  if (m.tokenizer_vocab_size <= 0 || m.tokenizer_vocab_size > std::numeric_limits<int32_t>::max())
    fail("corrupt metadata: tokenizer vocab size " + std::to_string(m.tokenizer_vocab_size) + " is not in [1, 2^31)");
  if (dtype_for_vocab(m.tokenizer_vocab_size) != f.dtype_)
    fail("corrupt header: dtype " + std::to_string(dtype) + " does not match vocab size " +
         std::to_string(m.tokenizer_vocab_size) + " (u16 iff vocab <= 65536)");
  if (m.attributes.size() != f.attribute_count_)
    fail("corrupt metadata: " + std::to_string(m.attributes.size()) + " attributes described but header says " +
         std::to_string(f.attribute_count_));
  if (!m.label_names.empty() && m.label_names.size() != f.label_width_)
    fail("corrupt metadata: " + std::to_string(m.label_names.size()) + " label names but label width " +
         std::to_string(f.label_width_));

  // Sections; the zero padding is checked too so an unchecksummed file still has one reading.
  uint64_t at = header_bytes;
  auto take = [&](uint64_t bytes, const char* name) {
    const unsigned char* start = b + at;
    for (uint64_t i = bytes; i < bytes + pad8(bytes); ++i)
      if (start[i] != 0) fail(std::string("corrupt file: nonzero padding after the ") + name);
    at += bytes + pad8(bytes);
    return start;
  };
  f.tokens_ = take(token_bytes, "token array");
  f.offsets_ = {reinterpret_cast<const uint64_t*>(take(offset_bytes, "document offsets")), f.document_count_ + 1};
  f.labels_ = {reinterpret_cast<const float*>(take(label_bytes, "labels")), label_values};
  f.attributes_ = {reinterpret_cast<const int32_t*>(take(attribute_bytes, "attributes")), attribute_bytes / 4};

  const auto& offs = f.offsets_;
  if (offs.front() != 0) fail("corrupt document offsets: the first is " + std::to_string(offs.front()) + ", not 0");
  for (uint64_t d = 0; d < f.document_count_; ++d)
    if (offs[d + 1] < offs[d])
      fail("corrupt document offsets: document " + std::to_string(d) + " ends at " + std::to_string(offs[d + 1]) +
           " before it starts at " + std::to_string(offs[d]));
  if (offs.back() != f.token_count_)
    fail("corrupt document offsets: the last is " + std::to_string(offs.back()) + " but there are " +
         std::to_string(f.token_count_) + " tokens");

  for (uint64_t i = 0; i < f.attributes_.size(); ++i) {
    try {
      check_attribute_value(f.attributes_[i], m.attributes[i % f.attribute_count_]);
    } catch (const std::invalid_argument& e) {
      fail("corrupt attributes: document " + std::to_string(i / f.attribute_count_) + ": " + e.what());
    }
  }

  if (options.verify_token_ids) {
    const auto vocab = static_cast<uint64_t>(m.tokenizer_vocab_size);
    for (uint64_t i = 0; i < f.token_count_; ++i) {
      const uint64_t t = token_size == 2 ? get<uint16_t>(f.tokens_ + 2 * i) : get<uint32_t>(f.tokens_ + 4 * i);
      if (t >= vocab)
        fail("corrupt tokens: token " + std::to_string(i) + " has id " + std::to_string(t) +
             ", outside the vocabulary of " + std::to_string(vocab));
    }
  }
  return f;
}

int32_t TokenFile::token(uint64_t index) const {
  int32_t out = 0;
  copy_tokens(index, 1, &out);
  return out;
}

void TokenFile::copy_tokens(uint64_t begin, uint64_t count, int32_t* out) const {
  if (begin > token_count_ || count > token_count_ - begin)
    throw std::out_of_range(path_.string() + ": tokens [" + std::to_string(begin) + ", +" + std::to_string(count) +
                            ") are past the end (" + std::to_string(token_count_) + " tokens)");
  // Ids above int32 max can only appear when verify_token_ids was off; they wrap, they never
  // read outside the mapping.
  if (dtype_ == TokenDtype::u16) {
    const unsigned char* p = tokens_ + 2 * begin;
    for (uint64_t i = 0; i < count; ++i) out[i] = get<uint16_t>(p + 2 * i);
  } else {
    const unsigned char* p = tokens_ + 4 * begin;
    for (uint64_t i = 0; i < count; ++i) out[i] = static_cast<int32_t>(get<uint32_t>(p + 4 * i));
  }
}

std::vector<int32_t> TokenFile::document_tokens(uint64_t doc) const {
  if (doc >= document_count_)
    throw std::out_of_range(path_.string() + ": document " + std::to_string(doc) + " of " +
                            std::to_string(document_count_));
  std::vector<int32_t> out(offsets_[doc + 1] - offsets_[doc]);
  copy_tokens(offsets_[doc], out.size(), out.data());
  return out;
}

std::span<const float> TokenFile::labels(uint64_t doc) const {
  if (doc >= document_count_)
    throw std::out_of_range(path_.string() + ": document " + std::to_string(doc) + " of " +
                            std::to_string(document_count_));
  return labels_.subspan(doc * label_width_, label_width_);
}

std::span<const int32_t> TokenFile::attributes(uint64_t doc) const {
  if (doc >= document_count_)
    throw std::out_of_range(path_.string() + ": document " + std::to_string(doc) + " of " +
                            std::to_string(document_count_));
  return attributes_.subspan(doc * attribute_count_, attribute_count_);
}

}  // namespace strata::data
