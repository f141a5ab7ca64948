// The safetensors file format (8-byte little-endian header length, a JSON header mapping
// tensor names to dtype, shape and byte offsets, then the raw data), written and read with
// full validation so a truncated or corrupted file is refused with a clear message.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace strata::checkpoint {

struct Tensor {
  std::string dtype;            // "F32", "F64", "U8", "I32", ...
  std::vector<int64_t> shape;
  std::string bytes;            // little-endian raw data
};

using TensorMap = std::map<std::string, Tensor>;  // sorted: the file layout is deterministic

// The file's bytes (the caller writes them atomically).
std::string encode_safetensors(const TensorMap& tensors, const std::map<std::string, std::string>& metadata = {});
// Throws std::runtime_error "<path>: <what is wrong>".
TensorMap read_safetensors(const std::filesystem::path& path, std::map<std::string, std::string>* metadata = nullptr);
// The same, for a file already in memory; `name` appears in the messages.
TensorMap parse_safetensors(const std::string& file, const std::string& name,
                            std::map<std::string, std::string>* metadata = nullptr);

}  // namespace strata::checkpoint
