#include "core/config/json_schema.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace strata::config {
namespace {

using nlohmann::json;
using Issues = std::vector<SchemaIssue>;

Issues check(const json& schema, const json& instance) {
  return JsonSchema(schema).validate(instance);
}

// The pointer the constructor names for a malformed schema ("" when it is valid).
std::string definition_error_pointer(const json& schema) {
  try {
    JsonSchema{schema};
  } catch (const SchemaDefinitionError& e) {
    return e.schema_pointer();
  }
  return "";
}

std::string definition_error(const json& schema) {
  try {
    JsonSchema{schema};
  } catch (const SchemaDefinitionError& e) {
    return e.what();
  }
  return "";
}

// ------------------------------------------------------------------ type

TEST(JsonSchemaType, SingleTypeMessages) {
  EXPECT_EQ(check({{"type", "number"}}, "x"), (Issues{{"", "expected a number, got \"x\""}}));
  EXPECT_EQ(check({{"type", "integer"}}, 2.5), (Issues{{"", "expected an integer, got 2.5"}}));
  EXPECT_EQ(check({{"type", "object"}}, json::array({1})), (Issues{{"", "expected an object, got [1]"}}));
  EXPECT_EQ(check({{"type", "string"}}, nullptr), (Issues{{"", "expected a string, got null"}}));
  EXPECT_EQ(check({{"type", "null"}}, 0), (Issues{{"", "expected null, got 0"}}));
  EXPECT_EQ(check({{"type", "boolean"}}, "true"), (Issues{{"", "expected a boolean, got \"true\""}}));
}

TEST(JsonSchemaType, SeveralTypes) {
  const json schema = {{"type", {"string", "null"}}};
  EXPECT_EQ(check(schema, 3), (Issues{{"", "expected one of [string, null], got 3"}}));
  EXPECT_TRUE(check(schema, nullptr).empty());
  EXPECT_TRUE(check(schema, "s").empty());
}

TEST(JsonSchemaType, IntegerAcceptsIntegralFloats) {
  EXPECT_TRUE(check({{"type", "integer"}}, 1.0).empty());
  EXPECT_TRUE(check({{"type", "integer"}}, -3).empty());
  EXPECT_TRUE(check({{"type", "number"}}, 7).empty());
  EXPECT_EQ(check({{"type", "integer"}}, true), (Issues{{"", "expected an integer, got true"}}));
}

TEST(JsonSchemaType, LongValuesAreTruncated) {
  const std::string long_text(100, 'a');
  const Issues issues = check({{"type", "number"}}, long_text);
  ASSERT_EQ(issues.size(), 1u);
  const std::string shown = "\"" + std::string(56, 'a') + "...";  // 60 characters in all
  EXPECT_EQ(issues[0].message, "expected a number, got " + shown);
}

TEST(JsonSchemaType, TypeFailureHidesOtherChecks) {
  const json schema = {{"type", "number"}, {"minimum", 1}, {"enum", {5, 6}}};
  EXPECT_EQ(check(schema, "x"), (Issues{{"", "expected a number >= 1, got \"x\""}}));
}

TEST(JsonSchemaType, TypeFailureNamesTheNumericBounds) {
  EXPECT_EQ(check({{"type", "number"}, {"exclusiveMinimum", 0}}, "x"),
            (Issues{{"", "expected a number > 0, got \"x\""}}));
  EXPECT_EQ(check({{"type", "integer"}, {"minimum", 1}, {"maximum", 8}}, true),
            (Issues{{"", "expected an integer >= 1 and <= 8, got true"}}));
}

// ------------------------------------------------------------------ numbers

TEST(JsonSchemaNumbers, BoundsMessages) {
  EXPECT_EQ(check({{"minimum", 1}}, 0), (Issues{{"", "expected a number >= 1, got 0"}}));
  EXPECT_EQ(check({{"exclusiveMinimum", 0}}, -1), (Issues{{"", "expected a number > 0, got -1"}}));
  EXPECT_EQ(check({{"exclusiveMinimum", 0}}, 0), (Issues{{"", "expected a number > 0, got 0"}}));
  EXPECT_EQ(check({{"maximum", 0.05}}, 0.1), (Issues{{"", "expected a number <= 0.05, got 0.1"}}));
  EXPECT_EQ(check({{"exclusiveMaximum", 2.0}}, 2), (Issues{{"", "expected a number < 2, got 2"}}));
  EXPECT_TRUE(check({{"minimum", 1}, {"maximum", 1}}, 1.0).empty());
}

TEST(JsonSchemaNumbers, IntegralFloatsPrintWithoutFraction) {
  EXPECT_EQ(check({{"minimum", 2.0}}, 1.0), (Issues{{"", "expected a number >= 2, got 1"}}));
  EXPECT_EQ(check({{"maximum", -0.5}}, 3.25), (Issues{{"", "expected a number <= -0.5, got 3.25"}}));
}

TEST(JsonSchemaNumbers, BoundsIgnoreNonNumbers) {
  EXPECT_TRUE(check({{"minimum", 1}}, "zero").empty());
}

TEST(JsonSchemaNumbers, LargeIntegersCompareExactly) {
  const json big = 9007199254740993LL;  // not representable as a double
  EXPECT_EQ(check({{"maximum", 9007199254740992LL}}, big),
            (Issues{{"", "expected a number <= 9007199254740992, got 9007199254740993"}}));
  EXPECT_TRUE(check({{"minimum", 0}}, 18446744073709551615ULL).empty());
}

// ------------------------------------------------------------------ enum and const

TEST(JsonSchemaEnum, SuggestsCloseString) {
  const json schema = {{"enum", {"mean", "allreduce"}}};
  EXPECT_EQ(check(schema, "mena"),
            (Issues{{"", "expected one of [\"mean\", \"allreduce\"], got \"mena\" (did you mean \"mean\"?)"}}));
  EXPECT_EQ(check(schema, "zzzzzz"), (Issues{{"", "expected one of [\"mean\", \"allreduce\"], got \"zzzzzz\""}}));
  EXPECT_TRUE(check(schema, "allreduce").empty());
}

TEST(JsonSchemaEnum, NoSuggestionForNonStrings) {
  EXPECT_EQ(check({{"enum", {"1", 2}}}, 1), (Issues{{"", "expected one of [\"1\", 2], got 1"}}));
  EXPECT_TRUE(check({{"enum", {1, 2}}}, 2.0).empty());
}

TEST(JsonSchemaConst, Messages) {
  EXPECT_EQ(check({{"const", "sgd"}}, "adam"), (Issues{{"", "expected \"sgd\", got \"adam\""}}));
  EXPECT_EQ(check({{"const", false}}, 0), (Issues{{"", "expected false, got 0"}}));
  EXPECT_TRUE(check({{"const", {{"a", 1}}}}, {{"a", 1.0}}).empty());
}

// ------------------------------------------------------------------ strings and arrays

TEST(JsonSchemaLength, CountsCodePoints) {
  EXPECT_TRUE(check({{"maxLength", 2}}, "\xc3\xa9\xe2\x82\xac").empty());  // "é€": 5 bytes
  EXPECT_EQ(check({{"maxLength", 2}}, "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80"),
            (Issues{{"", "expected at most 2 characters, got 3"}}));
  EXPECT_EQ(check({{"minLength", 1}}, ""), (Issues{{"", "expected at least 1 character, got 0"}}));
}

TEST(JsonSchemaArrays, SizeMessages) {
  EXPECT_EQ(check({{"minItems", 1}}, json::array()), (Issues{{"", "expected at least 1 item, got 0"}}));
  EXPECT_EQ(check({{"maxItems", 2}}, {1, 2, 3}), (Issues{{"", "expected at most 2 items, got 3"}}));
  EXPECT_EQ(check({{"minItems", 2.0}}, {1}), (Issues{{"", "expected at least 2 items, got 1"}}));
  EXPECT_TRUE(check({{"maxItems", 1e30}}, {1, 2}).empty());  // huge limits clamp instead of overflowing
}

TEST(JsonSchemaArrays, ItemsAndTuplesPointAtElements) {
  EXPECT_EQ(check({{"items", {{"type", "integer"}}}}, {1, "two", 3, 4.5}),
            (Issues{{"/1", "expected an integer, got \"two\""}, {"/3", "expected an integer, got 4.5"}}));
  const json tuple = {{"items", {{{"type", "string"}}, {{"type", "number"}}}}};
  EXPECT_EQ(check(tuple, {1, "x", "extra items are unconstrained"}),
            (Issues{{"/0", "expected a string, got 1"}, {"/1", "expected a number, got \"x\""}}));
}

// ------------------------------------------------------------------ objects

TEST(JsonSchemaObjects, MissingRequiredPointsAtObject) {
  const json schema = {
      {"properties", {{"trainer", {{"type", "object"}, {"required", {"name", "steps"}}}}}}};
  EXPECT_EQ(check(schema, {{"trainer", {{"steps", 3}}}}),
            (Issues{{"/trainer", "missing required property \"name\""}}));
  EXPECT_EQ(check({{"required", {"name"}}}, json::object()),
            (Issues{{"", "missing required property \"name\""}}));
}

TEST(JsonSchemaObjects, UnknownPropertyWithSuggestion) {
  const json schema = {{"properties", {{"bucket_mb", {{"type", "number"}}}, {"overlap", {{"type", "boolean"}}}}},
                       {"additionalProperties", false}};
  EXPECT_EQ(check(schema, {{"bucket_mbb", 25}}),
            (Issues{{"/bucket_mbb", "unknown property \"bucket_mbb\" (did you mean \"bucket_mb\"?)"}}));
}

TEST(JsonSchemaObjects, UnknownPropertyListsAllowed) {
  const json schema = {{"properties", {{"a", json::object()}, {"b", json::object()}, {"c", json::object()}}},
                       {"additionalProperties", false}};
  EXPECT_EQ(check(schema, {{"zzz", 1}}), (Issues{{"/zzz", "unknown property \"zzz\"; allowed: a, b, c"}}));
  EXPECT_EQ(check({{"additionalProperties", false}}, {{"zzz", 1}}),
            (Issues{{"/zzz", "unknown property \"zzz\"; no properties are allowed here"}}));
}

TEST(JsonSchemaObjects, AdditionalPropertiesSchema) {
  const json schema = {{"properties", {{"name", {{"type", "string"}}}}},
                       {"additionalProperties", {{"type", "integer"}}}};
  EXPECT_EQ(check(schema, {{"name", "n"}, {"x", 1}, {"y", "2"}}),
            (Issues{{"/y", "expected an integer, got \"2\""}}));
}

TEST(JsonSchemaObjects, BooleanSchemas) {
  EXPECT_EQ(check(false, 1), (Issues{{"", "no value is allowed here"}}));
  EXPECT_TRUE(check(true, 1).empty());
  EXPECT_EQ(check({{"properties", {{"legacy", false}}}}, {{"legacy", 1}}),
            (Issues{{"/legacy", "no value is allowed here"}}));
}

TEST(JsonSchemaObjects, PointersEscapeSlashAndTilde) {
  const json schema = {{"properties", {{"a/b", {{"type", "string"}}}, {"m~n", {{"type", "string"}}}}},
                       {"additionalProperties", false}};
  EXPECT_EQ(check(schema, {{"a/b", 1}, {"m~n", 2}, {"~/x", 3}}),
            (Issues{{"/a~1b", "expected a string, got 1"},
                    {"/m~0n", "expected a string, got 2"},
                    {"/~0~1x", "unknown property \"~/x\"; allowed: a/b, m~n"}}));
  EXPECT_EQ(escape_pointer_token("~/"), "~0~1");
}

TEST(JsonSchemaObjects, IssuesInDocumentOrderAndDeterministic) {
  const json schema = json::parse(R"({
    "type": "object",
    "required": ["stages"],
    "properties": {
      "lr": {"type": "number", "exclusiveMinimum": 0},
      "stages": {
        "type": "array",
        "items": {"properties": {"name": {"type": "string"}}, "required": ["name"]}
      }
    },
    "additionalProperties": false
  })");
  const json instance = {{"lr", -1}, {"stages", {{{"name", "a"}}, {{"name", 7}}, json::object()}}, {"zeta", 1}};
  const Issues expected = {{"/lr", "expected a number > 0, got -1"},
                           {"/stages/1/name", "expected a string, got 7"},
                           {"/stages/2", "missing required property \"name\""},
                           {"/zeta", "unknown property \"zeta\"; allowed: lr, stages"}};
  const JsonSchema compiled(schema);
  EXPECT_EQ(compiled.validate(instance), expected);
  EXPECT_EQ(compiled.validate(instance), expected);
}

