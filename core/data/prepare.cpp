#include "core/data/prepare.hpp"

#include "core/util/sha256.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <system_error>

namespace strata::data {
namespace {

namespace fs = std::filesystem;

// Domain tag so the split hash never coincides with the loader's hashes for the same seed.
constexpr uint64_t kSplitDomain = 1;

bool is_blank(std::string_view line) {
  return line.find_first_not_of(" \t\r\f\v") == std::string_view::npos;
}

// Folders are walked in sorted order (directory listing order differs between file systems)
// and hidden entries (.git, .DS_Store, ...) are left out; files named explicitly are kept.
std::vector<fs::path> collect_files(const std::vector<fs::path>& inputs) {
  std::vector<fs::path> files;
  for (const fs::path& input : inputs) {
    std::error_code ec;
    if (fs::is_directory(input, ec)) {
      std::vector<fs::path> found;
      for (auto it = fs::recursive_directory_iterator(input, ec); !ec && it != fs::recursive_directory_iterator();
           it.increment(ec)) {
        if (it->path().filename().string().starts_with(".")) {
          if (it->is_directory(ec)) it.disable_recursion_pending();
          continue;
        }
        if (it->is_regular_file(ec)) found.push_back(it->path());
      }
      if (ec) throw std::runtime_error(input.string() + ": cannot list folder: " + ec.message());
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(input, ec)) {
      files.push_back(input);
    } else {
      throw std::runtime_error(input.string() + ": no such file or folder");
    }
  }
  return files;
}

const char* split_name(DocumentSplit split) {
  return split == DocumentSplit::blank_lines ? "blank_lines" : "whole_file";
}

bool holds_nul(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path.string() + ": cannot open: " + std::strerror(errno));
  std::vector<char> buffer(1 << 16);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    if (std::memchr(buffer.data(), '\0', static_cast<size_t>(in.gcount())) != nullptr) return true;
  }
  if (in.bad()) throw std::runtime_error(path.string() + ": read error");
  return false;
}

}  // namespace

std::string read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path.string() + ": cannot open: " + std::strerror(errno));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw std::runtime_error(path.string() + ": read error");
  return text;
}

std::vector<fs::path> collect_text_files(const std::vector<fs::path>& inputs) {
  std::vector<fs::path> text;
  for (fs::path& f : collect_files(inputs))
    if (!holds_nul(f)) text.push_back(std::move(f));
  return text;
}

bool is_validation_document(uint64_t seed, uint64_t index, double val_fraction) {
  if (!(val_fraction > 0)) return false;
  // Compare the hash against val_fraction * 2^64: an independent, seed-keyed coin per
  // document, so validation documents are spread over the whole corpus without aliasing
  // with any periodic structure (e.g. every file opening with a title paragraph).
  if (val_fraction >= 1) return true;
  const auto threshold = static_cast<uint64_t>(std::ldexp(val_fraction, 64));  // < 2^64 as f < 1
  return counter_hash(seed, kSplitDomain, index) < threshold;
}

std::vector<std::string> split_documents(std::string_view text, DocumentSplit split) {
  std::vector<std::string> docs;
  if (split == DocumentSplit::whole_file) {
    if (text.find_first_not_of(" \t\r\n\f\v") == std::string_view::npos) return docs;
    const size_t end = text.find_last_not_of("\r\n");
    docs.emplace_back(text.substr(0, end + 1));
    return docs;
  }
  size_t doc_begin = std::string_view::npos;  // start of the current paragraph
  size_t doc_end = 0;                         // end of its last non-blank line
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    const std::string_view line = text.substr(pos, eol - pos);
    if (is_blank(line)) {
      if (doc_begin != std::string_view::npos) docs.emplace_back(text.substr(doc_begin, doc_end - doc_begin));
      doc_begin = std::string_view::npos;
    } else {
      if (doc_begin == std::string_view::npos) doc_begin = pos;
      // A CRLF file's '\r' is a line break, not document text.
      doc_end = line.ends_with('\r') ? eol - 1 : eol;
    }
    pos = eol + 1;
  }
  if (doc_begin != std::string_view::npos) docs.emplace_back(text.substr(doc_begin, doc_end - doc_begin));
  return docs;
}

