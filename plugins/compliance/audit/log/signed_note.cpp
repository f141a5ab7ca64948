#include "plugins/compliance/audit/log/signed_note.hpp"

#include <algorithm>
#include <stdexcept>

#include "plugins/compliance/audit/log/encoding.hpp"

namespace strata::audit {
namespace {

constexpr std::string_view kSigPrefix = "\xE2\x80\x94 ";  // U+2014 EM DASH, space

// Valid UTF-8 without ASCII control characters other than '\n'.
std::string text_problem(std::string_view text) {
  if (!is_valid_utf8(text)) return "not valid UTF-8";
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<uint8_t>(text[i]);
    if ((c < 0x20 && c != '\n') || c == 0x7F) return "control character at byte " + std::to_string(i);
  }
  return {};
}

bool has_unicode_space_or_control(std::string_view s) {
  // key_name_problem rejects white space and control characters, and also '+': strip the
  // '+' question by replacing it before asking.
  std::string copy(s);
  std::replace(copy.begin(), copy.end(), '+', 'x');
  return !key_name_problem(copy).empty();
}

std::vector<std::string_view> split_lines(std::string_view text) {
  // text ends with '\n'; returns the lines without their newline.
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t end = text.find('\n', pos);
    lines.push_back(text.substr(pos, end - pos));
    pos = end + 1;
  }
  return lines;
}

}  // namespace

std::string sign_note(std::string_view body, std::span<const SignerKey* const> signers) {
  if (body.empty() || body.back() != '\n') throw std::invalid_argument("note text must end with a newline");
  if (const std::string p = text_problem(body); !p.empty()) throw std::invalid_argument("note text: " + p);
  if (signers.empty()) throw std::invalid_argument("a note needs at least one signer");
  if (signers.size() > kMaxNoteSignatures) throw std::invalid_argument("too many signers");
  std::string out(body);
  out += '\n';
  const auto msg = std::span(reinterpret_cast<const uint8_t*>(body.data()), body.size());
  for (const SignerKey* key : signers) {
    if (key == nullptr) throw std::invalid_argument("null signer key");
    if (const std::string p = key_name_problem(key->name); !p.empty())
      throw std::invalid_argument("signer key name: " + p);
    const auto sig = sign_detached(*key, msg);
    std::array<uint8_t, 68> raw;
    raw[0] = static_cast<uint8_t>(key->key_id >> 24);
    raw[1] = static_cast<uint8_t>(key->key_id >> 16);
    raw[2] = static_cast<uint8_t>(key->key_id >> 8);
    raw[3] = static_cast<uint8_t>(key->key_id);
    std::copy(sig.begin(), sig.end(), raw.begin() + 4);
    out += kSigPrefix;
    out += key->name;
    out += ' ';
    out += base64_encode(raw);
    out += '\n';
  }
  return out;
}