TEST(JsonSchemaFormat, IssueFormatting) {
  EXPECT_EQ(format_issue({"", "expected an object, got 1"}), "/: expected an object, got 1");
  EXPECT_EQ(format_issue({"/a/0", "expected a string, got 1"}), "/a/0: expected a string, got 1");
}

// ------------------------------------------------------------------ defaults

TEST(JsonSchemaDefaults, FillsMissingPropertiesRecursively) {
  const json schema = {
      {"properties",
       {{"lr", {{"type", "number"}, {"default", 0.05}}},
        {"name", {{"type", "string"}}},
        {"optimizer",
         {{"type", "object"},
          {"default", json::object()},
          {"properties", {{"kind", {{"default", "sgd"}}}, {"momentum", {{"default", 0.9}}}}}}},
        {"stages",
         {{"items", {{"properties", {{"repeat", {{"default", 1}}}}}}}}}}}};
  const JsonSchema compiled(schema);
  const json filled = compiled.with_defaults({{"optimizer", {{"kind", "adam"}}}, {"stages", {json::object(), {{"repeat", 4}}}}});
  EXPECT_EQ(filled, (json{{"lr", 0.05},
                          {"optimizer", {{"kind", "adam"}, {"momentum", 0.9}}},
                          {"stages", {{{"repeat", 1}}, {{"repeat", 4}}}}}));
  // An inserted default is itself filled in.
  EXPECT_EQ(compiled.with_defaults(json::object())["optimizer"], (json{{"kind", "sgd"}, {"momentum", 0.9}}));
}

