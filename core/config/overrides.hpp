// Command-line overrides of a JSON config: `--set /json/pointer=value`. The value is parsed
// as JSON when it parses (2, true, "x", [1,2], {"a":1}), else taken as a plain string, so
// `--set /name=my-run` works without shell-quoting JSON.
#pragma once

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>
#include <vector>

namespace strata::config {

struct Override {
  std::string pointer;   // RFC 6901, starts with '/'
  nlohmann::json value;
  std::string text;      // as given, for messages
};

class OverrideError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Parses "POINTER=VALUE". Throws OverrideError naming the argument when malformed.
Override parse_override(const std::string& argument);
// Sets the value, creating missing intermediate objects; an array index may be existing
// or "-" (append). Throws OverrideError when the path crosses a non-container.
void apply_override(nlohmann::json& document, const Override& override_value);

}  // namespace strata::config
