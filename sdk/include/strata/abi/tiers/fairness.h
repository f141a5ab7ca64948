/* Tier 4, fairness (interface 0.1): sees representations, logits, labels and group
 * attributes. During training it may write a gradient into representation_grad (adversarial
 * debiasing reverses its adversary's gradient into the representation) and train its own
 * parameters (common.parameters); during evaluation it accumulates, and at the end reports
 * metrics through host->emit_metric and artifacts through host->write_artifact. */
#ifndef STRATA_ABI_TIERS_FAIRNESS_H
#define STRATA_ABI_TIERS_FAIRNESS_H

#include "strata/abi/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STRATA_FAIRNESS_IFACE_MAJOR 0
#define STRATA_FAIRNESS_IFACE_MINOR 1

typedef struct strata_fairness_batch {
  uint32_t struct_size;
  int32_t training;              /* non-zero inside a training step */
  int64_t step;
  int64_t count;                 /* examples in the batch */
  int64_t representation_dim;
  int64_t classes;
  uint32_t attribute_count;
  uint32_t reserved;
  const char* const* attribute_names; /* attribute_count names ("gender", "religion") */
  const char* const* group_names;     /* optional: per attribute, NULL-terminated list of group names */
  strata_buffer representations;  /* count x representation_dim, may be absent */
  strata_buffer logits;           /* count x classes, may be absent */
  strata_buffer labels;           /* count (I32 class or F32/F64 target), may be absent */
  strata_buffer scores;           /* count (F32/F64), the model's score per example, may be absent */
  strata_buffer groups;           /* count x attribute_count I32 group ids; -1 = unknown */
  strata_buffer representation_grad; /* out (training only): count x representation_dim, added
                                        to dL/drepresentations; absent when not wanted */
  double loss;                    /* out: the plugin's own loss for this batch (0 if none) */
} strata_fairness_batch;
#define STRATA_FAIRNESS_BATCH_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_fairness_batch, loss)

typedef struct strata_fairness_v0 {
  strata_plugin_common common;
  /* Optional: a training batch. */
  strata_status (*train_step)(strata_instance* self, strata_fairness_batch* batch);
  /* Evaluation: called for every batch of an evaluation pass, then finish_evaluation once. */
  strata_status (*evaluate)(strata_instance* self, const strata_fairness_batch* batch);
  strata_status (*finish_evaluation)(strata_instance* self, int64_t step);
} strata_fairness_v0;
#define STRATA_FAIRNESS_V0_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_fairness_v0, finish_evaluation)

#ifdef __cplusplus
}
#endif
#endif
