#pragma once

// A validator for the subset of JSON Schema draft 7 that Strata's pipeline configs
// and plugin option schemas use. Debian ships no C++ validator, and a small subset
// lets every message be specific ("did you mean ...?") instead of generic.
//
// Supported keywords: type, properties, required, additionalProperties, enum, const,
// minimum, maximum, exclusiveMinimum, exclusiveMaximum (draft 7 numeric form),
// items (single schema or tuple array), minItems, maxItems, minLength, maxLength
// (in Unicode code points), default, and boolean schemas. Annotations ($schema, $id,
// title, description, $comment, examples, "x-*") are accepted and ignored. Anything
// else is rejected when the schema is constructed, so a schema never silently
// relies on a keyword that would not be enforced.

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace strata::config {

struct SchemaIssue {
  std::string pointer;  // RFC 6901 pointer into the validated instance; "" is the root
  std::string message;

  friend bool operator==(const SchemaIssue&, const SchemaIssue&) = default;
};

// The schema itself is malformed or uses an unsupported keyword.
// what() reads "invalid schema at <pointer or '/'>: <problem>".
class SchemaDefinitionError : public std::runtime_error {
 public:
  SchemaDefinitionError(std::string schema_pointer, std::string problem);

  const std::string& schema_pointer() const noexcept { return schema_pointer_; }
  const std::string& problem() const noexcept { return problem_; }

 private:
  std::string schema_pointer_;  // RFC 6901 pointer into the schema; "" is the root
  std::string problem_;
};

class JsonSchema {
 public:
  // Throws SchemaDefinitionError if the schema is not well formed.
  explicit JsonSchema(nlohmann::json schema);

  // Every issue, in document order (object keys in nlohmann::json's sorted order).
  // Once a value fails "type", "enum" or "const", nothing else is reported for it:
  // the first message already says what is wanted.
  std::vector<SchemaIssue> validate(const nlohmann::json& instance) const;

  // Fills object properties that are missing but have a "default", recursing into
  // properties, additionalProperties and array items (including inserted defaults).
  // Does not validate: values of the wrong type are left alone.
  nlohmann::json with_defaults(nlohmann::json instance) const;

  const nlohmann::json& raw() const { return schema_; }

 private:
  nlohmann::json schema_;
};

// "<pointer or '/' for the root>: <message>"
std::string format_issue(const SchemaIssue& issue);

// Escapes one reference token for a JSON Pointer: "~" -> "~0", "/" -> "~1".
std::string escape_pointer_token(std::string_view token);

}  // namespace strata::config
