/* Tier 3, memory planning (interface 0.1): decides which layer activations to keep and
 * which to recompute (or offload) under a memory budget. The host measures each layer once
 * (profiles), calls plan(), and executes the decisions in the forward/backward passes. */
#ifndef STRATA_ABI_TIERS_MEMORY_H
#define STRATA_ABI_TIERS_MEMORY_H

#include "strata/abi/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STRATA_MEMORY_IFACE_MAJOR 0
#define STRATA_MEMORY_IFACE_MINOR 1

typedef struct strata_layer_profile {
  uint32_t struct_size;
  int32_t index;
  const char* name;          /* "block.3", "lm_head" */
  uint64_t activation_bytes; /* saved for backward if kept */
  uint64_t parameter_bytes;
  double forward_flops;
  double forward_seconds;    /* measured; 0 = not measured */
} strata_layer_profile;
#define STRATA_LAYER_PROFILE_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_layer_profile, forward_seconds)

typedef enum strata_memory_decision {
  STRATA_MEMORY_KEEP = 0,
  STRATA_MEMORY_RECOMPUTE = 1,
  STRATA_MEMORY_OFFLOAD = 2
} strata_memory_decision;

#define STRATA_MEMORY_RATIONALE_BYTES 512
typedef struct strata_memory_plan {
  uint32_t struct_size;
  uint32_t layer_count;
  int32_t* decisions;                /* host-owned array of layer_count; plugin fills */
  uint64_t planned_activation_bytes; /* out: peak activation bytes the plan expects */
  double planned_recompute_flops;    /* out: extra FLOPs per step the plan costs */
  char rationale[STRATA_MEMORY_RATIONALE_BYTES];
} strata_memory_plan;
#define STRATA_MEMORY_PLAN_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_memory_plan, rationale)

typedef struct strata_memory_v0 {
  strata_plugin_common common;
  /* layers: array of count pointers (an array of pointers, so the profile struct can grow). */
  strata_status (*plan)(strata_instance* self, const strata_layer_profile* const* layers, uint32_t count,
                        uint64_t budget_bytes, strata_memory_plan* out);
} strata_memory_v0;
#define STRATA_MEMORY_V0_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_memory_v0, plan)

#ifdef __cplusplus
}
#endif
#endif
