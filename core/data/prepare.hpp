// Turns folders of text into a pair of token files (<out>.train.tok, <out>.val.tok): split
// into documents, tokenize each document on its own, and send whole documents to the
// validation split by a hash of their index, so both splits sample the whole corpus.
#pragma once

#include "core/data/token_file.hpp"
#include "core/tokenizer/tokenizer.hpp"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace strata::data {

enum class DocumentSplit {
  blank_lines,  // a run of blank (whitespace-only) lines ends a document
  whole_file,   // each input file is one document
};

// Called after each input file with (bytes read so far, bytes of all input files).
using PrepareProgressFn = std::function<void(uint64_t bytes_done, uint64_t bytes_total)>;

struct PrepareOptions {
  DocumentSplit split = DocumentSplit::blank_lines;
  uint64_t seed = 0;  // selects which documents go to validation
  // A tokenizer directory (vocab.json + merges.txt) whose files' digests are recorded in the
  // metadata; empty for the byte tokenizer or when unknown.
  std::filesystem::path tokenizer_dir;
  // Stop once documents holding this many bytes of text have been taken (0 = no limit), for
  // quick runs on a slice of a big corpus. Documents are never cut: the one that reaches the
  // limit is kept whole, and no later file is read.
  uint64_t max_bytes = 0;
  PrepareProgressFn progress;
};

struct SplitSummary {
  std::filesystem::path path;
  uint64_t tokens = 0;
  uint64_t documents = 0;
  std::string sha256;  // of the whole written file
};

struct PrepareSummary {
  SplitSummary train;
  SplitSummary val;
  uint64_t bytes = 0;                               // bytes of the text files read
  bool truncated = false;                           // max_bytes stopped it early
  std::vector<SourceFile> sources;                  // the text files, in processing order
  std::vector<std::filesystem::path> skipped_binary;  // files holding a NUL byte
};

// The separator appended to every document's text before it is encoded. No special token is
// used: the boundary lives in the document offsets, and the text stays plain text.
inline constexpr std::string_view kDocumentSeparator = "\n\n";

// inputs: files and folders (walked recursively, in sorted path order so the result does not
// depend on directory listing order). val_fraction in [0, 1). Writes out + ".train.tok" and
// out + ".val.tok". Throws std::invalid_argument for bad arguments and std::runtime_error
// (naming the file) for unreadable inputs, a corpus without text, or write failures.
PrepareSummary prepare_dataset(const std::vector<std::filesystem::path>& inputs,
                               const tokenizer::Tokenizer& tokenizer, const std::filesystem::path& out,
                               double val_fraction, const PrepareOptions& options = {});

// Convenience: loads the tokenizer from a spec ("byte" or a directory) and records its files.
PrepareSummary prepare_dataset(const std::vector<std::filesystem::path>& inputs,
                               const std::filesystem::path& tokenizer_spec, const std::filesystem::path& out,
                               double val_fraction, PrepareOptions options = {});

// The text files prepare_dataset tokenizes, in the order it tokenizes them: folders walked
// recursively in sorted order, hidden entries inside folders left out, files holding a NUL
// byte left out (each file is scanned once for that). Lets tools (tokenizer training) see
// exactly the documents, and document indices, that prepare_dataset sees.
std::vector<std::filesystem::path> collect_text_files(const std::vector<std::filesystem::path>& inputs);

// The whole file as bytes. Throws std::runtime_error naming the file when it cannot be read.
std::string read_text_file(const std::filesystem::path& path);

// Whether global document `index` belongs to the validation split (exposed for tests/tools).
bool is_validation_document(uint64_t seed, uint64_t index, double val_fraction);

// Splits text into documents per DocumentSplit (exposed for tests). Documents keep their
// inner text byte-for-byte; blank lines and trailing line breaks around them are dropped.
std::vector<std::string> split_documents(std::string_view text, DocumentSplit split);

}  // namespace strata::data
