#include "core/tokenizer/tokenizer.hpp"

#include <stdexcept>
#include <system_error>

#include "core/tokenizer/byte_level_bpe.hpp"
#include "core/tokenizer/byte_tokenizer.hpp"

namespace strata::tokenizer {

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& dir_or_spec) {
    // The spec wins over a directory that happens to be called "byte"; pass
    // "./byte" to mean the directory.
    if (dir_or_spec == "byte") return std::make_unique<ByteTokenizer>();
    std::error_code ec;
    if (std::filesystem::is_directory(dir_or_spec, ec) &&
        std::filesystem::is_regular_file(dir_or_spec / "vocab.json", ec) &&
        std::filesystem::is_regular_file(dir_or_spec / "merges.txt", ec)) {
        return std::make_unique<ByteLevelBpe>(ByteLevelBpe::load(dir_or_spec));
    }
    throw std::runtime_error("load_tokenizer: " + dir_or_spec.string() +
                             " is neither \"byte\" nor a directory containing vocab.json and "
                             "merges.txt");
}

}  // namespace strata::tokenizer
