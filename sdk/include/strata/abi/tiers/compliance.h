/* Tier 6, compliance (interface 0.1): receives lifecycle events (common.on_event, which a
 * compliance plugin must provide) and may deny gated ones. Its denials are the only ones
 * the host honours. flush() is a durability barrier: when it returns OK, every event
 * delivered before it is durable; the host calls it before acknowledging a gate's outcome
 * to the user and at run end. */
#ifndef STRATA_ABI_TIERS_COMPLIANCE_H
#define STRATA_ABI_TIERS_COMPLIANCE_H

#include "strata/abi/plugin.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STRATA_COMPLIANCE_IFACE_MAJOR 0
#define STRATA_COMPLIANCE_IFACE_MINOR 1

typedef struct strata_compliance_v0 {
  strata_plugin_common common;
  /* Optional. */
  strata_status (*flush)(strata_instance* self);
} strata_compliance_v0;
#define STRATA_COMPLIANCE_V0_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_compliance_v0, flush)

#ifdef __cplusplus
}
#endif
#endif
