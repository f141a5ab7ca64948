// A checkpoint is a directory of safetensors files plus manifest.json listing each file's
// SHA-256. It is written under a temporary name and renamed into place, so a crash leaves
// either no checkpoint or a whole one; verify_checkpoint refuses anything that does not
// match its manifest.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "core/checkpoint/safetensors.hpp"

namespace strata::checkpoint {

struct CheckpointContents {
  std::map<std::string, TensorMap> files;  // "model.safetensors" -> tensors
  std::map<std::string, std::string> raw_files;  // other files kept verbatim ("tokenizer/vocab.json")
  nlohmann::json info;                     // step, config digest, ... (stored in the manifest)
};

// Writes <parent>/<name>/ atomically; returns the manifest's SHA-256.
std::string write_checkpoint(const std::filesystem::path& parent, const std::string& name,
                             const CheckpointContents& contents);
// Throws std::runtime_error naming the file that is missing, truncated or altered.
CheckpointContents read_checkpoint(const std::filesystem::path& dir);

}  // namespace strata::checkpoint
