#include "core/tokenizer/byte_tokenizer.hpp"

#include <stdexcept>

namespace strata::tokenizer {

std::vector<int32_t> ByteTokenizer::encode(std::string_view text) const {
    std::vector<int32_t> ids;
    ids.reserve(text.size());
    // Go through unsigned char so bytes >= 0x80 become 128..255, not negative.
    for (unsigned char c : text) ids.push_back(static_cast<int32_t>(c));
    return ids;
}

std::string ByteTokenizer::decode(std::span<const int32_t> ids) const {
    std::string out;
    out.reserve(ids.size());
    for (int32_t id : ids) {
        if (id < 0 || id >= kVocabSize) {
            throw std::out_of_range("byte tokenizer: token id " + std::to_string(id) +
                                    " outside [0, 256)");
        }
        out.push_back(static_cast<char>(static_cast<unsigned char>(id)));
    }
    return out;
}

}  // namespace strata::tokenizer
