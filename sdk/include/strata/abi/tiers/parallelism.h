/* Tier 1, parallelism strategy (interface 0.1): decides how ranks split the model.
 * The host calls plan() once per run, after config resolution and before any allocation,
 * on every rank with the same inputs; the plan must be a pure function of them so ranks
 * agree. The core executes the plan; the plugin never touches tensors. */
#ifndef STRATA_ABI_TIERS_PARALLELISM_H
#define STRATA_ABI_TIERS_PARALLELISM_H

#include "strata/abi/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STRATA_PARALLELISM_IFACE_MAJOR 0
#define STRATA_PARALLELISM_IFACE_MINOR 1

typedef struct strata_model_shape {
  uint32_t struct_size;
  uint32_t dtype;            /* training dtype of the weights */
  int64_t vocab_size;
  int64_t context;
  int64_t layers;
  int64_t heads;
  int64_t width;
  int64_t ffn_width;
  int64_t parameter_count;
  int64_t global_batch;      /* sequences per optimizer step, over all ranks */
} strata_model_shape;
#define STRATA_MODEL_SHAPE_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_model_shape, global_batch)

typedef struct strata_topology {
  uint32_t struct_size;
  int32_t world_size;
  int32_t rank;
  int32_t nodes;
  int32_t ranks_per_node;
  int32_t device_kind;       /* strata_device_kind of the compute devices */
  double intra_node_gbps;    /* measured or configured; 0 = unknown */
  double inter_node_gbps;
  uint64_t device_memory_bytes; /* per rank; 0 = unknown */
} strata_topology;
#define STRATA_TOPOLOGY_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_topology, device_memory_bytes)

typedef enum strata_pipeline_schedule {
  STRATA_SCHEDULE_NONE = 0,
  STRATA_SCHEDULE_1F1B = 1
} strata_pipeline_schedule;

#define STRATA_MAX_PIPELINE_STAGES 128
#define STRATA_PLAN_RATIONALE_BYTES 512
/* Host-owned, zero-initialised; the plugin fills it. Rank order is Megatron's:
 * tensor-parallel fastest, then data-parallel, then pipeline. */
typedef struct strata_parallel_plan {
  uint32_t struct_size;
  int32_t tp;
  int32_t pp;
  int32_t dp;
  int32_t micro_batch;       /* sequences per micro-batch per data-parallel rank */
  int32_t micro_batches;     /* per optimizer step (gradient accumulation) */
  int32_t zero_stage;        /* 0 or 1 (optimizer-state sharding) */
  int32_t schedule;          /* strata_pipeline_schedule */
  /* Stage s holds layers [stage_layer_begin[s], stage_layer_begin[s+1]); pp+1 entries used. */
  int32_t stage_layer_begin[STRATA_MAX_PIPELINE_STAGES + 1];
  char rationale[STRATA_PLAN_RATIONALE_BYTES]; /* why this layout: shown to the user */
} strata_parallel_plan;
#define STRATA_PARALLEL_PLAN_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_parallel_plan, rationale)

typedef struct strata_parallelism_v0 {
  strata_plugin_common common;
  strata_status (*plan)(strata_instance* self, const strata_model_shape* model,
                        const strata_topology* topology, strata_parallel_plan* out);
} strata_parallelism_v0;
#define STRATA_PARALLELISM_V0_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_parallelism_v0, plan)

#ifdef __cplusplus
}
#endif
#endif
