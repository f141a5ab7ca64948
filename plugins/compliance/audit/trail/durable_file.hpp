// Durable whole-file writes for the audit trail (tree heads, witness copies, verifier
// state): temp file, fsync, rename, fsync of the directory. A reader sees the old file or
// the new one, never half of one, and after return the new one survives power loss.
// Position-independent and free of core dependencies: the plugin .so links it.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

namespace strata::audit {

// Creates missing parent directories (fsyncing each new one's parent). Throws
// std::runtime_error naming the path and the system error; never leaves a temp file.
void replace_file_durably(const std::filesystem::path& path, std::string_view bytes);

// Whole file as bytes; throws std::runtime_error naming the path.
std::string read_whole_file(const std::filesystem::path& path);

}  // namespace strata::audit
