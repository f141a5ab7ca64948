#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace strata::config {

// Optimal-string-alignment (restricted Damerau-Levenshtein) distance: insertions,
// deletions, substitutions and swaps of two adjacent characters each cost 1.
// Works on bytes, which is what config keys and enum values are in practice.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate closest to `word`, if it is within max(1, word.size() / 3) edits;
// ties go to the earliest candidate. An identical candidate (distance 0) is
// returned too: callers only ask when `word` was already rejected.
std::optional<std::string> did_you_mean(std::string_view word,
                                        const std::vector<std::string>& candidates);

}  // namespace strata::config
