#include "core/config/overrides.hpp"

namespace strata::config {

Override parse_override(const std::string& argument) {
  const auto eq = argument.find('=');
  if (eq == std::string::npos)
    throw OverrideError("--set '" + argument + "': expected /json/pointer=value");
  Override o;
  o.pointer = argument.substr(0, eq);
  o.text = argument.substr(eq + 1);
  if (o.pointer.empty() || o.pointer[0] != '/')
    throw OverrideError("--set '" + argument + "': the pointer must start with '/' (e.g. /tiers/aggregation/plugin)");
  try {
    (void)nlohmann::json::json_pointer(o.pointer);
  } catch (const nlohmann::json::exception& e) {
    throw OverrideError("--set '" + argument + "': invalid JSON Pointer: " + e.what());
  }
  o.value = nlohmann::json::parse(o.text, nullptr, /*allow_exceptions=*/false);
  if (o.value.is_discarded()) o.value = o.text;  // not JSON: a plain string
  return o;
}

void apply_override(nlohmann::json& document, const Override& o) {
  const nlohmann::json::json_pointer target(o.pointer);
  // Walk the parents so the error can name the first one that is not a container.
  nlohmann::json::json_pointer parent = target.parent_pointer();
  std::vector<std::string> tokens;
  for (auto p = parent; !p.empty(); p = p.parent_pointer()) tokens.insert(tokens.begin(), p.back());
  nlohmann::json* node = &document;
  std::string walked;
  for (const auto& token : tokens) {
    walked += "/" + token;
    if (node->is_null()) *node = nlohmann::json::object();
    if (node->is_object()) {
      node = &(*node)[token];
    } else if (node->is_array()) {
      size_t index = 0;
      try {
        index = std::stoul(token);
      } catch (...) {
        throw OverrideError("--set " + o.pointer + ": " + walked + " indexes an array with '" + token + "'");
      }
      if (index >= node->size())
        throw OverrideError("--set " + o.pointer + ": " + walked + " is past the end of an array of " +
                            std::to_string(node->size()));
      node = &(*node)[index];
    } else {
      throw OverrideError("--set " + o.pointer + ": " + walked + " is a " + node->type_name() + ", not an object");
    }
  }
  // "/list/-" on a list that is not there yet starts the list.
  if (node->is_null()) *node = target.back() == "-" ? nlohmann::json::array() : nlohmann::json::object();
  if (!node->is_object() && !node->is_array())
    throw OverrideError("--set " + o.pointer + ": the parent is a " + std::string(node->type_name()) + ", not an object");
  try {
    document[target] = o.value;
  } catch (const nlohmann::json::exception& e) {
    throw OverrideError("--set " + o.pointer + ": " + e.what());
  }
}

}  // namespace strata::config
