/* Tier 2, gradient aggregation (interface 0.1): moves gradient buckets across the
 * data-parallel group. After wait() returns OK the bucket holds the MEAN gradient over the
 * group (a compressing aggregator keeps its error feedback in its own state).
 * The host calls start() for each bucket as soon as the backward pass has produced it, so
 * communication can overlap the rest of the backward pass, then wait() for every started
 * bucket, in start order, before the optimizer step. start() may complete synchronously and
 * set *pending to NULL; wait() is then not called for that bucket. */
#ifndef STRATA_ABI_TIERS_AGGREGATION_H
#define STRATA_ABI_TIERS_AGGREGATION_H

#include "strata/abi/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STRATA_AGGREGATION_IFACE_MAJOR 0
#define STRATA_AGGREGATION_IFACE_MINOR 1

typedef struct strata_agg_pending strata_agg_pending; /* opaque, plugin-owned until wait() */

typedef struct strata_grad_bucket {
  uint32_t struct_size;
  int32_t index;             /* 0..bucket_count-1, same on every rank */
  uint64_t offset;           /* element offset of this bucket in the flat gradient buffer */
  strata_buffer grads;       /* in/out: local gradient in, aggregated gradient out */
  int64_t step;
} strata_grad_bucket;
#define STRATA_GRAD_BUCKET_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_grad_bucket, step)

typedef struct strata_aggregation_v0 {
  strata_plugin_common common;
  /* comm is the data-parallel group, host-owned, valid until the matching wait(). */
  strata_status (*start)(strata_instance* self, const strata_comm* comm, strata_grad_bucket* bucket,
                         strata_agg_pending** pending);
  strata_status (*wait)(strata_instance* self, strata_agg_pending* pending);
  /* Optional: bucket size the plugin prefers; 0 or NULL = the host's configured size. */
  uint64_t (*preferred_bucket_bytes)(strata_instance* self);
} strata_aggregation_v0;
#define STRATA_AGGREGATION_V0_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_aggregation_v0, preferred_bucket_bytes)

#ifdef __cplusplus
}
#endif
#endif
