// Runs the official JSON-Schema-Test-Suite (draft 7) against strata::config::JsonSchema
// for the keywords Strata supports. Cases that need unsupported keywords are listed,
// with a reason, in json_schema_suite_skips.txt; the list is kept honest by failing
// when an entry matches nothing or a listed case actually passes.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config/json_schema.hpp"

#ifndef STRATA_JSON_SCHEMA_SUITE_DIR
#define STRATA_JSON_SCHEMA_SUITE_DIR "/usr/share/json-schema-test-suite/tests/draft7"
#endif

namespace strata::config {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

// One file per supported keyword, named as in the suite.
const std::vector<std::string> kSuiteFiles = {
    "type.json",          "properties.json",       "required.json",       "additionalProperties.json",
    "enum.json",          "const.json",            "minimum.json",        "maximum.json",
    "exclusiveMinimum.json", "exclusiveMaximum.json", "items.json",       "minItems.json",
    "maxItems.json",      "minLength.json",        "maxLength.json",      "default.json",
    "boolean_schema.json"};

fs::path skip_list_path() {
#ifdef STRATA_JSON_SCHEMA_SUITE_SKIPS
  return STRATA_JSON_SCHEMA_SUITE_SKIPS;
#else
  // Next to this source file; __FILE__ is absolute under CMake and relative to the
  // repository root when compiled by hand from there.
  return fs::path(__FILE__).parent_path() / "json_schema_suite_skips.txt";
#endif
}

struct SuiteCase {
  std::string file;
  std::string group;
  std::string test;
  bool passed = false;
  std::string detail;  // why it failed, for the failure message
};

struct SkipEntry {
  std::string file;
  std::string group;  // "*" = every group in the file
  std::string test;   // "*" = every test in the group
  std::string reason;
  int line = 0;
  int matched = 0;

  bool matches(const SuiteCase& c) const {
    return file == c.file && (group == "*" || group == c.group) && (test == "*" || test == c.test);
  }
};

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r");
  if (first == std::string::npos) return "";
  const auto last = text.find_last_not_of(" \t\r");
  return text.substr(first, last - first + 1);
}

std::vector<std::string> split_fields(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream stream(line);
  std::string field;
  while (std::getline(stream, field, '|')) fields.push_back(trim(field));
  return fields;
}

// Returns the entries; malformed lines are reported as test failures.
std::vector<SkipEntry> read_skip_list(const fs::path& path) {
  std::vector<SkipEntry> entries;
  std::ifstream in(path);
  if (!in) {
    ADD_FAILURE() << "cannot read skip list " << path;
    return entries;
  }
  std::string line;
  for (int number = 1; std::getline(in, line); ++number) {
    const std::string text = trim(line);
    if (text.empty() || text.front() == '#') continue;
    const std::vector<std::string> fields = split_fields(text);
    if (fields.size() != 4 || fields[0].empty() || fields[1].empty() || fields[2].empty() ||
        fields[3].empty()) {
      ADD_FAILURE() << path << ":" << number
                    << ": expected `file.json | group | test | reason`, got: " << text;
      continue;
    }
    entries.push_back({fields[0], fields[1], fields[2], fields[3], number, 0});
  }
  return entries;
}

std::string describe_issues(const std::vector<SchemaIssue>& issues) {
  if (issues.empty()) return "no issues";
  std::string out;
  for (const SchemaIssue& issue : issues) out += "\n    " + format_issue(issue);
  return out;
}

void run_group(const std::string& file, const json& group, std::vector<SuiteCase>& cases) {
  const std::string group_name = group.at("description").get<std::string>();
  std::optional<JsonSchema> schema;
  std::string rejected;
  try {
    schema.emplace(group.at("schema"));
  } catch (const SchemaDefinitionError& e) {
    rejected = std::string("schema rejected: ") + e.what();
  }
  for (const json& test : group.at("tests")) {
    SuiteCase c{file, group_name, test.at("description").get<std::string>(), false, rejected};
    if (schema) {
      const std::vector<SchemaIssue> issues = schema->validate(test.at("data"));
      const bool expected_valid = test.at("valid").get<bool>();
      c.passed = issues.empty() == expected_valid;
      c.detail = "data " + test.at("data").dump() + " expected " +
                 (expected_valid ? "valid" : "invalid") + ", got " + describe_issues(issues);
    }
    cases.push_back(std::move(c));
  }
}

TEST(JsonSchemaSuite, Draft7SupportedKeywords) {
  const fs::path dir = STRATA_JSON_SCHEMA_SUITE_DIR;
  if (!fs::is_directory(dir)) {
    GTEST_SKIP() << "JSON-Schema-Test-Suite not found at " << dir
                 << " (install the json-schema-test-suite package or set STRATA_JSON_SCHEMA_SUITE_DIR)";
  }

  std::vector<SuiteCase> cases;
  for (const std::string& file : kSuiteFiles) {
    std::ifstream in(dir / file);
    ASSERT_TRUE(in) << "missing suite file " << (dir / file);
    const json groups = json::parse(in);
    for (const json& group : groups) run_group(file, group, cases);
  }

  std::vector<SkipEntry> skips = read_skip_list(skip_list_path());
  int passed = 0;
  int skipped = 0;
  for (const SuiteCase& c : cases) {
    bool listed = false;
    for (SkipEntry& entry : skips) {
      if (entry.matches(c)) {
        ++entry.matched;
        listed = true;
      }
    }
    const std::string name = c.file + " | " + c.group + " | " + c.test;
    if (listed) {
      ++skipped;
      if (c.passed) ADD_FAILURE() << name << ": listed in the skip list but passes; remove the entry";
    } else if (c.passed) {
      ++passed;
    } else {
      ADD_FAILURE() << name << ": " << c.detail;
    }
  }
  for (const SkipEntry& entry : skips) {
    if (entry.matched == 0) {
      ADD_FAILURE() << "skip list line " << entry.line << " matches no suite case: " << entry.file
                    << " | " << entry.group << " | " << entry.test;
    }
  }

  std::cout << "json-schema suite: " << passed << " passed, " << skipped << " skipped (listed), "
            << kSuiteFiles.size() << " files\n";
}

}  // namespace
}  // namespace strata::config