OpenedNote open_note(std::string_view note, std::span<const VerifierKey> known) {
  if (const std::string p = text_problem(note); !p.empty()) throw std::invalid_argument("malformed note: " + p);
  if (note.empty() || note.back() != '\n') throw std::invalid_argument("malformed note: does not end with a newline");
  const size_t sep = note.rfind("\n\n");
  if (sep == std::string_view::npos)
    throw std::invalid_argument("malformed note: no blank line between the text and the signatures");
  OpenedNote out;
  out.body = std::string(note.substr(0, sep + 1));
  const std::string_view sig_block = note.substr(sep + 2);
  if (sig_block.empty()) throw std::invalid_argument("malformed note: no signature lines");
  const auto lines = split_lines(sig_block);
  if (lines.size() > kMaxNoteSignatures)
    throw std::invalid_argument("malformed note: " + std::to_string(lines.size()) + " signature lines, more than " +
                                std::to_string(kMaxNoteSignatures));
  const auto msg = std::span(reinterpret_cast<const uint8_t*>(out.body.data()), out.body.size());
  std::vector<std::string> unknown;
  for (size_t i = 0; i < lines.size(); ++i) {
    const std::string where = "malformed note: signature line " + std::to_string(i + 1) + ": ";
    std::string_view line = lines[i];
    if (!line.starts_with(kSigPrefix)) throw std::invalid_argument(where + "does not start with an em dash and a space");
    line.remove_prefix(kSigPrefix.size());
    const size_t space = line.find(' ');
    if (space == std::string_view::npos) throw std::invalid_argument(where + "no space between key name and signature");
    const std::string_view name = line.substr(0, space);
    const std::string_view b64 = line.substr(space + 1);
    if (const std::string p = key_name_problem(name); !p.empty()) throw std::invalid_argument(where + "key name: " + p);
    const auto raw = base64_decode(b64);
    if (!raw) throw std::invalid_argument(where + "signature is not canonical base64");
    if (raw->size() < 5) throw std::invalid_argument(where + "signature is shorter than a key id and one byte");
    const uint32_t id = (uint32_t{(*raw)[0]} << 24) | (uint32_t{(*raw)[1]} << 16) | (uint32_t{(*raw)[2]} << 8) | (*raw)[3];
    const auto key = std::find_if(known.begin(), known.end(),
                                  [&](const VerifierKey& k) { return k.name == name && k.key_id == id; });
    if (key == known.end()) {
      unknown.emplace_back(name);
      continue;  // unknown keys are ignored (signed-note spec)
    }
    if (raw->size() != 4 + 64)
      throw std::invalid_argument("signature by known key " + std::string(name) + " is " +
                                  std::to_string(raw->size() - 4) + " bytes, not a 64-byte Ed25519 signature");
    NoteSignature sig{std::string(name), id, {}};
    std::copy(raw->begin() + 4, raw->end(), sig.sig.begin());
    if (!verify_detached(*key, msg, sig.sig))
      throw std::invalid_argument("signature by known key " + std::string(name) + " does not verify");
    if (std::find(out.verified_by.begin(), out.verified_by.end(), sig.name) == out.verified_by.end())
      out.verified_by.push_back(sig.name);
    out.signatures.push_back(std::move(sig));
  }
  if (out.verified_by.empty()) {
    std::string names;
    for (const auto& n : unknown) names += (names.empty() ? "" : ", ") + n;
    throw std::invalid_argument("note is not signed by any known key (signed only by unknown keys: " + names + ")");
  }
  return out;
}

std::string format_tree_head(const TreeHead& head) {
  if (head.origin.empty()) throw std::invalid_argument("tree head origin is empty");
  if (!is_valid_utf8(head.origin) || has_unicode_space_or_control(head.origin))
    throw std::invalid_argument("tree head origin must be UTF-8 without white space or control characters");
  std::string out = head.origin + "\n" + std::to_string(head.size) + "\n" + base64_encode(head.root) + "\n";
  for (const auto& ext : head.extensions) {
    if (ext.empty()) throw std::invalid_argument("tree head extension lines must not be empty");
    if (const std::string p = text_problem(ext); !p.empty() || ext.find('\n') != std::string::npos)
      throw std::invalid_argument("tree head extension line must be one line of UTF-8 without control characters");
    out += ext;
    out += '\n';
  }
  return out;
}

TreeHead parse_tree_head(std::string_view body) {
  if (const std::string p = text_problem(body); !p.empty()) throw std::invalid_argument("tree head: " + p);
  if (body.empty() || body.back() != '\n') throw std::invalid_argument("tree head: does not end with a newline");
  const auto lines = split_lines(body);
  if (lines.size() < 3) throw std::invalid_argument("tree head: fewer than 3 lines (origin, size, root)");
  for (size_t i = 0; i < lines.size(); ++i)
    if (lines[i].empty()) throw std::invalid_argument("tree head: line " + std::to_string(i + 1) + " is empty");
  TreeHead head;
  if (has_unicode_space_or_control(lines[0]))
    throw std::invalid_argument("tree head: line 1 (origin) contains white space or a control character");
  head.origin = std::string(lines[0]);

  const std::string_view size = lines[1];
  if (size.size() > 20 || !std::all_of(size.begin(), size.end(), [](char c) { return c >= '0' && c <= '9'; }))
    throw std::invalid_argument("tree head: line 2 (size) is not a decimal number");
  if (size.size() > 1 && size[0] == '0') throw std::invalid_argument("tree head: line 2 (size) has a leading zero");
  uint64_t n = 0;
  for (const char c : size) {
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (n > (UINT64_MAX - d) / 10) throw std::invalid_argument("tree head: line 2 (size) overflows 64 bits");
    n = n * 10 + d;
  }
  head.size = n;

  const auto root = base64_decode(lines[2]);
  if (!root) throw std::invalid_argument("tree head: line 3 (root) is not canonical base64");
  if (root->size() != 32)
    throw std::invalid_argument("tree head: line 3 (root) is " + std::to_string(root->size()) + " bytes, not 32");
  std::copy(root->begin(), root->end(), head.root.begin());
  for (size_t i = 3; i < lines.size(); ++i) head.extensions.emplace_back(lines[i]);
  return head;
}

}  // namespace strata::audit