PrepareSummary prepare_dataset(const std::vector<fs::path>& inputs, const tokenizer::Tokenizer& tokenizer,
                               const fs::path& out, double val_fraction, const PrepareOptions& options) {
  if (!(val_fraction >= 0 && val_fraction < 1))
    throw std::invalid_argument("val_fraction must be in [0, 1), got " + std::to_string(val_fraction));
  if (inputs.empty()) throw std::invalid_argument("prepare_dataset: no inputs");
  if (out.filename().empty()) throw std::invalid_argument("prepare_dataset: output path " + out.string() + " has no file name");

  TokenFileMetadata base;
  base.tokenizer_name = tokenizer.name();
  base.tokenizer_vocab_size = tokenizer.vocab_size();
  if (!options.tokenizer_dir.empty())
    for (const char* name : {"vocab.json", "merges.txt"})
      base.tokenizer_files[name] = util::sha256_file_hex(options.tokenizer_dir / name);
  base.extra = {{"document_split", split_name(options.split)},
                {"separator", std::string(kDocumentSeparator)},
                {"val_fraction", val_fraction},
                {"seed", options.seed},
                {"max_bytes", options.max_bytes}};
  TokenFileMetadata train_meta = base, val_meta = base;
  train_meta.extra["split"] = "train";
  val_meta.extra["split"] = "val";
  TokenFileWriter train(std::move(train_meta)), val(std::move(val_meta));

  const std::vector<fs::path> files = collect_files(inputs);
  uint64_t total = 0;
  for (const fs::path& f : files) {
    std::error_code ec;
    const auto n = fs::file_size(f, ec);
    if (!ec) total += n;
  }

  PrepareSummary summary;
  uint64_t done = 0;
  uint64_t doc_index = 0;  // global, in processing order: what the split hash is keyed on
  uint64_t doc_bytes = 0;  // document text taken so far, for max_bytes
  if (options.progress) options.progress(0, total);
  auto limit_reached = [&] { return options.max_bytes > 0 && doc_bytes >= options.max_bytes; };
  for (const fs::path& f : files) {
    if (limit_reached()) {
      summary.truncated = true;
      break;
    }
    const std::string text = read_text_file(f);  // one read: the NUL check is done on it below
    done += text.size();
    if (text.find('\0') != std::string::npos) {
      summary.skipped_binary.push_back(f);
    } else {
      SourceFile source{f.string(), util::sha256_hex(text), text.size()};
      train.add_source(source);
      val.add_source(source);
      summary.sources.push_back(std::move(source));
      summary.bytes += text.size();
      for (std::string& doc : split_documents(text, options.split)) {
        if (limit_reached()) {
          summary.truncated = true;
          break;
        }
        doc_bytes += doc.size();
        doc += kDocumentSeparator;
        const std::vector<int32_t> ids = tokenizer.encode(doc);
        (is_validation_document(options.seed, doc_index++, val_fraction) ? val : train).add_document(ids);
      }
    }
    // Files may grow between the size scan and the read; never report done > total.
    if (options.progress) options.progress(summary.truncated ? total : std::min(done, total), total);
  }
  if (summary.sources.empty()) throw std::runtime_error("prepare_dataset: no text files found in the inputs");
  if (doc_index == 0) throw std::runtime_error("prepare_dataset: the text files hold no documents (only blank lines)");
  if (train.document_count() == 0)
    throw std::runtime_error("prepare_dataset: all " + std::to_string(doc_index) +
                             " documents went to validation; lower val_fraction or add text");

  const fs::path parent = out.parent_path();
  if (!parent.empty()) fs::create_directories(parent);
  summary.train.path = out.string() + ".train.tok";
  summary.val.path = out.string() + ".val.tok";
  summary.train.sha256 = train.write(summary.train.path);
  summary.val.sha256 = val.write(summary.val.path);
  summary.train.tokens = train.token_count();
  summary.train.documents = train.document_count();
  summary.val.tokens = val.token_count();
  summary.val.documents = val.document_count();
  return summary;
}

PrepareSummary prepare_dataset(const std::vector<fs::path>& inputs, const fs::path& tokenizer_spec,
                               const fs::path& out, double val_fraction, PrepareOptions options) {
  const auto tok = tokenizer::load_tokenizer(tokenizer_spec);
  if (tokenizer_spec != "byte" && options.tokenizer_dir.empty()) options.tokenizer_dir = tokenizer_spec;
  return prepare_dataset(inputs, *tok, out, val_fraction, options);
}

}  // namespace strata::data
