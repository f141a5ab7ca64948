#include "plugins/compliance/audit/log/keys.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "plugins/compliance/audit/log/encoding.hpp"

namespace strata::audit {

namespace detail {
void ensure_sodium() {
  static const int rc = sodium_init();
  if (rc < 0) throw std::runtime_error("libsodium failed to initialise");
}
}  // namespace detail

namespace {

constexpr uint8_t kAlgEd25519 = 0x01;
constexpr std::string_view kPrivatePrefix = "PRIVATE+KEY+";

// Unicode White_Space code points (what Go's unicode.IsSpace accepts).
bool is_unicode_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

// Decodes the code point at text[i] of already-validated UTF-8; advances i.
uint32_t next_code_point(std::string_view text, size_t& i) {
  const auto c = static_cast<uint8_t>(text[i]);
  int len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
  uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (int j = 1; j < len; ++j) cp = (cp << 6) | (static_cast<uint8_t>(text[i + j]) & 0x3F);
  i += static_cast<size_t>(len);
  return cp;
}

std::string id_hex(uint32_t id) {
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08x", id);
  return buf;
}

// Exactly 8 lowercase hex digits.
bool parse_id_hex(std::string_view s, uint32_t& out) {
  if (s.size() != 8) return false;
  uint32_t v = 0;
  for (const char c : s) {
    int d;
    if (c >= '0' && c <= '9') d = c - '0';
    else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
    else return false;
    v = (v << 4) | static_cast<uint32_t>(d);
  }
  out = v;
  return true;
}

// Parses "<name>+<id>+<base64(0x01||32 bytes)>"; `what` is "signer key" or "verifier key".
void parse_key_fields(std::string_view text, const char* what, std::string& name, uint32_t& id,
                      std::array<uint8_t, 32>& key) {
  // The name and the id contain no '+'; the base64 key may.
  const size_t p1 = text.find('+');
  const size_t p2 = p1 == std::string_view::npos ? p1 : text.find('+', p1 + 1);
  if (p2 == std::string_view::npos)
    throw std::invalid_argument(std::string(what) + ": expected <name>+<key id>+<key>");
  const std::string_view parts[3] = {text.substr(0, p1), text.substr(p1 + 1, p2 - p1 - 1), text.substr(p2 + 1)};
  if (const std::string problem = key_name_problem(parts[0]); !problem.empty())
    throw std::invalid_argument(std::string(what) + ": bad key name: " + problem);
  if (!parse_id_hex(parts[1], id))
    throw std::invalid_argument(std::string(what) + ": key id '" + std::string(parts[1]) +
                                "' is not 8 lowercase hex digits");
  auto bytes = base64_decode(parts[2]);
  if (!bytes) throw std::invalid_argument(std::string(what) + ": key is not canonical base64");
  if (bytes->size() != 33) {
    sodium_memzero(bytes->data(), bytes->size());
    throw std::invalid_argument(std::string(what) + ": key is " + std::to_string(bytes->size()) +
                                " bytes, expected 33 (algorithm byte + 32)");
  }
  if ((*bytes)[0] != kAlgEd25519) {
    const int alg = (*bytes)[0];
    sodium_memzero(bytes->data(), bytes->size());
    throw std::invalid_argument(std::string(what) + ": algorithm byte is " + std::to_string(alg) +
                                ", expected 1 (Ed25519)");
  }
  std::copy(bytes->begin() + 1, bytes->end(), key.begin());
  sodium_memzero(bytes->data(), bytes->size());
  name = std::string(parts[0]);
}

[[noreturn]] void io_fail(const std::string& what, const std::filesystem::path& path, int err) {
  throw std::runtime_error(what + " " + path.string() + ": " + std::strerror(err));
}

}  // namespace

SignerKey::~SignerKey() { sodium_memzero(seed.data(), seed.size()); }

uint32_t key_id(std::string_view name, const std::array<uint8_t, 32>& pub) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(name.data()), name.size());
  const uint8_t sep[2] = {0x0A, kAlgEd25519};
  crypto_hash_sha256_update(&st, sep, 2);
  crypto_hash_sha256_update(&st, pub.data(), pub.size());
  uint8_t digest[32];
  crypto_hash_sha256_final(&st, digest);
  return (uint32_t{digest[0]} << 24) | (uint32_t{digest[1]} << 16) | (uint32_t{digest[2]} << 8) | digest[3];
}

