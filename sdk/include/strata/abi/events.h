/* Lifecycle events the host publishes to plugins that subscribe (any tier may), and the
 * decision a compliance plugin returns for a gated event.
 *
 * Payloads are canonical JSON (sorted keys, no insignificant whitespace, UTF-8) so that
 * digests are reproducible; payload_sha256 is the lowercase hex SHA-256 of payload_json.
 * All strings are host-owned and valid only during the on_event call: copy what you keep. */
#ifndef STRATA_ABI_EVENTS_H
#define STRATA_ABI_EVENTS_H

#include "strata/abi/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum strata_event_type {
  STRATA_EVENT_RUN_START = 1,
  STRATA_EVENT_CONFIG_RESOLVED = 2,
  STRATA_EVENT_PLUGIN_LOADED = 3,          /* payload carries the library's SHA-256 */
  STRATA_EVENT_DATASET_OPENED = 4,         /* gate: before any data is read; denial stops the run */
  STRATA_EVENT_STEP_END = 5,               /* sampled: every `events.step_every` steps */
  STRATA_EVENT_CHECKPOINT_SAVED = 6,
  STRATA_EVENT_CHECKPOINT_PUBLISH_REQUESTED = 7, /* gate: denial skips publishing, the run goes on */
  STRATA_EVENT_EVAL_DONE = 8,
  STRATA_EVENT_RELEASE_REQUESTED = 9,      /* gate: denial refuses the release */
  STRATA_EVENT_RUN_END = 10,
  STRATA_EVENT_PLUGIN_CUSTOM = 11,         /* published by a plugin through host->publish_event */
  STRATA_EVENT_TYPE_COUNT = 12
} strata_event_type;

#define STRATA_EVENT_BIT(type) (1ull << (type))
#define STRATA_EVENT_ALL (~0ull)

typedef struct strata_event {
  uint32_t struct_size;
  int32_t type;            /* strata_event_type */
  const char* name;        /* "run_start", "dataset_opened", ... */
  int32_t is_gate;         /* non-zero: the decision argument is non-NULL and is honoured */
  int32_t rank;
  uint64_t sequence;       /* per-run, strictly increasing from 0 on each rank */
  int64_t step;            /* training step, -1 before the first */
  int64_t utc_ns;          /* wall clock, nanoseconds since the Unix epoch */
  const char* run_id;
  const char* payload_json;   /* canonical JSON object */
  const char* payload_sha256; /* hex of SHA-256(payload_json) */
} strata_event;
#define STRATA_EVENT_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_event, payload_sha256)

#define STRATA_DECISION_REASON_BYTES 1024
/* Host-owned, zero-initialised with allow. A plugin that denies sets deny = 1 and writes a
 * NUL-terminated reason the host shows the user and records. */
typedef struct strata_decision {
  uint32_t struct_size;
  int32_t deny;
  char reason[STRATA_DECISION_REASON_BYTES];
} strata_decision;
#define STRATA_DECISION_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_decision, reason)

#ifdef __cplusplus
}
#endif
#endif
