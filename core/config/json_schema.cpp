#include "core/config/json_schema.hpp"

#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <utility>

#include "core/config/did_you_mean.hpp"

namespace strata::config {

using nlohmann::json;

namespace {

// ---------------------------------------------------------------- formatting

std::string child_pointer(const std::string& parent, std::string_view token) {
  return parent + "/" + escape_pointer_token(token);
}

std::string child_pointer(const std::string& parent, std::size_t index) {
  return parent + "/" + std::to_string(index);
}

// Numbers read the way a person wrote them: 2 rather than 2.0, 0.05 rather than
// 0.050000. nlohmann's dump already gives the shortest round-trip form for floats;
// only integral floats need help.
std::string format_number(const json& number) {
  if (number.is_number_float()) {
    const double value = number.get<double>();
    if (std::isfinite(value) && std::floor(value) == value && std::fabs(value) < 1e15) {
      return std::to_string(static_cast<std::int64_t>(value));
    }
  }
  return number.dump();
}

// Cuts at a UTF-8 character boundary so a truncated value is still valid text.
std::string truncate(std::string text, std::size_t max_chars) {
  if (text.size() <= max_chars) return text;
  std::size_t cut = max_chars - 3;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  return text + "...";
}

// The offending value as compact JSON, short enough to sit inside one message.
std::string describe(const json& value) {
  constexpr std::size_t kMaxChars = 60;
  if (value.is_number()) return format_number(value);
  return truncate(value.dump(-1, ' ', false, json::error_handler_t::replace), kMaxChars);
}

std::string quote_json(std::string_view text) {
  return describe(json(std::string(text)));
}

std::string join(const std::vector<std::string>& parts, std::string_view separator) {
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += separator;
    out += parts[i];
  }
  return out;
}

std::string plural(std::size_t count, std::string_view noun) {
  std::string out = std::to_string(count) + " " + std::string(noun);
  if (count != 1) out += "s";
  return out;
}

std::string suggestion_suffix(std::string_view word, const std::vector<std::string>& candidates) {
  const std::optional<std::string> guess = did_you_mean(word, candidates);
  return guess ? " (did you mean " + quote_json(*guess) + "?)" : "";
}

// ---------------------------------------------------------------- keyword tables

constexpr std::array<std::string_view, 7> kTypeNames = {"null",   "boolean", "object", "array",
                                                        "number", "integer", "string"};

constexpr std::array<std::string_view, 16> kSupportedKeywords = {
    "type",    "properties",       "required",         "additionalProperties",
    "enum",    "const",            "minimum",          "maximum",
    "exclusiveMinimum", "exclusiveMaximum", "items",   "minItems",
    "maxItems", "minLength",       "maxLength",        "default"};

constexpr std::array<std::string_view, 6> kAnnotationKeywords = {
    "$schema", "$id", "title", "description", "$comment", "examples"};

template <std::size_t N>
bool contains(const std::array<std::string_view, N>& table, std::string_view word) {
  for (std::string_view entry : table) {
    if (entry == word) return true;
  }
  return false;
}

template <std::size_t N>
std::vector<std::string> to_strings(const std::array<std::string_view, N>& table) {
  return {table.begin(), table.end()};
}

std::string type_with_article(std::string_view type) {
  if (type == "null") return "null";
  const bool vowel = type == "object" || type == "array" || type == "integer";
  return std::string(vowel ? "an " : "a ") + std::string(type);
}

// ---------------------------------------------------------------- value predicates

bool is_integral(const json& value) {
  if (value.is_number_integer()) return true;  // covers unsigned too
  if (!value.is_number_float()) return false;
  const double d = value.get<double>();
  return std::isfinite(d) && std::floor(d) == d;
}

bool has_type(const json& value, std::string_view type) {
  if (type == "null") return value.is_null();
  if (type == "boolean") return value.is_boolean();
  if (type == "object") return value.is_object();
  if (type == "array") return value.is_array();
  if (type == "number") return value.is_number();
  if (type == "integer") return is_integral(value);
  return value.is_string();
}

// long double holds every int64, uint64 and double exactly on the platforms Strata
// targets (x86-64 extended, aarch64 quad), so mixed comparisons need no case split.
long double as_long_double(const json& number) {
  if (number.is_number_unsigned()) return static_cast<long double>(number.get<std::uint64_t>());
  if (number.is_number_integer()) return static_cast<long double>(number.get<std::int64_t>());
  return static_cast<long double>(number.get<double>());
}

// Schema counts may be written as floats (2.0) or be absurdly large; clamp so the
// conversion is always defined.
std::size_t as_count(const json& number) {
  constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();
  const long double value = as_long_double(number);
  return value >= static_cast<long double>(kMax) ? kMax : static_cast<std::size_t>(value);
}

std::size_t count_code_points(const std::string& text) {
  std::size_t count = 0;
  for (char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++count;  // skip continuation bytes
  }
  return count;
}

std::vector<std::string> property_names(const json& schema) {
  std::vector<std::string> names;
  if (auto it = schema.find("properties"); it != schema.end()) {
    for (const auto& item : it->items()) names.push_back(item.key());
  }
  return names;
}

// ---------------------------------------------------------------- schema checking

class SchemaChecker {
 public:
  void check_schema(const json& schema, const std::string& at) const {
    if (schema.is_boolean()) return;
    if (!schema.is_object()) {
      fail(at, "a schema must be an object or a boolean, got " + describe(schema));
    }
    for (const auto& item : schema.items()) {
      check_keyword(item.key(), item.value(), child_pointer(at, item.key()));
    }
  }

