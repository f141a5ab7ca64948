#include "core/data/prepare.hpp"

#include "core/tokenizer/bpe_trainer.hpp"
#include "core/util/sha256.hpp"
#include "tests/support/paths.hpp"

#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace strata::data {
namespace {

namespace fs = std::filesystem;

// A fresh temporary folder, removed at the end of the test.
using test::TempDir;

void spit(const fs::path& p, const std::string& bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A generated corpus: 3 folders x 4 files x 10 paragraphs, with varied blank-line runs,
// CRLF line ends in one file, plus a binary file and a hidden file that must be skipped.
// Returns the expected documents in processing (sorted path) order.
std::vector<std::string> make_corpus(const fs::path& root) {
  std::vector<std::string> docs;
  for (int d = 0; d < 3; ++d) {
    for (int f = 0; f < 4; ++f) {
      const bool crlf = d == 1 && f == 2;
      const std::string eol = crlf ? "\r\n" : "\n";
      std::string text = f == 0 ? eol : "";  // a leading blank line is no document
      for (int p = 0; p < 10; ++p) {
        std::string para = "folder " + std::to_string(d) + " file " + std::to_string(f) + " para " +
                           std::to_string(p) + eol + "second line " + std::to_string(p * 7 % 5);
        text += para + eol + (p % 3 == 0 ? eol + "  \t" + eol : eol);
        docs.push_back(para);
      }
      spit(root / ("dir" + std::to_string(d)) / ("f" + std::to_string(f) + ".txt"), text);
    }
  }
  spit(root / "dir1" / "image.bin", std::string("PNG\0\x01\x02 not text", 16));
  spit(root / "dir2" / ".hidden.txt", "hidden text\n");
  return docs;
}

TEST(SplitDocuments, BlankLinesSeparateDocuments) {
  EXPECT_EQ(split_documents("a\nb\n\n\n  \nc\n", DocumentSplit::blank_lines),
            (std::vector<std::string>{"a\nb", "c"}));
  EXPECT_EQ(split_documents("a\r\nb\r\n\r\nc", DocumentSplit::blank_lines),
            (std::vector<std::string>{"a\r\nb", "c"}));
  EXPECT_EQ(split_documents("\n \n\t\n", DocumentSplit::blank_lines), std::vector<std::string>{});
  EXPECT_EQ(split_documents("", DocumentSplit::blank_lines), std::vector<std::string>{});
  EXPECT_EQ(split_documents("  indented\n", DocumentSplit::blank_lines), std::vector<std::string>{"  indented"});
}

TEST(SplitDocuments, WholeFileKeepsInnerBlankLines) {
  EXPECT_EQ(split_documents("a\n\nb\r\n\n", DocumentSplit::whole_file), std::vector<std::string>{"a\n\nb"});
  EXPECT_EQ(split_documents(" \n\n", DocumentSplit::whole_file), std::vector<std::string>{});
}

TEST(ValidationSplit, IsDeterministicAndNearTheFraction) {
  int val = 0;
  for (uint64_t i = 0; i < 10000; ++i) {
    const bool v = is_validation_document(7, i, 0.1);
    EXPECT_EQ(v, is_validation_document(7, i, 0.1));
    val += v;
  }
  EXPECT_GT(val, 850);
  EXPECT_LT(val, 1150);
  EXPECT_FALSE(is_validation_document(7, 3, 0.0));
}

TEST(PrepareDataset, ByteTokenizerCorpus) {
  TempDir dir;
  const std::vector<std::string> docs = make_corpus(dir.path() / "corpus");
  ASSERT_EQ(docs.size(), 120u);
  std::vector<std::pair<uint64_t, uint64_t>> progress;
  PrepareOptions options;
  options.seed = 11;
  options.progress = [&](uint64_t done, uint64_t total) { progress.emplace_back(done, total); };
  const PrepareSummary s = prepare_dataset({dir.path() / "corpus"}, "byte", dir.path() / "out" / "c", 0.2, options);

  ASSERT_EQ(s.skipped_binary.size(), 1u);
  EXPECT_EQ(s.skipped_binary[0].filename(), "image.bin");
  ASSERT_EQ(s.sources.size(), 12u);  // no .hidden.txt, no image.bin
  EXPECT_EQ(fs::path(s.sources[0].path).filename(), "f0.txt");
  EXPECT_EQ(s.train.documents + s.val.documents, docs.size());
  EXPECT_GT(s.val.documents, 0u);
  EXPECT_EQ(s.train.path, (dir.path() / "out" / "c").string() + ".train.tok");
  EXPECT_EQ(s.train.sha256, util::sha256_file_hex(s.train.path));

  // Progress: starts at 0, never decreases, ends at the total (image.bin included).
  ASSERT_GE(progress.size(), 2u);
  EXPECT_EQ(progress.front().first, 0u);
  for (size_t i = 1; i < progress.size(); ++i) EXPECT_GE(progress[i].first, progress[i - 1].first);
  EXPECT_EQ(progress.back().first, progress.back().second);

  // Every document lands, whole and in order, in the split its index hashes to; the
  // validation documents are spread over the corpus rather than taken from its end.
  const TokenFile train = TokenFile::open(s.train.path), val = TokenFile::open(s.val.path);
  auto tok = tokenizer::load_tokenizer("byte");
  uint64_t next_train = 0, next_val = 0, bytes = 0;
  std::vector<size_t> val_indices;
  for (size_t i = 0; i < docs.size(); ++i) {
    const bool is_val = is_validation_document(11, i, 0.2);
    const TokenFile& f = is_val ? val : train;
    const std::string text = tok->decode(f.document_tokens(is_val ? next_val++ : next_train++));
    EXPECT_EQ(text, docs[i] + "\n\n") << "document " << i;
    if (is_val) val_indices.push_back(i);
    bytes += text.size();
  }
  EXPECT_EQ(next_val, val.document_count());
  EXPECT_EQ(next_train, train.document_count());
  EXPECT_EQ(train.token_count() + val.token_count(), bytes);
  EXPECT_LT(val_indices.front(), docs.size() / 4);
  EXPECT_GT(val_indices.back(), docs.size() * 3 / 4);

  // Provenance in both files.
  EXPECT_EQ(train.metadata().tokenizer_name, "byte");
  EXPECT_EQ(train.metadata().tokenizer_vocab_size, 256);
  EXPECT_EQ(train.metadata().sources.size(), 12u);
  EXPECT_EQ(train.metadata().extra.at("split"), "train");
  EXPECT_EQ(val.metadata().extra.at("split"), "val");
  EXPECT_EQ(val.metadata().extra.at("seed"), 11);
}

// Tools that must see prepare's documents (the BPE trainer learns from the training split
// only) rebuild them from the public pieces; this pins that they agree.
TEST(PrepareDataset, PublicPiecesReproduceTheSplit) {
  TempDir dir;
  make_corpus(dir.path() / "corpus");
  const auto s = prepare_dataset({dir.path() / "corpus"}, "byte", dir.path() / "p", 0.3);
  const auto files = collect_text_files({dir.path() / "corpus"});
  ASSERT_EQ(files.size(), s.sources.size());
  for (size_t i = 0; i < files.size(); ++i) EXPECT_EQ(files[i].string(), s.sources[i].path);
  std::string train_text;
  uint64_t index = 0;
  for (const auto& f : files)
    for (const auto& doc : split_documents(read_text_file(f), DocumentSplit::blank_lines))
      if (!is_validation_document(0, index++, 0.3)) train_text += doc + "\n\n";
  const TokenFile train = TokenFile::open(s.train.path);
  std::vector<int32_t> ids(train.token_count());
  train.copy_tokens(0, ids.size(), ids.data());
  EXPECT_EQ(tokenizer::load_tokenizer("byte")->decode(ids), train_text);
  EXPECT_THROW(read_text_file(dir.path() / "missing.txt"), std::runtime_error);
}

TEST(PrepareDataset, IsDeterministic) {
  TempDir dir;
  make_corpus(dir.path() / "corpus");
  const auto a = prepare_dataset({dir.path() / "corpus"}, "byte", dir.path() / "a", 0.25);
  const auto b = prepare_dataset({dir.path() / "corpus"}, "byte", dir.path() / "b", 0.25);
  EXPECT_EQ(a.train.sha256, b.train.sha256);
  EXPECT_EQ(a.val.sha256, b.val.sha256);
  PrepareOptions other_seed;
  other_seed.seed = 99;
  const auto c = prepare_dataset({dir.path() / "corpus"}, "byte", dir.path() / "c", 0.25, other_seed);
  EXPECT_NE(a.val.sha256, c.val.sha256);
  EXPECT_EQ(a.train.tokens + a.val.tokens, c.train.tokens + c.val.tokens);
}

TEST(PrepareDataset, WholeFileDocumentsAndExplicitFiles) {
  TempDir dir;
  make_corpus(dir.path() / "corpus");
  PrepareOptions options;
  options.split = DocumentSplit::whole_file;
  const fs::path one = dir.path() / "corpus" / "dir0" / "f1.txt";
  const fs::path hidden = dir.path() / "corpus" / "dir2" / ".hidden.txt";
  const auto s = prepare_dataset({one, hidden, dir.path() / "corpus" / "dir2"}, "byte", dir.path() / "w", 0.0, options);
  EXPECT_EQ(s.train.documents, 6u);  // named files (hidden one too) + the folder's 4 files
  EXPECT_EQ(s.val.documents, 0u);
  const TokenFile val = TokenFile::open(s.val.path);  // an empty split is still a valid file
  EXPECT_EQ(val.token_count(), 0u);
}

TEST(PrepareDataset, BpeTokenizerRecordsItsFiles) {
  TempDir dir;
  const std::vector<std::string> docs = make_corpus(dir.path() / "corpus");
  std::string all;
  for (const auto& d : docs) all += d + "\n\n";
  tokenizer::save_bpe(dir.path() / "tok", tokenizer::train_bpe(all, 300));
  const auto s = prepare_dataset({dir.path() / "corpus"}, dir.path() / "tok", dir.path() / "bpe", 0.1);
  const TokenFile train = TokenFile::open(s.train.path);
  const auto tok = tokenizer::load_tokenizer(dir.path() / "tok");
  EXPECT_GT(train.metadata().tokenizer_vocab_size, 256);  // the corpus runs out of pairs before 300
  EXPECT_EQ(train.metadata().tokenizer_vocab_size, tok->vocab_size());
  EXPECT_EQ(train.metadata().tokenizer_files.at("merges.txt"), util::sha256_file_hex(dir.path() / "tok" / "merges.txt"));
  EXPECT_EQ(train.metadata().tokenizer_files.at("vocab.json"), util::sha256_file_hex(dir.path() / "tok" / "vocab.json"));
  EXPECT_LT(s.train.tokens + s.val.tokens, s.bytes);  // merges compress the text
  for (uint64_t d = 0; d < train.document_count(); ++d)
    EXPECT_TRUE(tok->decode(train.document_tokens(d)).ends_with("\n\n"));
}

TEST(PrepareDataset, MaxBytesTakesWholeDocumentsUpToTheLimit) {
  TempDir dir;
  const std::vector<std::string> docs = make_corpus(dir.path() / "corpus");
  PrepareOptions options;
  options.max_bytes = docs[0].size() + docs[1].size() + 1;  // reached inside the third document
  std::vector<uint64_t> done;
  options.progress = [&](uint64_t d, uint64_t total) { done.push_back(total - d); };
  const auto s = prepare_dataset({dir.path() / "corpus"}, "byte", dir.path() / "m", 0.0, options);
  EXPECT_TRUE(s.truncated);
  EXPECT_EQ(s.train.documents, 3u);
  EXPECT_EQ(s.sources.size(), 1u);  // no later file was read
  EXPECT_EQ(done.back(), 0u);       // progress still finishes
  const TokenFile train = TokenFile::open(s.train.path);
  EXPECT_EQ(train.metadata().extra.at("max_bytes"), options.max_bytes);

  options.max_bytes = 0;
  EXPECT_FALSE(prepare_dataset({dir.path() / "corpus"}, "byte", dir.path() / "n", 0.0, options).truncated);
}

TEST(PrepareDataset, Errors) {
  TempDir dir;
  make_corpus(dir.path() / "corpus");
  const auto corpus = std::vector<fs::path>{dir.path() / "corpus"};
  EXPECT_THROW(prepare_dataset(corpus, "byte", dir.path() / "o", 1.0), std::invalid_argument);
  EXPECT_THROW(prepare_dataset(corpus, "byte", dir.path() / "o", -0.1), std::invalid_argument);
  EXPECT_THROW(prepare_dataset({}, "byte", dir.path() / "o", 0.1), std::invalid_argument);
  try {
    prepare_dataset({dir.path() / "nope"}, "byte", dir.path() / "o", 0.1);
    FAIL() << "expected std::runtime_error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("nope: no such file or folder"), std::string::npos) << e.what();
  }
  EXPECT_THROW(prepare_dataset({dir.path() / "corpus" / "dir1" / "image.bin"}, "byte", dir.path() / "o", 0.1),
               std::runtime_error);
  spit(dir.path() / "blank.txt", "\n\n  \n");
  EXPECT_THROW(prepare_dataset({dir.path() / "blank.txt"}, "byte", dir.path() / "o", 0.1), std::runtime_error);
  EXPECT_FALSE(fs::exists(dir.path() / "o.train.tok"));
}

}  // namespace
}  // namespace strata::data
