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
#define STRATA_AGGREGATION_IFACE_MINOR 2

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
  /* Optional (interface 0.2): non-zero when the plugin SUMS each bucket over the group and
   * relies on the host to have divided every rank's local gradient by the group size. The
   * host folds that division into the backward pass's loss scale, where it costs nothing,
   * and the mean comes out of the reduction without another pass over every gradient byte.
   * NULL or 0: the plugin produces the mean itself (the contract above). */
  int32_t (*sums_prescaled_gradients)(strata_instance* self);
} strata_aggregation_v0;
/* Tables of interface 0.1 end at preferred_bucket_bytes; the host reads a member only when
 * the plugin's struct_size covers it. */
#define STRATA_AGGREGATION_V0_1_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_aggregation_v0, preferred_bucket_bytes)
#define STRATA_AGGREGATION_V0_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_aggregation_v0, sums_prescaled_gradients)

#ifdef __cplusplus
}
#endif
#endif