 private:
  [[noreturn]] static void fail(const std::string& at, std::string problem) {
    throw SchemaDefinitionError(at, std::move(problem));
  }

  void check_keyword(const std::string& keyword, const json& value, const std::string& at) const {
    if (keyword == "type") return check_type(value, at);
    if (keyword == "properties") return check_properties(value, at);
    if (keyword == "required") return check_required(value, at);
    if (keyword == "additionalProperties") return check_schema(value, at);
    if (keyword == "items") return check_items(value, at);
    if (keyword == "enum") return check_enum(value, at);
    if (keyword == "minimum" || keyword == "maximum") return check_number(keyword, value, at);
    if (keyword == "exclusiveMinimum" || keyword == "exclusiveMaximum") {
      if (value.is_boolean()) {
        fail(at, keyword + " must be a number (draft 7 form); the draft 4 boolean form is not supported");
      }
      return check_number(keyword, value, at);
    }
    if (keyword == "minItems" || keyword == "maxItems" || keyword == "minLength" ||
        keyword == "maxLength") {
      return check_count(keyword, value, at);
    }
    if (keyword == "const" || keyword == "default" || keyword.starts_with("x-")) return;
    if (contains(kAnnotationKeywords, keyword)) return check_annotation(keyword, value, at);
    reject_unknown(keyword, at);
  }

  static void reject_unknown(const std::string& keyword, const std::string& at) {
    std::vector<std::string> known = to_strings(kSupportedKeywords);
    for (std::string_view annotation : kAnnotationKeywords) known.emplace_back(annotation);
    const std::optional<std::string> guess = did_you_mean(keyword, known);
    if (guess) fail(at, "unknown keyword " + quote_json(keyword) + " (did you mean " + quote_json(*guess) + "?)");
    fail(at, "unsupported keyword " + quote_json(keyword) + "; supported: " +
                 join(to_strings(kSupportedKeywords), ", "));
  }

  static void check_type_name(const json& name, const std::string& at) {
    if (!name.is_string()) fail(at, "a type name must be a string, got " + describe(name));
    const std::string& text = name.get_ref<const std::string&>();
    if (contains(kTypeNames, text)) return;
    fail(at, "unknown type " + quote_json(text) + suggestion_suffix(text, to_strings(kTypeNames)) +
                 "; expected one of " + join(to_strings(kTypeNames), ", "));
  }

