/* The plugin library contract: one exported entry symbol, a library descriptor listing the
 * plugins it holds, and the members every tier interface starts with.
 *
 * Load sequence (the host enforces each step; see docs/plugin-abi.md):
 *  1. The host checks the file exports STRATA_ENTRY_SYMBOL before running any of its code.
 *  2. It calls the entry with host_abi_major/minor and the services table filled in.
 *     The plugin writes plugin_abi_major/minor and its library descriptor. It returns
 *     STRATA_VERSION_MISMATCH if it cannot serve the host's major, after still writing its
 *     own version so the host can name both.
 *  3. The host validates every descriptor (sizes, non-NULL required members, known tiers,
 *     unique names) and keeps the library loaded for the rest of the process.
 * The entry must not throw, must not call into other plugins, and may be called more than
 * once (it returns the same static descriptor). */
#ifndef STRATA_ABI_PLUGIN_H
#define STRATA_ABI_PLUGIN_H

#include "strata/abi/events.h"
#include "strata/abi/host.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STRATA_ENTRY_SYMBOL "strata_plugin_negotiate"

typedef enum strata_tier {
  STRATA_TIER_PARALLELISM = 1,
  STRATA_TIER_AGGREGATION = 2,
  STRATA_TIER_MEMORY = 3,
  STRATA_TIER_FAIRNESS = 4,
  STRATA_TIER_EXPLAINABILITY = 5,
  STRATA_TIER_COMPLIANCE = 6
} strata_tier;
#define STRATA_TIER_COUNT 6

/* The first member of every tier's interface table. `struct_size` is the size of the whole
 * tier table, so the host can tell which tier functions a plugin built against an older
 * minor provides. Optional members may be NULL. */
typedef struct strata_plugin_common {
  uint32_t struct_size;
  uint32_t reserved;
  /* Create an instance. `host` and `ctx` outlive it: keep both, every service takes ctx.
   * Options come from host->options_json(ctx). On failure return a status after
   * host->set_error(ctx, why); *out is then ignored. */
  strata_status (*create)(const strata_host_services* host, strata_host_ctx* ctx, strata_instance** out);
  /* Release everything the instance owns, join its threads. Never fails. */
  void (*destroy)(strata_instance* self);
  /* Optional: bitmask of STRATA_EVENT_BIT(type) the instance wants; NULL = none. */
  uint64_t (*subscriptions)(strata_instance* self);
  /* Optional: handle one event. For gates (event->is_gate) `decision` is non-NULL; only
   * compliance plugins' denials are honoured. A non-OK status stops the run: keep that for
   * real failures (an audit log that cannot write), never for "deny". */
  strata_status (*on_event)(strata_instance* self, const strata_event* event, strata_decision* decision);
  /* Optional: save/restore the instance's state with the run's checkpoints. */
  strata_status (*save_state)(strata_instance* self, const strata_state_writer* writer);
  strata_status (*load_state)(strata_instance* self, const strata_state_reader* reader);
  /* Optional: parameters the host's optimizer should train (see strata_param). */
  strata_status (*parameters)(strata_instance* self, strata_param_list* out);
} strata_plugin_common;

/* One plugin inside a library. Static lifetime. */
typedef struct strata_plugin_entry {
  uint32_t struct_size;
  int32_t tier;                     /* strata_tier */
  uint16_t iface_major;             /* version of the tier interface the vtable implements */
  uint16_t iface_minor;
  uint32_t reserved;
  const char* name;                 /* unique across all loaded plugins: [a-z0-9][a-z0-9._-]* */
  const char* version;              /* the plugin's own semver */
  const char* description;          /* one line */
  const char* options_schema_json;  /* JSON Schema (draft-7 subset) of the options object; NULL = no options */
  /* Optional: 0 = cannot run on this machine (e.g. needs a GPU); the host then skips it
   * with a log line. NULL = always runnable. */
  int32_t (*score)(const strata_host_services* host);
  const void* vtable;               /* the tier's table, beginning with strata_plugin_common */
} strata_plugin_entry;
#define STRATA_PLUGIN_ENTRY_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_plugin_entry, vtable)

typedef struct strata_library_descriptor {
  uint32_t struct_size;
  uint32_t plugin_count;
  const char* library_name;
  const char* build_info;           /* compiler, flags, CUDA/NCCL versions: free text */
  const strata_plugin_entry* const* plugins;
  /* Optional: called once before the host unloads the library (usually never: libraries
   * stay loaded for the process lifetime). */
  void (*shutdown)(void);
} strata_library_descriptor;
#define STRATA_LIBRARY_DESCRIPTOR_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_library_descriptor, shutdown)

/* Frozen forever: it is the bootstrap. */
typedef struct strata_negotiation {
  uint32_t struct_size;
  uint16_t host_abi_major;          /* in */
  uint16_t host_abi_minor;          /* in: the highest minor the host supports */
  uint16_t plugin_abi_major;        /* out */
  uint16_t plugin_abi_minor;        /* out: the minor the plugin was built against */
  const strata_host_services* host; /* in: outlives the library */
  const strata_library_descriptor* library; /* out: static lifetime */
} strata_negotiation;
#define STRATA_NEGOTIATION_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_negotiation, library)

typedef strata_status (*strata_entry_fn)(strata_negotiation* negotiation);

#ifdef __cplusplus
}
#endif
#endif
