// Canonical JSON for digests: object keys sorted (nlohmann::json keeps objects in a
// std::map), no insignificant whitespace, UTF-8 validated. The same value always yields the
// same bytes, so its SHA-256 can be recomputed by anyone who has the value.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

namespace strata::util {

// Throws nlohmann::json::type_error on invalid UTF-8 rather than emitting ambiguous bytes.
inline std::string canonical_json(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
}

}  // namespace strata::util