  static void check_type(const json& value, const std::string& at) {
    if (value.is_string()) return check_type_name(value, at);
    if (!value.is_array() || value.empty()) {
      fail(at, "\"type\" must be a type name or a non-empty array of them, got " + describe(value));
    }
    for (std::size_t i = 0; i < value.size(); ++i) {
      check_type_name(value[i], child_pointer(at, i));
      for (std::size_t j = 0; j < i; ++j) {
        if (value[j] == value[i]) fail(child_pointer(at, i), "duplicate type " + describe(value[i]));
      }
    }
  }

  void check_properties(const json& value, const std::string& at) const {
    if (!value.is_object()) fail(at, "\"properties\" must be an object, got " + describe(value));
    for (const auto& item : value.items()) check_schema(item.value(), child_pointer(at, item.key()));
  }

  static void check_required(const json& value, const std::string& at) {
    if (!value.is_array()) fail(at, "\"required\" must be an array of strings, got " + describe(value));
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (!value[i].is_string()) {
        fail(child_pointer(at, i), "a required property name must be a string, got " + describe(value[i]));
      }
      for (std::size_t j = 0; j < i; ++j) {
        if (value[j] == value[i]) fail(child_pointer(at, i), "duplicate required property " + describe(value[i]));
      }
    }
  }

  void check_items(const json& value, const std::string& at) const {
    if (!value.is_array()) return check_schema(value, at);
    for (std::size_t i = 0; i < value.size(); ++i) check_schema(value[i], child_pointer(at, i));
  }

  // An empty enum accepts nothing, which is always a mistake in a config schema.
  static void check_enum(const json& value, const std::string& at) {
    if (!value.is_array() || value.empty()) {
      fail(at, "\"enum\" must be a non-empty array, got " + describe(value));
    }
  }

  static void check_number(const std::string& keyword, const json& value, const std::string& at) {
    if (!value.is_number()) fail(at, quote_json(keyword) + " must be a number, got " + describe(value));
  }

  static void check_count(const std::string& keyword, const json& value, const std::string& at) {
    if (!is_integral(value) || as_long_double(value) < 0) {
      fail(at, quote_json(keyword) + " must be a non-negative integer, got " + describe(value));
    }
  }

  static void check_annotation(const std::string& keyword, const json& value, const std::string& at) {
    if (keyword == "examples") {
      if (!value.is_array()) fail(at, "\"examples\" must be an array, got " + describe(value));
      return;
    }
    if (!value.is_string()) fail(at, quote_json(keyword) + " must be a string, got " + describe(value));
  }
};

// ---------------------------------------------------------------- validation

class Validator {
 public:
  explicit Validator(std::vector<SchemaIssue>& issues) : issues_(issues) {}

  void validate(const json& schema, const json& value, const std::string& at) {
    if (schema.is_boolean()) {
      if (!schema.get<bool>()) report(at, "no value is allowed here");
      return;
    }
    // A value of the wrong type (or outside enum/const) makes every further
    // message noise, so stop at the first of these.
    if (!check_type(schema, value, at) || !check_enum(schema, value, at) ||
        !check_const(schema, value, at)) {
      return;
    }
    if (value.is_number()) check_bounds(schema, value, at);
    if (value.is_string()) check_length(schema, value, at);
    if (value.is_array()) check_array(schema, value, at);
    if (value.is_object()) check_object(schema, value, at);
  }

 private:
  void report(const std::string& at, std::string message) {
    issues_.push_back({at, std::move(message)});
  }

  // " > 0", " >= 1 and <= 8": the numeric bounds, so a wrong-type message already says
  // which numbers would be accepted.
  static std::string bounds_phrase(const json& schema, const std::string& type) {
    if (type != "number" && type != "integer") return "";
    static constexpr std::pair<const char*, const char*> kRelations[] = {
        {"minimum", ">="}, {"exclusiveMinimum", ">"}, {"maximum", "<="}, {"exclusiveMaximum", "<"}};
    std::string out;
    for (const auto& [keyword, relation] : kRelations) {
      const auto it = schema.find(keyword);
      if (it == schema.end()) continue;
      out += (out.empty() ? " " : " and ") + std::string(relation) + " " + format_number(*it);
    }
    return out;
  }

