// Crash-safe file replacement: a reader sees either the old file or the whole new one,
// never a partial file (write a temp file in the same folder, fsync, rename, fsync the folder).
#pragma once

#include <filesystem>
#include <string_view>

namespace strata::util {

// Throws std::runtime_error naming the path and the failing system call.
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes);
// fsync a directory so a rename or a new entry in it survives power loss.
void fsync_directory(const std::filesystem::path& dir);

}  // namespace strata::util
