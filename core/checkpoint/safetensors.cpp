#include "core/checkpoint/safetensors.hpp"

#include <nlohmann/json.hpp>

#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace strata::checkpoint {
namespace {

int64_t dtype_bytes(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64") return 8;
  if (dtype == "F32" || dtype == "I32") return 4;
  if (dtype == "BF16" || dtype == "F16") return 2;
  if (dtype == "U8") return 1;
  return 0;
}

int64_t element_count(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

}  // namespace

std::string encode_safetensors(const TensorMap& tensors, const std::map<std::string, std::string>& metadata) {
  nlohmann::json header = nlohmann::json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (dtype_bytes(t.dtype) == 0) throw std::invalid_argument("tensor " + name + ": unsupported dtype " + t.dtype);
    if (static_cast<uint64_t>(element_count(t.shape) * dtype_bytes(t.dtype)) != t.bytes.size())
      throw std::invalid_argument("tensor " + name + ": shape does not match its byte count");
    header[name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.bytes.size()}}};
    offset += t.bytes.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // the format allows padding; aligns the data
  std::string out(8, '\0');
  const uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  out += text;
  for (const auto& [name, t] : tensors) out += t.bytes;
  return out;
}

TensorMap read_safetensors(const std::filesystem::path& path, std::map<std::string, std::string>* metadata) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path.string() + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_safetensors(ss.str(), path.string(), metadata);
}

TensorMap parse_safetensors(const std::string& file, const std::string& name,
                            std::map<std::string, std::string>* metadata) {
  auto fail = [&](const std::string& what) { throw std::runtime_error(name + ": " + what); };
  if (file.size() < 8) fail("truncated: shorter than the 8-byte header length");
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n |= static_cast<uint64_t>(static_cast<unsigned char>(file[i])) << (8 * i);
  if (n > file.size() - 8) fail("truncated: header length " + std::to_string(n) + " exceeds the file");
  nlohmann::json header;
  try {
    header = nlohmann::json::parse(file.substr(8, n));
  } catch (const std::exception& e) {
    fail(std::string("corrupted header: ") + e.what());
  }
  if (!header.is_object()) fail("corrupted header: not a JSON object");
  const uint64_t data_start = 8 + n;
  const uint64_t data_size = file.size() - data_start;
  TensorMap out;
  uint64_t covered = 0;
  for (const auto& [tensor_name, entry] : header.items()) {
    if (tensor_name == "__metadata__") {
      if (metadata) *metadata = entry.get<std::map<std::string, std::string>>();
      continue;
    }
    try {
      Tensor t;
      t.dtype = entry.at("dtype").get<std::string>();
      t.shape = entry.at("shape").get<std::vector<int64_t>>();
      const auto offsets = entry.at("data_offsets").get<std::vector<uint64_t>>();
      if (offsets.size() != 2 || offsets[0] > offsets[1] || offsets[1] > data_size)
        fail("tensor " + tensor_name + ": data offsets outside the file (truncated?)");
      if (dtype_bytes(t.dtype) == 0) fail("tensor " + tensor_name + ": unknown dtype " + t.dtype);
      if (static_cast<uint64_t>(element_count(t.shape) * dtype_bytes(t.dtype)) != offsets[1] - offsets[0])
        fail("tensor " + tensor_name + ": shape does not match its byte range");
      t.bytes = file.substr(data_start + offsets[0], offsets[1] - offsets[0]);
      covered += offsets[1] - offsets[0];
      out.emplace(tensor_name, std::move(t));
    } catch (const nlohmann::json::exception& e) {
      fail("tensor " + tensor_name + ": malformed entry: " + e.what());
    }
  }
  if (covered != data_size) fail("data section has " + std::to_string(data_size) + " bytes, tensors cover " + std::to_string(covered));
  return out;
}

}  // namespace strata::checkpoint
