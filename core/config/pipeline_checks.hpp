// Rules of a pipeline config that span several fields, which JSON Schema cannot state:
// checked when the config is resolved, so `strata config check` reports them too, each
// with the JSON Pointer of the field to change.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace strata::config {

// `document` has the schema's defaults filled in. Appends one message per broken rule.
void check_cross_field_rules(const nlohmann::json& document, std::vector<std::string>& issues);

}  // namespace strata::config
