#include "core/config/did_you_mean.hpp"

#include <gtest/gtest.h>

namespace strata::config {
namespace {

TEST(EditDistance, CountsInsertDeleteSubstitute) {
  EXPECT_EQ(edit_distance("", ""), 0u);
  EXPECT_EQ(edit_distance("abc", ""), 3u);
  EXPECT_EQ(edit_distance("", "abc"), 3u);
  EXPECT_EQ(edit_distance("kitten", "sitting"), 3u);
  EXPECT_EQ(edit_distance("bucket_mbb", "bucket_mb"), 1u);
}

TEST(EditDistance, AdjacentSwapCostsOne) {
  EXPECT_EQ(edit_distance("mena", "mean"), 1u);
  EXPECT_EQ(edit_distance("ab", "ba"), 1u);
  // Optimal string alignment: a swapped pair is not edited again.
  EXPECT_EQ(edit_distance("ca", "abc"), 3u);
}

TEST(DidYouMean, SuggestsClosestCandidate) {
  EXPECT_EQ(did_you_mean("mena", {"allreduce", "mean"}), "mean");
  EXPECT_EQ(did_you_mean("numbr", {"null", "number", "string"}), "number");
  EXPECT_EQ(did_you_mean("bucket_mbb", {"bucket_mb", "bucket"}), "bucket_mb");
}

TEST(DidYouMean, TieGoesToFirstCandidate) {
  EXPECT_EQ(did_you_mean("cat", {"bat", "cut"}), "bat");
  EXPECT_EQ(did_you_mean("cat", {"cut", "bat"}), "cut");
}

TEST(DidYouMean, PrefersCloserOverEarlier) {
  EXPECT_EQ(did_you_mean("learning_rat", {"learning_rule", "learning_rate"}), "learning_rate");
}

TEST(DidYouMean, RespectsThreshold) {
  // Short words always allow one edit.
  EXPECT_EQ(did_you_mean("ab", {"xb"}), "xb");
  EXPECT_EQ(did_you_mean("ab", {"xy"}), std::nullopt);
  // Nine characters allow three edits, not four.
  EXPECT_EQ(did_you_mean("abcdefghi", {"abcdefxyz"}), "abcdefxyz");
  EXPECT_EQ(did_you_mean("abcdefghi", {"abcdewxyz"}), std::nullopt);
}

TEST(DidYouMean, NothingToSuggest) {
  EXPECT_EQ(did_you_mean("zzz", {"a", "b", "c"}), std::nullopt);
  EXPECT_EQ(did_you_mean("anything", {}), std::nullopt);
}

TEST(DidYouMean, ExactMatchIsReturned) {
  EXPECT_EQ(did_you_mean("mean", {"max", "mean"}), "mean");
}

}  // namespace
}  // namespace strata::config
