// SHA-256 digests (libsodium) as lowercase hex: for event payloads, plugin libraries,
// configs and checkpoints.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace strata::util {

std::string sha256_hex(std::string_view bytes);
// Streams the file; throws std::runtime_error naming the file when it cannot be read.
std::string sha256_file_hex(const std::filesystem::path& path);

}  // namespace strata::util
