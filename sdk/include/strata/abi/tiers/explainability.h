/* Tier 5, explainability (interface 0.1): turns tokens, attention maps and their gradients
 * into explanations, written as artifacts. Several explainers may run side by side on the
 * same input. The host captures attention (and its gradient when any explainer asks for it
 * through requirements()) only for explanation batches, since capture costs T x T memory. */
#ifndef STRATA_ABI_TIERS_EXPLAINABILITY_H
#define STRATA_ABI_TIERS_EXPLAINABILITY_H

#include "strata/abi/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STRATA_EXPLAINABILITY_IFACE_MAJOR 0
#define STRATA_EXPLAINABILITY_IFACE_MINOR 1

#define STRATA_EXPLAIN_NEEDS_ATTENTION_GRAD 1u

typedef struct strata_explain_input {
  uint32_t struct_size;
  uint32_t reserved;
  int64_t step;
  int64_t batch;
  int64_t seq;
  int64_t layers;
  int64_t heads;
  strata_buffer tokens;          /* batch x seq, I32 */
  const char* const* token_text; /* optional: batch*seq decoded tokens */
  strata_buffer attention;       /* layers x batch x heads x seq x seq probabilities */
  strata_buffer attention_grad;  /* same shape: dLoss/dattention; absent unless requested */
  strata_buffer logits;          /* optional: batch x classes */
  strata_buffer labels;          /* optional: batch, I32 */
} strata_explain_input;
#define STRATA_EXPLAIN_INPUT_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_explain_input, labels)

typedef struct strata_explainability_v0 {
  strata_plugin_common common;
  /* Optional: STRATA_EXPLAIN_NEEDS_* bits; NULL = attention only. */
  uint32_t (*requirements)(strata_instance* self);
  strata_status (*explain)(strata_instance* self, const strata_explain_input* input);
} strata_explainability_v0;
#define STRATA_EXPLAINABILITY_V0_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_explainability_v0, explain)

#ifdef __cplusplus
}
#endif
#endif
