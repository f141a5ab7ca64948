#include "core/config/pipeline_schema.hpp"

namespace strata::config {

const nlohmann::json& pipeline_schema() {
  static const nlohmann::json schema = [] {
    nlohmann::json s = nlohmann::json::parse(R"json({
  "type": "object",
  "required": ["schema_version", "tiers"],
  "additionalProperties": false,
  "properties": {
    "schema_version": {"type": "integer", "enum": [1], "description": "version of this config format"},
    "name": {"type": "string", "minLength": 1, "default": "run"},
    "seed": {"type": "integer", "minimum": 0, "default": 1337},
    "log_level": {"enum": ["trace", "debug", "info", "warn", "error"], "default": "info"},
    "plugin_paths": {"type": "array", "items": {"type": "string", "minLength": 1}, "default": [],
                     "description": "extra folders searched for plugin libraries"},
    "model": {
      "type": "object", "additionalProperties": false, "default": {},
      "properties": {
        "kind": {"enum": ["bigram"], "default": "bigram",
                 "description": "bigram: a byte-level bigram language model (one logit table), the placeholder engine until the GPT engine lands"},
        "dtype": {"enum": ["fp32", "fp64"], "default": "fp32"}
      }
    },
    "data": {
      "type": "object", "additionalProperties": false, "default": {},
      "properties": {
        "paths": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1},
                  "default": ["/usr/share/games/fortunes"],
                  "description": "text files, or folders whose text files are read (binary files are skipped)"},
        "val_fraction": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "default": 0.1},
        "max_bytes": {"type": "integer", "minimum": 0, "default": 0, "description": "0 = no limit"}
      }
    },
    "train": {
      "type": "object", "additionalProperties": false, "default": {},
      "properties": {
        "steps": {"type": "integer", "minimum": 1, "default": 300},
        "batch_size": {"type": "integer", "minimum": 1, "default": 32},
        "seq_len": {"type": "integer", "minimum": 2, "default": 64},
        "lr": {"type": "number", "exclusiveMinimum": 0, "default": 0.05},
        "log_every": {"type": "integer", "minimum": 1, "default": 25},
        "eval_every": {"type": "integer", "minimum": 0, "default": 100, "description": "0 = only at the end"},
        "eval_batches": {"type": "integer", "minimum": 1, "default": 8},
        "memory_budget_mb": {"type": "number", "minimum": 0, "default": 0, "description": "0 = no budget"}
      }
    },
    "evaluation": {
      "type": "object", "additionalProperties": false, "default": {},
      "properties": {
        "attributes": {
          "type": "object", "default": {},
          "description": "attribute -> group -> keywords; a validation line belongs to a group when it contains one of its keywords",
          "additionalProperties": {"type": "object", "additionalProperties": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}}
        },
        "max_examples": {"type": "integer", "minimum": 1, "default": 2000}
      }
    },
    "explain": {
      "type": "object", "additionalProperties": false, "default": {},
      "properties": {
        "seq_len": {"type": "integer", "minimum": 1, "default": 16},
        "batch": {"type": "integer", "minimum": 1, "default": 1}
      }
    },
    "checkpoint": {
      "type": "object", "additionalProperties": false, "default": {},
      "properties": {
        "every": {"type": "integer", "minimum": 0, "default": 0, "description": "steps between checkpoints; 0 = only at the end"},
        "publish": {"type": "boolean", "default": false, "description": "request publication of the final checkpoint (a gated event)"}
      }
    },
    "release": {
      "type": "object", "additionalProperties": false, "default": {},
      "properties": {
        "request": {"type": "boolean", "default": false, "description": "request a release at the end of the run (a gated event)"}
      }
    },
    "events": {
      "type": "object", "additionalProperties": false, "default": {},
      "properties": {
        "step_every": {"type": "integer", "minimum": 1, "default": 50, "description": "publish step_end every N steps"}
      }
    },
    "tiers": {
      "type": "object", "additionalProperties": false,
      "required": ["parallelism", "aggregation", "memory"],
      "properties": {
        "parallelism": {},
        "aggregation": {},
        "memory": {},
        "fairness": {"type": "array", "default": [], "items": {}},
        "explainability": {"type": "array", "default": [], "items": {}},
        "compliance": {"type": "array", "default": [], "items": {}}
      }
    }
  }
})json");
    // One plugin selection: which plugin, and its options (checked against the plugin's own schema).
    const nlohmann::json selection = {
        {"type", "object"},
        {"additionalProperties", false},
        {"required", {"plugin"}},
        {"properties",
         {{"plugin", {{"type", "string"}, {"minLength", 1}}},
          {"options", {{"type", "object"}, {"default", nlohmann::json::object()}}}}}};
    auto& tiers = s["properties"]["tiers"]["properties"];
    for (const char* t : kSingleTiers) tiers[t] = selection;
    for (const char* t : kListTiers) tiers[t]["items"] = selection;
    return s;
  }();
  return schema;
}

}  // namespace strata::config
