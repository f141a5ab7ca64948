#include "core/run/training_data.hpp"

#include <stdexcept>

#include "core/data/prepare.hpp"
#include "core/tokenizer/bpe_trainer.hpp"
#include "core/util/sha256.hpp"

namespace strata::run {
namespace {

namespace fs = std::filesystem;

// "bpe:N" -> N, or 0 when the spec is not of that form.
int32_t learned_bpe_size(const std::string& spec) {
  if (spec.rfind("bpe:", 0) != 0) return 0;
  try {
    const int n = std::stoi(spec.substr(4));
    if (n < 257 || n > 65536) throw std::out_of_range("size");
    return n;
  } catch (const std::exception&) {
    throw std::runtime_error("/data/tokenizer: \"" + spec + "\": expected bpe:N with 257 <= N <= 65536");
  }
}

// Learns a BPE from the training documents only (the same split prepare_dataset makes), so
// the validation text never shapes the tokenizer that is scored on it.
fs::path learn_bpe(const std::vector<fs::path>& inputs, int32_t vocab_size, double val_fraction, uint64_t seed,
                   uint64_t max_bytes, const fs::path& dir, const util::Logger& logger) {
  std::vector<std::string> documents;
  uint64_t bytes = 0;
  uint64_t index = 0;
  for (const auto& file : data::collect_text_files(inputs)) {
    for (auto& doc : data::split_documents(data::read_text_file(file), data::DocumentSplit::blank_lines)) {
      if (!data::is_validation_document(seed, index++, val_fraction)) {
        bytes += doc.size();
        documents.push_back(std::move(doc));
      }
    }
    if (max_bytes > 0 && bytes >= max_bytes) break;
  }
  std::vector<std::string_view> views(documents.begin(), documents.end());
  logger->info("learning a {}-token BPE from {} training documents ({} bytes)", vocab_size, documents.size(), bytes);
  const auto vocab = tokenizer::train_bpe(views, vocab_size);
  fs::create_directories(dir);
  tokenizer::save_bpe(dir, vocab);
  return dir;
}

}  // namespace

std::unique_ptr<tokenizer::Tokenizer> load_tokenizer_spec(const std::string& spec) {
  return tokenizer::load_tokenizer(spec);
}

TrainingData open_training_data(const nlohmann::json& cfg, const fs::path& run_dir, uint64_t seed,
                                const util::Logger& logger, const std::map<std::string, std::string>& known_sha256) {
  const auto digest = [&](const fs::path& p) {
    const auto it = known_sha256.find(p.string());
    return it != known_sha256.end() ? it->second : util::sha256_file_hex(p);
  };
  TrainingData out;
  fs::path prefix;
  const double val_fraction = cfg["val_fraction"].get<double>();
  if (cfg.contains("prepared")) {
    prefix = cfg["prepared"].get<std::string>();
    out.tokenizer_spec = cfg["tokenizer"].get<std::string>();
    if (learned_bpe_size(out.tokenizer_spec) > 0)
      throw std::runtime_error("/data/tokenizer: with /data/prepared, name the tokenizer the files were made with "
                               "(\"byte\" or its folder), not " + out.tokenizer_spec);
  } else {
    std::vector<fs::path> inputs;
    for (const auto& t : cfg["text"]) inputs.emplace_back(t.get<std::string>());
    out.tokenizer_spec = cfg["tokenizer"].get<std::string>();
    if (const int32_t n = learned_bpe_size(out.tokenizer_spec); n > 0)
      out.tokenizer_spec = learn_bpe(inputs, n, val_fraction, seed, cfg["max_bytes"].get<uint64_t>(),
                                     run_dir / "tokenizer", logger).string();
    out.tokenizer = load_tokenizer_spec(out.tokenizer_spec);
    prefix = run_dir / "data" / "corpus";
    fs::create_directories(prefix.parent_path());
    data::PrepareOptions options;
    options.seed = seed;
    options.max_bytes = cfg["max_bytes"].get<uint64_t>();
    if (out.tokenizer_spec != "byte") options.tokenizer_dir = out.tokenizer_spec;
    const auto summary = data::prepare_dataset(inputs, *out.tokenizer, prefix, val_fraction, options);
    logger->info("data: {} bytes of text from {} files -> {} train / {} validation tokens ({} tokenizer)",
                 summary.bytes, summary.sources.size(), summary.train.tokens, summary.val.tokens,
                 out.tokenizer->name());
  }
  if (!out.tokenizer) out.tokenizer = load_tokenizer_spec(out.tokenizer_spec);
  out.train = data::TokenFile::open(fs::path(prefix.string() + ".train.tok"));
  out.val = data::TokenFile::open(fs::path(prefix.string() + ".val.tok"));
  // Token files record the tokenizer they were made with: a different one would train on
  // ids that mean something else (or lie outside the vocabulary).
  for (const data::TokenFile* f : {&out.train, &out.val}) {
    const int64_t made_with = f->metadata().tokenizer_vocab_size;
    if (made_with != out.tokenizer->vocab_size())
      throw std::runtime_error(f->path().string() + " was made with a " + std::to_string(made_with) +
                               "-token tokenizer, but /data/tokenizer (" + out.tokenizer_spec + ") has " +
                               std::to_string(out.tokenizer->vocab_size()) + " tokens");
  }
  const int32_t vocab = out.tokenizer->vocab_size();
  out.token_bytes.resize(static_cast<size_t>(vocab));
  for (int32_t id = 0; id < vocab; ++id) out.token_bytes[id] = static_cast<uint32_t>(out.tokenizer->decode(std::span(&id, 1)).size());
  out.provenance = {{"tokenizer", {{"spec", out.tokenizer_spec}, {"name", out.tokenizer->name()}, {"vocab_size", vocab}}},
                    {"train", {{"path", out.train.path().string()}, {"tokens", out.train.token_count()},
                               {"sha256", digest(out.train.path())}}},
                    {"val", {{"path", out.val.path().string()}, {"tokens", out.val.token_count()},
                             {"sha256", digest(out.val.path())}}}};
  if (out.tokenizer_spec != "byte")
    for (const char* f : {"vocab.json", "merges.txt"})
      out.provenance["tokenizer"][f] = util::sha256_file_hex(fs::path(out.tokenizer_spec) / f);
  return out;
}

}  // namespace strata::run