std::string key_name_problem(std::string_view name) {
  if (name.empty()) return "the name is empty";
  if (!is_valid_utf8(name)) return "the name is not valid UTF-8";
  size_t i = 0;
  while (i < name.size()) {
    const size_t at = i;
    const uint32_t cp = next_code_point(name, i);
    if (cp == '+') return "the name contains '+' at byte " + std::to_string(at);
    if (is_unicode_space(cp)) return "the name contains white space at byte " + std::to_string(at);
    if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F))
      return "the name contains a control character at byte " + std::to_string(at);
  }
  return {};
}

SignerKey signer_key_from_seed(std::string name, const std::array<uint8_t, 32>& seed) {
  detail::ensure_sodium();
  if (const std::string problem = key_name_problem(name); !problem.empty())
    throw std::invalid_argument("bad key name: " + problem);
  SignerKey key;
  key.name = std::move(name);
  key.seed = seed;
  uint8_t sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair(key.public_key.data(), sk, key.seed.data());
  sodium_memzero(sk, sizeof sk);
  key.key_id = key_id(key.name, key.public_key);
  return key;
}

SignerKey generate_signer_key(std::string name) {
  detail::ensure_sodium();
  std::array<uint8_t, 32> seed{};
  randombytes_buf(seed.data(), seed.size());
  SignerKey key = signer_key_from_seed(std::move(name), seed);
  sodium_memzero(seed.data(), seed.size());
  return key;
}

std::string format_signer_key(const SignerKey& key) {
  std::array<uint8_t, 33> raw;
  raw[0] = kAlgEd25519;
  std::copy(key.seed.begin(), key.seed.end(), raw.begin() + 1);
  std::string out = std::string(kPrivatePrefix) + key.name + "+" + id_hex(key.key_id) + "+" + base64_encode(raw);
  sodium_memzero(raw.data(), raw.size());
  return out;
}

std::string format_verifier_key(const VerifierKey& key) {
  std::array<uint8_t, 33> raw;
  raw[0] = kAlgEd25519;
  std::copy(key.public_key.begin(), key.public_key.end(), raw.begin() + 1);
  return key.name + "+" + id_hex(key.key_id) + "+" + base64_encode(raw);
}

SignerKey parse_signer_key(std::string_view text) {
  if (!text.starts_with(kPrivatePrefix))
    throw std::invalid_argument("signer key: does not start with PRIVATE+KEY+");
  std::string name;
  uint32_t id = 0;
  std::array<uint8_t, 32> seed{};
  parse_key_fields(text.substr(kPrivatePrefix.size()), "signer key", name, id, seed);
  SignerKey key = signer_key_from_seed(std::move(name), seed);
  sodium_memzero(seed.data(), seed.size());
  if (key.key_id != id)
    throw std::invalid_argument("signer key: key id " + id_hex(id) + " does not match the key (expected " +
                                id_hex(key.key_id) + ")");
  return key;
}

VerifierKey parse_verifier_key(std::string_view text) {
  if (text.starts_with(kPrivatePrefix))
    throw std::invalid_argument("verifier key: this is a private (signer) key, not a verifier key");
  VerifierKey key;
  uint32_t id = 0;
  parse_key_fields(text, "verifier key", key.name, id, key.public_key);
  key.key_id = key_id(key.name, key.public_key);
  if (key.key_id != id)
    throw std::invalid_argument("verifier key: key id " + id_hex(id) + " does not match the key (expected " +
                                id_hex(key.key_id) + ")");
  return key;
}

VerifierKey verifier_of(const SignerKey& key) { return VerifierKey{key.name, key.public_key, key.key_id}; }

std::array<uint8_t, 64> sign_detached(const SignerKey& key, std::span<const uint8_t> msg) {
  detail::ensure_sodium();
  uint8_t pk[crypto_sign_PUBLICKEYBYTES];
  uint8_t sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair(pk, sk, key.seed.data());
  std::array<uint8_t, 64> sig{};
  crypto_sign_detached(sig.data(), nullptr, msg.data(), msg.size(), sk);
  sodium_memzero(sk, sizeof sk);
  return sig;
}

