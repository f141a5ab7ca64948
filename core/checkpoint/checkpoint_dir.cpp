#include "core/checkpoint/checkpoint_dir.hpp"

#include <fstream>
#include <stdexcept>

#include "core/util/atomic_file.hpp"
#include "core/util/sha256.hpp"

namespace strata::checkpoint {

namespace fs = std::filesystem;

std::string write_checkpoint(const fs::path& parent, const std::string& name, const CheckpointContents& contents) {
  fs::create_directories(parent);
  const fs::path final_dir = parent / name;
  const fs::path tmp_dir = parent / ("." + name + ".tmp");
  fs::remove_all(tmp_dir);
  fs::create_directories(tmp_dir);
  nlohmann::json manifest = {{"format", "strata-checkpoint"}, {"version", 1}, {"info", contents.info},
                             {"files", nlohmann::json::object()}};
  for (const auto& [file, tensors] : contents.files) {
    const std::string bytes = encode_safetensors(tensors);
    util::write_file_atomically(tmp_dir / file, bytes);
    manifest["files"][file] = {{"sha256", util::sha256_hex(bytes)}, {"bytes", bytes.size()}};
  }
  for (const auto& [file, bytes] : contents.raw_files) {
    const fs::path target = tmp_dir / file;
    if (target.lexically_normal().string().rfind(tmp_dir.lexically_normal().string(), 0) != 0)
      throw std::invalid_argument("checkpoint file name escapes the checkpoint: " + file);
    fs::create_directories(target.parent_path());
    util::write_file_atomically(target, bytes);
    manifest["files"][file] = {{"sha256", util::sha256_hex(bytes)}, {"bytes", bytes.size()}, {"raw", true}};
  }
  const std::string manifest_text = manifest.dump(2) + "\n";
  util::write_file_atomically(tmp_dir / "manifest.json", manifest_text);
  fs::remove_all(final_dir);  // an older checkpoint of the same name is replaced whole
  fs::rename(tmp_dir, final_dir);
  util::fsync_directory(parent);
  return util::sha256_hex(manifest_text);
}

CheckpointContents read_checkpoint(const fs::path& dir) {
  const fs::path manifest_path = dir / "manifest.json";
  if (!fs::is_regular_file(manifest_path))
    throw std::runtime_error(dir.string() + ": not a checkpoint (no manifest.json)");
  nlohmann::json manifest;
  try {
    std::ifstream in(manifest_path);
    manifest = nlohmann::json::parse(in);
  } catch (const std::exception& e) {
    throw std::runtime_error(manifest_path.string() + ": corrupted manifest: " + e.what());
  }
  if (manifest.value("format", "") != "strata-checkpoint")
    throw std::runtime_error(manifest_path.string() + ": not a Strata checkpoint manifest");
  CheckpointContents out;
  out.info = manifest.value("info", nlohmann::json::object());
  for (const auto& [file, entry] : manifest.at("files").items()) {
    const fs::path path = dir / file;
    if (!fs::is_regular_file(path)) throw std::runtime_error(path.string() + ": missing (listed in the manifest)");
    // Read once: the digest and the parse work on the same bytes.
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), {});
    if (!in.eof() && in.fail()) throw std::runtime_error(path.string() + ": read error");
    if (util::sha256_hex(bytes) != entry.at("sha256").get<std::string>())
      throw std::runtime_error(path.string() + ": SHA-256 does not match the manifest (truncated or altered)");
    if (entry.value("raw", false))
      out.raw_files[file] = std::move(bytes);
    else
      out.files[file] = parse_safetensors(bytes, path.string());
  }
  return out;
}

}  // namespace strata::checkpoint