TEST(JsonSchemaDefaults, LeavesPresentAndMistypedValuesAlone) {
  const json schema = {{"properties", {{"n", {{"default", 1}}}, {"sub", {{"properties", {{"x", {{"default", 2}}}}}}}}}};
  const JsonSchema compiled(schema);
  EXPECT_EQ(compiled.with_defaults({{"n", "custom"}, {"sub", 5}}), (json{{"n", "custom"}, {"sub", 5}}));
  EXPECT_EQ(compiled.with_defaults("not an object"), json("not an object"));
  EXPECT_EQ(compiled.with_defaults({{"n", nullptr}}), (json{{"n", nullptr}}));
}

TEST(JsonSchemaDefaults, TupleItemsAndAdditionalProperties) {
  const json schema = {
      {"properties", {{"pair", {{"items", {{{"properties", {{"a", {{"default", 1}}}}}}}}}}}},
      {"additionalProperties", {{"properties", {{"enabled", {{"default", true}}}}}}}};
  const json filled = JsonSchema(schema).with_defaults(
      {{"pair", {json::object(), json::object()}}, {"plugin_x", json::object()}});
  EXPECT_EQ(filled, (json{{"pair", {{{"a", 1}}, json::object()}}, {"plugin_x", {{"enabled", true}}}}));
}

