// The data a run trains on: the tokenizer (byte, a learned BPE, or a folder), and the
// train/validation token files, either prepared earlier (`strata data prepare`) or made
// from text at the start of the run, into <run>/data/.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/data/token_file.hpp"
#include "core/tokenizer/tokenizer.hpp"
#include "core/util/log.hpp"

namespace strata::run {

struct TrainingData {
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;
  std::string tokenizer_spec;        // "byte" or a folder with vocab.json + merges.txt
  data::TokenFile train;
  data::TokenFile val;
  std::vector<uint32_t> token_bytes;  // bytes each token id decodes to, for bits per byte
  nlohmann::json provenance;          // token files, sources and tokenizer with their SHA-256
};

// data_config: the resolved "/data" object. known_sha256: digests already computed (by the
// dataset gate) keyed by path, so prepared token files are not hashed a second time.
// Throws std::runtime_error naming what is wrong.
TrainingData open_training_data(const nlohmann::json& data_config, const std::filesystem::path& run_dir,
                                uint64_t seed, const util::Logger& logger,
                                const std::map<std::string, std::string>& known_sha256 = {});

// Loads a tokenizer spec: "byte", or a folder with vocab.json and merges.txt.
std::unique_ptr<tokenizer::Tokenizer> load_tokenizer_spec(const std::string& spec);

}  // namespace strata::run
