// strata data prepare INPUT... --out PREFIX [--tokenizer SPEC] [--val-fraction F] [--seed S]
// strata tokenizer train INPUT... --vocab-size N --out DIR
#include <iostream>

#include "core/data/prepare.hpp"
#include "core/run/training_data.hpp"
#include "core/tokenizer/bpe_trainer.hpp"
#include "tools/strata/commands.hpp"

namespace strata::cli {

void add_data_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  struct Args {
    std::vector<std::string> inputs;
    std::string out, tokenizer = "byte";
    double val_fraction = 0.1;
    uint64_t seed = 1337;
    bool whole_files = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("data", "prepare training data");
  cmd->require_subcommand(1);
  CLI::App* prepare = cmd->add_subcommand("prepare", "tokenize text into PREFIX.train.tok and PREFIX.val.tok");
  prepare->add_option("inputs", args->inputs, "text files or folders (binary files are skipped)")->required();
  prepare->add_option("--out", args->out, "output prefix")->required();
  prepare->add_option("--tokenizer", args->tokenizer, "byte, or a folder with vocab.json and merges.txt")
      ->capture_default_str();
  prepare->add_option("--val-fraction", args->val_fraction, "share of documents for validation")
      ->check(CLI::Range(0.0, 0.99))->capture_default_str();
  prepare->add_option("--seed", args->seed, "selects the validation documents")->capture_default_str();
  prepare->add_flag("--whole-files", args->whole_files, "one document per file (default: split at blank lines)");
  prepare->callback([args, &global, &exit_code] {
    util::Logger logger = util::make_logger(global.level());
    try {
      const auto tok = run::load_tokenizer_spec(args->tokenizer);
      data::PrepareOptions options;
      options.seed = args->seed;
      options.split = args->whole_files ? data::DocumentSplit::whole_file : data::DocumentSplit::blank_lines;
      if (args->tokenizer != "byte") options.tokenizer_dir = args->tokenizer;
      options.progress = [&](uint64_t done, uint64_t total) {
        logger->info("tokenized {:.1f} of {:.1f} MB", static_cast<double>(done) / 1e6, static_cast<double>(total) / 1e6);
      };
      std::vector<std::filesystem::path> inputs(args->inputs.begin(), args->inputs.end());
      const auto s = data::prepare_dataset(inputs, *tok, args->out, args->val_fraction, options);
      std::cout << s.train.path.string() << ": " << s.train.tokens << " tokens, " << s.train.documents
                << " documents\n"
                << s.val.path.string() << ": " << s.val.tokens << " tokens, " << s.val.documents << " documents\n";
      exit_code = 0;
    } catch (const std::exception& e) {
      logger->error("{}", e.what());
      exit_code = 1;
    }
  });
}

void add_tokenizer_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  struct Args {
    std::vector<std::string> inputs;
    std::string out;
    int32_t vocab_size = 4096;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("tokenizer", "work with tokenizers");
  cmd->require_subcommand(1);
  CLI::App* train = cmd->add_subcommand("train", "learn a GPT-2 style byte-level BPE; writes vocab.json and merges.txt");
  train->add_option("inputs", args->inputs, "text files or folders")->required();
  train->add_option("--out", args->out, "output folder")->required();
  train->add_option("--vocab-size", args->vocab_size, "tokens, 257 to 65536")->check(CLI::Range(257, 65536))
      ->capture_default_str();
  train->callback([args, &global, &exit_code] {
    util::Logger logger = util::make_logger(global.level());
    try {
      std::vector<std::string> texts;
      std::vector<std::filesystem::path> inputs(args->inputs.begin(), args->inputs.end());
      for (const auto& f : data::collect_text_files(inputs)) texts.push_back(data::read_text_file(f));
      std::vector<std::string_view> views(texts.begin(), texts.end());
      int32_t last_reported = 0;
      const auto vocab = tokenizer::train_bpe(views, args->vocab_size, [&](const tokenizer::BpeTrainProgress& p) {
        if (p.vocab_size - last_reported >= 256 || p.vocab_size == p.target_vocab_size) {
          last_reported = p.vocab_size;
          logger->info("{}/{} tokens", p.vocab_size, p.target_vocab_size);
        }
      });
      std::filesystem::create_directories(args->out);
      tokenizer::save_bpe(args->out, vocab);
      std::cout << args->out << ": " << vocab.tokens.size() << " tokens, " << vocab.merges.size() << " merges\n";
      exit_code = 0;
    } catch (const std::exception& e) {
      logger->error("{}", e.what());
      exit_code = 1;
    }
  });
}

}  // namespace strata::cli