TEST(JsonSchemaDefaults, RawKeepsSchema) {
  const json schema = {{"type", "object"}};
  EXPECT_EQ(JsonSchema(schema).raw(), schema);
}

// ------------------------------------------------------------------ schema definition errors

TEST(JsonSchemaDefinition, UnknownTypeNamesTypePointer) {
  EXPECT_EQ(definition_error_pointer({{"type", "numbr"}}), "/type");
  EXPECT_EQ(definition_error({{"type", "numbr"}}),
            "invalid schema at /type: unknown type \"numbr\" (did you mean \"number\"?); expected one of "
            "null, boolean, object, array, number, integer, string");
  EXPECT_EQ(definition_error_pointer({{"type", {"string", "nul"}}}), "/type/1");
  EXPECT_EQ(definition_error_pointer({{"type", {"string", "string"}}}), "/type/1");
  EXPECT_EQ(definition_error_pointer({{"type", json::array()}}), "/type");
}

TEST(JsonSchemaDefinition, BadKeywordValues) {
  EXPECT_THROW(JsonSchema(json{{"minimum", "a"}}), SchemaDefinitionError);
  EXPECT_EQ(definition_error({{"minimum", "a"}}), "invalid schema at /minimum: \"minimum\" must be a number, got \"a\"");
  EXPECT_EQ(definition_error_pointer({{"exclusiveMaximum", true}}), "/exclusiveMaximum");
  EXPECT_EQ(definition_error_pointer({{"minItems", -1}}), "/minItems");
  EXPECT_EQ(definition_error_pointer({{"maxLength", 1.5}}), "/maxLength");
  EXPECT_EQ(definition_error_pointer({{"required", {"a", "a"}}}), "/required/1");
  EXPECT_EQ(definition_error_pointer({{"required", "a"}}), "/required");
  EXPECT_EQ(definition_error_pointer({{"enum", json::array()}}), "/enum");
  EXPECT_EQ(definition_error_pointer({{"properties", {1}}}), "/properties");
  EXPECT_EQ(definition_error_pointer({{"items", {json::object(), 5}}}), "/items/1");
  EXPECT_EQ(definition_error_pointer({{"additionalProperties", "no"}}), "/additionalProperties");
  EXPECT_EQ(definition_error_pointer({{"title", 3}}), "/title");
  EXPECT_EQ(definition_error_pointer(42), "");
  EXPECT_EQ(definition_error(42), "invalid schema at /: a schema must be an object or a boolean, got 42");
}

