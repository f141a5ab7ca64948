// Strata's own schema for pipeline configs (schema_version 1). Unknown keys are errors
// everywhere (additionalProperties false), so a typo never silently falls back to a default.
#pragma once

#include <nlohmann/json.hpp>

namespace strata::config {

inline constexpr int kPipelineSchemaVersion = 1;
const nlohmann::json& pipeline_schema();

// Tiers that take exactly one plugin, and tiers that take a list run side by side.
inline constexpr const char* kSingleTiers[] = {"parallelism", "aggregation", "memory"};
inline constexpr const char* kListTiers[] = {"fairness", "explainability", "compliance"};

}  // namespace strata::config
