// strata sample CHECKPOINT [--prompt TEXT] [--tokens N] [--temperature T] [--top-k K] [--seed S]
#include <filesystem>
#include <iostream>

#include "core/checkpoint/checkpoint_dir.hpp"
#include "core/engine/generate.hpp"
#include "core/run/train_state.hpp"
#include "core/run/training_data.hpp"
#include "tools/strata/commands.hpp"

namespace strata::cli {
namespace {

namespace fs = std::filesystem;

template <class T>
std::string sample_from(const checkpoint::CheckpointContents& contents, const tokenizer::Tokenizer& tok,
                        const std::string& prompt, int64_t n, const engine::SamplingOptions& options) {
  const auto m = run::checkpoint_model_config(contents);
  engine::GptConfig cfg;
  cfg.vocab_size = m.at("vocab_size");
  cfg.context = m.at("context");
  cfg.layers = m.at("layers");
  cfg.heads = m.at("heads");
  cfg.width = m.at("width");
  engine::GptModel<T> model(cfg, 1, cfg.context);
  run::load_model_weights(contents, model);
  return engine::generate(model, tok, prompt, n, options);
}

}  // namespace

void add_sample_command(CLI::App& app, const GlobalOptions& global, int& exit_code) {
  struct Args {
    std::string checkpoint, prompt = "The ";
    int64_t tokens = 200, top_k = 40;
    double temperature = 0.8;
    uint64_t seed = 1337;  // the config's default seed, so a run's sample can be reproduced
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = app.add_subcommand("sample", "generate text from a checkpoint");
  cmd->add_option("checkpoint", args->checkpoint, "checkpoint directory (e.g. runs/X/checkpoints/step_600)")->required();
  cmd->add_option("--prompt", args->prompt, "text to continue")->capture_default_str();
  cmd->add_option("--tokens", args->tokens, "tokens to generate")->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--temperature", args->temperature, "> 0; lower is more conservative")
      ->check(CLI::PositiveNumber)->capture_default_str();
  cmd->add_option("--top-k", args->top_k, "keep the k most likely tokens (0 = all)")
      ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_option("--seed", args->seed, "random seed")->capture_default_str();
  cmd->callback([args, &global, &exit_code] {
    util::Logger logger = util::make_logger(global.level());
    try {
      if (args->prompt.empty()) throw std::invalid_argument("--prompt must not be empty");
      const fs::path dir = args->checkpoint;
      const auto contents = checkpoint::read_checkpoint(dir);
      const std::string spec = contents.info.value("tokenizer", "byte") == "byte" ? "byte" : (dir / "tokenizer").string();
      const auto tok = run::load_tokenizer_spec(spec);
      const engine::SamplingOptions options{args->temperature, args->top_k, args->seed};
      const bool fp64 = run::checkpoint_model_config(contents).value("dtype", "fp32") == "fp64";
      std::cout << (fp64 ? sample_from<double>(contents, *tok, args->prompt, args->tokens, options)
                         : sample_from<float>(contents, *tok, args->prompt, args->tokens, options))
                << "\n";
      exit_code = 0;
    } catch (const std::exception& e) {
      logger->error("{}", e.what());
      exit_code = 1;
    }
  });
}

}  // namespace strata::cli