TEST(JsonSchemaDefinition, UnknownAndUnsupportedKeywords) {
  const json typo = {{"properties", {{"a/b", {{"minimun", 1}}}}}};
  EXPECT_EQ(definition_error_pointer(typo), "/properties/a~1b/minimun");
  EXPECT_EQ(definition_error(typo),
            "invalid schema at /properties/a~1b/minimun: unknown keyword \"minimun\" (did you mean \"minimum\"?)");
  EXPECT_EQ(definition_error_pointer({{"$ref", "#"}}), "/$ref");
  EXPECT_EQ(definition_error_pointer({{"items", {{"patternProperties", json::object()}}}}), "/items/patternProperties");
  EXPECT_NE(definition_error({{"allOf", json::array()}}).find("unsupported keyword \"allOf\""), std::string::npos);
}

TEST(JsonSchemaDefinition, AcceptsAnnotationsAndWellFormedValues) {
  const json schema = {{"$schema", "http://json-schema.org/draft-07/schema#"},
                       {"$id", "strata://trainer"},
                       {"$comment", "why"},
                       {"title", "Trainer"},
                       {"description", "options"},
                       {"examples", {{{"steps", 3}}}},
                       {"x-strata-ui", {{"group", "advanced"}}},
                       {"default", json::object()},
                       {"type", {"object", "null"}},
                       {"minItems", 2.0},
                       {"const", nullptr},
                       {"properties", {{"type", {{"enum", {"a"}}}}, {"default", true}}}};
  EXPECT_NO_THROW(JsonSchema{schema});
  EXPECT_NO_THROW(JsonSchema{true});
  EXPECT_NO_THROW(JsonSchema{json::object()});
}

}  // namespace
}  // namespace strata::config
