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
      "description": "a GPT-2 style decoder (pre-LN, GELU, tied embeddings); vocab_size comes from the tokenizer",
      "properties": {
        "context": {"type": "integer", "minimum": 2, "default": 128, "description": "maximum sequence length"},
        "layers": {"type": "integer", "minimum": 1, "default": 4},
        "heads": {"type": "integer", "minimum": 1, "default": 4},
        "width": {"type": "integer", "minimum": 1, "default": 128, "description": "must be divisible by heads"},
        "dtype": {"enum": ["fp32", "fp64"], "default": "fp32", "description": "fp64 is for exact-equivalence checks"},
        "device": {"enum": ["cpu", "cuda"], "default": "cpu", "description": "where training runs: cuda trains on one GPU (bf16 compute, fp32 master weights) in a CUDA build"}
      }
    },
    "data": {
      "type": "object", "additionalProperties": false, "default": {},
      "properties": {
        "text": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1},
                 "default": ["/usr/share/games/fortunes"],
                 "description": "text files, or folders whose text files are read (binary files are skipped); tokenized at the start of the run"},
        "prepared": {"type": "string", "minLength": 1,
                     "description": "instead of text: the prefix of token files made by `strata data prepare` (PREFIX.train.tok, PREFIX.val.tok)"},
        "tokenizer": {"type": "string", "minLength": 1, "default": "byte",
                      "description": "byte, bpe:N (learn an N-token byte-level BPE from the training text), or a folder with vocab.json and merges.txt"},
        "val_fraction": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1, "default": 0.1},
        "max_bytes": {"type": "integer", "minimum": 0, "default": 0, "description": "read at most this much text; 0 = no limit"}
      }
    },
    "train": {
      "type": "object", "additionalProperties": false, "default": {},
      "properties": {
        "steps": {"type": "integer", "minimum": 1, "default": 300},
        "batch_size": {"type": "integer", "minimum": 1, "default": 16, "description": "sequences per optimizer step, over all ranks"},
        "seq_len": {"type": "integer", "minimum": 1, "default": 128, "description": "at most model.context"},
        "lr": {"type": "number", "exclusiveMinimum": 0, "default": 0.001},
        "min_lr": {"type": "number", "minimum": 0, "default": 0.0001},
        "warmup_steps": {"type": "integer", "minimum": 0, "default": 20},
        "weight_decay": {"type": "number", "minimum": 0, "default": 0.1},
        "beta1": {"type": "number", "minimum": 0, "exclusiveMaximum": 1, "default": 0.9},
        "beta2": {"type": "number", "minimum": 0, "exclusiveMaximum": 1, "default": 0.95},
        "eps": {"type": "number", "exclusiveMinimum": 0, "default": 1e-8},
        "grad_clip": {"type": "number", "minimum": 0, "default": 1.0, "description": "global L2 norm; 0 = off"},
        "overlap_grad_reduce": {"type": "boolean", "default": true, "description": "start gradient buckets while the last micro-batch's backward pass goes on"},
        "log_every": {"type": "integer", "minimum": 1, "default": 25},
        "eval_every": {"type": "integer", "minimum": 0, "default": 100, "description": "0 = only at the end"},
        "eval_batches": {"type": "integer", "minimum": 1, "default": 8},
        "memory_budget_mb": {"type": "number", "minimum": 0, "default": 0, "description": "0 = no budget"},
        "resume": {"type": "string", "minLength": 1, "description": "a checkpoint directory to continue from"}
      }
    },
    "sample": {
      "type": "object", "additionalProperties": false, "default": {},
      "properties": {
        "prompt": {"type": "string", "minLength": 1, "default": "The "},
        "tokens": {"type": "integer", "minimum": 0, "default": 200, "description": "0 = no sample at the end"},
        "temperature": {"type": "number", "exclusiveMinimum": 0, "default": 0.8},
        "top_k": {"type": "integer", "minimum": 0, "default": 40, "description": "0 = no top-k cut"}
      }
    },
    "evaluation": {
      "type": "object", "additionalProperties": false, "default": {},
      "properties": {
        "attributes": {
          "type": "object", "default": {},
          "description": "attribute -> group -> keywords; a validation document belongs to the first group one of whose keywords it contains as a whole word (case-insensitive)",
          "additionalProperties": {"type": "object", "additionalProperties": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}}}
        },
        "max_examples": {"type": "integer", "minimum": 1, "default": 256, "description": "how many validation documents (the first ones) are scored and grouped"}
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
    "watchdog": {
      "type": "object", "additionalProperties": false, "default": {},
      "properties": {
        "timeout_s": {"type": "number", "minimum": 0, "default": 300,
                      "description": "distributed runs: report and end a rank that waits this long in one collective (0: never)"}
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