  bool check_type(const json& schema, const json& value, const std::string& at) {
    const auto it = schema.find("type");
    if (it == schema.end()) return true;
    if (it->is_string()) {
      const std::string& type = it->get_ref<const std::string&>();
      if (has_type(value, type)) return true;
      report(at, "expected " + type_with_article(type) + bounds_phrase(schema, type) + ", got " + describe(value));
      return false;
    }
    std::vector<std::string> names;
    for (const json& type : *it) {
      if (has_type(value, type.get_ref<const std::string&>())) return true;
      names.push_back(type.get<std::string>());
    }
    if (names.size() == 1) {
      report(at, "expected " + type_with_article(names.front()) + ", got " + describe(value));
    } else {
      report(at, "expected one of [" + join(names, ", ") + "], got " + describe(value));
    }
    return false;
  }

  bool check_enum(const json& schema, const json& value, const std::string& at) {
    const auto it = schema.find("enum");
    if (it == schema.end()) return true;
    std::vector<std::string> shown;
    std::vector<std::string> strings;  // did-you-mean candidates
    for (const json& option : *it) {
      if (option == value) return true;  // nlohmann compares 1 and 1.0 as equal, as draft 7 wants
      shown.push_back(describe(option));
      if (option.is_string()) strings.push_back(option.get<std::string>());
    }
    std::string message = "expected one of [" + join(shown, ", ") + "], got " + describe(value);
    if (value.is_string()) message += suggestion_suffix(value.get_ref<const std::string&>(), strings);
    report(at, std::move(message));
    return false;
  }

  bool check_const(const json& schema, const json& value, const std::string& at) {
    const auto it = schema.find("const");
    if (it == schema.end() || *it == value) return true;
    report(at, "expected " + describe(*it) + ", got " + describe(value));
    return false;
  }

  void check_bounds(const json& schema, const json& value, const std::string& at) {
    struct Bound {
      const char* keyword;
      const char* relation;
      bool (*holds)(long double value, long double limit);
    };
    static constexpr Bound kBounds[] = {
        {"minimum", ">=", [](long double v, long double l) { return v >= l; }},
        {"exclusiveMinimum", ">", [](long double v, long double l) { return v > l; }},
        {"maximum", "<=", [](long double v, long double l) { return v <= l; }},
        {"exclusiveMaximum", "<", [](long double v, long double l) { return v < l; }},
    };
    for (const Bound& bound : kBounds) {
      const auto it = schema.find(bound.keyword);
      if (it == schema.end() || bound.holds(as_long_double(value), as_long_double(*it))) continue;
      report(at, std::string("expected a number ") + bound.relation + " " + format_number(*it) +
                     ", got " + format_number(value));
    }
  }

  // Sizes are checked against "at least"/"at most" limits; shared by strings and arrays.
  void check_size(const json& schema, std::size_t size, const char* min_keyword,
                  const char* max_keyword, std::string_view noun, const std::string& at) {
    if (const auto it = schema.find(min_keyword); it != schema.end()) {
      const std::size_t limit = as_count(*it);
      if (size < limit) report(at, "expected at least " + plural(limit, noun) + ", got " + std::to_string(size));
    }
    if (const auto it = schema.find(max_keyword); it != schema.end()) {
      const std::size_t limit = as_count(*it);
      if (size > limit) report(at, "expected at most " + plural(limit, noun) + ", got " + std::to_string(size));
    }
  }

  void check_length(const json& schema, const json& value, const std::string& at) {
    check_size(schema, count_code_points(value.get_ref<const std::string&>()), "minLength",
               "maxLength", "character", at);
  }

  void check_array(const json& schema, const json& value, const std::string& at) {
    check_size(schema, value.size(), "minItems", "maxItems", "item", at);
    const auto items = schema.find("items");
    if (items == schema.end()) return;
    if (!items->is_array()) {
      for (std::size_t i = 0; i < value.size(); ++i) validate(*items, value[i], child_pointer(at, i));
      return;
    }
    // Tuple form: elements past the listed schemas are unconstrained (no additionalItems).
    const std::size_t n = std::min(value.size(), items->size());
    for (std::size_t i = 0; i < n; ++i) validate((*items)[i], value[i], child_pointer(at, i));
  }

