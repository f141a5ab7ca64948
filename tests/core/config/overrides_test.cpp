#include "core/config/overrides.hpp"

#include <gtest/gtest.h>

namespace strata::config {
namespace {

using nlohmann::json;

TEST(Overrides, ValueIsParsedAsJsonWhenItParses) {
  EXPECT_EQ(parse_override("/tiers/parallelism/options/tp=2").value, json(2));
  EXPECT_EQ(parse_override("/a=true").value, json(true));
  EXPECT_EQ(parse_override("/a=[1,2]").value, json::parse("[1,2]"));
  EXPECT_EQ(parse_override("/a={\"b\":1}").value, json::parse("{\"b\":1}"));
  EXPECT_EQ(parse_override("/a=\"quoted\"").value, json("quoted"));
}

TEST(Overrides, ValueFallsBackToAPlainString) {
  EXPECT_EQ(parse_override("/name=my-run").value, json("my-run"));
  EXPECT_EQ(parse_override("/name=").value, json(""));
  EXPECT_EQ(parse_override("/a=b=c").value, json("b=c"));  // only the first '=' splits
}

TEST(Overrides, MalformedArgumentsAreRejectedWithTheArgument) {
  EXPECT_THROW(parse_override("no-equals"), OverrideError);
  try {
    parse_override("tiers/x=1");
    FAIL();
  } catch (const OverrideError& e) {
    EXPECT_NE(std::string(e.what()).find("must start with '/'"), std::string::npos);
  }
  EXPECT_THROW(parse_override("/a~2=1"), OverrideError);  // ~2 is not a valid escape
}

TEST(Overrides, ApplyCreatesMissingObjectsAndReplacesValues) {
  json doc = {{"tiers", {{"aggregation", {{"plugin", "mean"}}}}}};
  apply_override(doc, parse_override("/tiers/aggregation/options/bucket_mb=32"));
  apply_override(doc, parse_override("/tiers/aggregation/plugin=allreduce"));
  EXPECT_EQ(doc["tiers"]["aggregation"]["options"]["bucket_mb"], 32);
  EXPECT_EQ(doc["tiers"]["aggregation"]["plugin"], "allreduce");
}

TEST(Overrides, ApplyIndexesArraysAndAppendsWithDash) {
  json doc = {{"list", {{{"plugin", "a"}}}}};
  apply_override(doc, parse_override("/list/0/plugin=b"));
  apply_override(doc, parse_override("/list/-={\"plugin\":\"c\"}"));
  EXPECT_EQ(doc["list"][0]["plugin"], "b");
  EXPECT_EQ(doc["list"][1]["plugin"], "c");
  EXPECT_THROW(apply_override(doc, parse_override("/list/7/plugin=x")), OverrideError);
  apply_override(doc, parse_override("/fresh/-=1"));
  EXPECT_EQ(doc["fresh"], json::array({1})) << "appending to an absent list creates it";
}

TEST(Overrides, ApplyRefusesToDescendIntoAScalar) {
  json doc = {{"seed", 3}};
  try {
    apply_override(doc, parse_override("/seed/x=1"));
    FAIL();
  } catch (const OverrideError& e) {
    EXPECT_NE(std::string(e.what()).find("/seed"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace strata::config