bool verify_detached(const VerifierKey& key, std::span<const uint8_t> msg, const std::array<uint8_t, 64>& sig) {
  detail::ensure_sodium();
  return crypto_sign_verify_detached(sig.data(), msg.data(), msg.size(), key.public_key.data()) == 0;
}

std::vector<VerifierKey> parse_keyring(std::string_view text, const std::string& source) {
  std::vector<VerifierKey> keys;
  std::set<std::pair<std::string, uint32_t>> seen;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t' || line.back() == '\r')) line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    const std::string where = source + ":" + std::to_string(line_no) + ": ";
    VerifierKey key;
    try {
      key = parse_verifier_key(line);
    } catch (const std::invalid_argument& e) {
      throw std::runtime_error(where + e.what());
    }
    if (!seen.emplace(key.name, key.key_id).second)
      throw std::runtime_error(where + "duplicate key " + key.name + "+" + id_hex(key.key_id));
    keys.push_back(std::move(key));
  }
  return keys;
}

std::vector<VerifierKey> load_keyring(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) io_fail("cannot open keyring", path, errno);
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) io_fail("cannot read keyring", path, errno);
  return parse_keyring(buf.str(), path.string());
}

void write_signer_key_file(const std::filesystem::path& path, const SignerKey& key) {
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  struct stat st;
  if (::lstat(path.c_str(), &st) == 0)
    throw std::runtime_error("refusing to overwrite existing key file " + path.string());
  std::string tmp = (dir / ("." + path.filename().string() + ".tmp.XXXXXX")).string();
  const int fd = ::mkstemp(tmp.data());  // mode 0600
  if (fd < 0) io_fail("cannot create a temporary file for", path, errno);
  std::string text = format_signer_key(key) + "\n";
  auto cleanup = [&](const std::string& what, int err) {
    sodium_memzero(text.data(), text.size());
    ::close(fd);
    ::unlink(tmp.c_str());
    io_fail(what, path, err);
  };
  if (::fchmod(fd, 0600) != 0) cleanup("cannot chmod temporary file for", errno);
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) cleanup("cannot write temporary file for", n < 0 ? errno : EIO);
    done += static_cast<size_t>(n);
  }
  sodium_memzero(text.data(), text.size());
  if (::fsync(fd) != 0) cleanup("cannot fsync temporary file for", errno);
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    io_fail("cannot close temporary file for", path, err);
  }
  // link() fails with EEXIST instead of replacing: no overwrite, even in a race.
  if (::link(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    if (err == EEXIST) throw std::runtime_error("refusing to overwrite existing key file " + path.string());
    io_fail("cannot create key file", path, err);
  }
  ::unlink(tmp.c_str());
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) io_fail("cannot open directory", dir, errno);
  if (::fsync(dfd) != 0) {
    const int err = errno;
    ::close(dfd);
    io_fail("cannot fsync directory", dir, err);
  }
  ::close(dfd);
}

SignerKey read_signer_key_file(const std::filesystem::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) io_fail("cannot open key file", path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    io_fail("cannot stat key file", path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    throw std::runtime_error("key file " + path.string() + " is not a regular file");
  }
  if (st.st_mode & 077) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    throw std::runtime_error("key file " + path.string() + " is accessible by group or others (mode " + mode +
                             "); refusing to use it (run: chmod 600 " + path.string() + ")");
  }
  std::string text(4096, '\0');
  size_t got = 0;
  for (;;) {
    if (got == text.size()) {
      sodium_memzero(text.data(), text.size());
      ::close(fd);
      throw std::runtime_error("key file " + path.string() + " is too large to be a signer key");
    }
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      sodium_memzero(text.data(), text.size());
      ::close(fd);
      io_fail("cannot read key file", path, err);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  std::string_view view(text.data(), got);
  if (view.ends_with('\n')) view.remove_suffix(1);
  try {
    SignerKey key = parse_signer_key(view);
    sodium_memzero(text.data(), text.size());
    return key;
  } catch (const std::invalid_argument& e) {
    sodium_memzero(text.data(), text.size());
    throw std::invalid_argument(path.string() + ": " + e.what());
  }
}

}  // namespace strata::audit