  void check_object(const json& schema, const json& value, const std::string& at) {
    if (const auto required = schema.find("required"); required != schema.end()) {
      for (const json& name : *required) {
        if (!value.contains(name.get_ref<const std::string&>())) {
          report(at, "missing required property " + describe(name));
        }
      }
    }
    const auto properties = schema.find("properties");
    const auto additional = schema.find("additionalProperties");
    for (const auto& item : value.items()) {
      const std::string at_key = child_pointer(at, item.key());
      if (properties != schema.end()) {
        if (const auto sub = properties->find(item.key()); sub != properties->end()) {
          validate(*sub, item.value(), at_key);
          continue;
        }
      }
      if (additional == schema.end()) continue;
      if (additional->is_boolean() && !additional->get<bool>()) {
        report_unknown_property(schema, item.key(), at_key);
      } else {
        validate(*additional, item.value(), at_key);
      }
    }
  }

  void report_unknown_property(const json& schema, const std::string& key, const std::string& at) {
    const std::vector<std::string> allowed = property_names(schema);
    std::string message = "unknown property " + quote_json(key);
    if (const std::optional<std::string> guess = did_you_mean(key, allowed)) {
      message += " (did you mean " + quote_json(*guess) + "?)";
    } else if (allowed.empty()) {
      message += "; no properties are allowed here";
    } else {
      message += "; allowed: " + join(allowed, ", ");
    }
    report(at, std::move(message));
  }

  std::vector<SchemaIssue>& issues_;
};

// ---------------------------------------------------------------- defaults

void apply_defaults(const json& schema, json& value) {
  if (!schema.is_object()) return;
  if (value.is_object()) {
    const auto properties = schema.find("properties");
    if (properties != schema.end()) {
      for (const auto& item : properties->items()) {
        const json& sub = item.value();
        if (!value.contains(item.key())) {
          if (!sub.is_object() || !sub.contains("default")) continue;
          value[item.key()] = sub["default"];
        }
        apply_defaults(sub, value[item.key()]);  // also fills inside an inserted default
      }
    }
    if (const auto additional = schema.find("additionalProperties"); additional != schema.end()) {
      for (auto& item : value.items()) {
        if (properties == schema.end() || !properties->contains(item.key())) {
          apply_defaults(*additional, item.value());
        }
      }
    }
  }
  if (value.is_array()) {
    const auto items = schema.find("items");
    if (items == schema.end()) return;
    for (std::size_t i = 0; i < value.size(); ++i) {
      if (!items->is_array()) {
        apply_defaults(*items, value[i]);
      } else if (i < items->size()) {
        apply_defaults((*items)[i], value[i]);
      }
    }
  }
}

}  // namespace

// ---------------------------------------------------------------- public API

std::string escape_pointer_token(std::string_view token) {
  std::string out;
  out.reserve(token.size());
  for (char c : token) {
    if (c == '~') {
      out += "~0";
    } else if (c == '/') {
      out += "~1";
    } else {
      out += c;
    }
  }
  return out;
}

SchemaDefinitionError::SchemaDefinitionError(std::string schema_pointer, std::string problem)
    : std::runtime_error("invalid schema at " + (schema_pointer.empty() ? std::string("/") : schema_pointer) +
                         ": " + problem),
      schema_pointer_(std::move(schema_pointer)),
      problem_(std::move(problem)) {}

JsonSchema::JsonSchema(json schema) : schema_(std::move(schema)) {
  SchemaChecker{}.check_schema(schema_, "");
}

std::vector<SchemaIssue> JsonSchema::validate(const json& instance) const {
  std::vector<SchemaIssue> issues;
  Validator(issues).validate(schema_, instance, "");
  return issues;
}

json JsonSchema::with_defaults(json instance) const {
  apply_defaults(schema_, instance);
  return instance;
}

std::string format_issue(const SchemaIssue& issue) {
  return (issue.pointer.empty() ? std::string("/") : issue.pointer) + ": " + issue.message;
}

}  // namespace strata::config
