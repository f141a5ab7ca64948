/* Host services: the only way a plugin reaches the host.
 *
 * Each plugin instance gets its own strata_host_ctx (opaque, host-owned, alive until the
 * instance is destroyed); every service takes it first so the host knows who is calling
 * (log lines and metrics carry the plugin's name; errors land in that instance's slot).
 * Thread safety: log, alloc, free, emit_metric, is_cancelled and the clocks may be called
 * from any thread. The others must be called from the thread that is inside a call from the
 * host (an instance is never called from two threads at once), and set_error from the thread
 * that will return the failing status. */
#ifndef STRATA_ABI_HOST_H
#define STRATA_ABI_HOST_H

#include "strata/abi/comm.h"
#include "strata/abi/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct strata_host_ctx strata_host_ctx;   /* opaque, host-owned */
typedef struct strata_instance strata_instance;   /* opaque, plugin-owned */

typedef enum strata_log_level {
  STRATA_LOG_TRACE = 0,
  STRATA_LOG_DEBUG = 1,
  STRATA_LOG_INFO = 2,
  STRATA_LOG_WARN = 3,
  STRATA_LOG_ERROR = 4
} strata_log_level;

/* A plugin instance created by the host on behalf of another plugin (for options that name
 * a plugin, e.g. a hierarchical aggregator wrapping a compression codec). The creating
 * plugin owns it and releases it with destroy_child(); `vtable` is the child's tier table. */
typedef struct strata_child {
  uint32_t struct_size;
  int32_t tier;
  strata_instance* instance;
  const void* vtable;
} strata_child;
#define STRATA_CHILD_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_child, vtable)

typedef struct strata_host_services {
  uint32_t struct_size;
  uint16_t abi_major;
  uint16_t abi_minor;

  /* Log into the host's sinks (console, run log), tagged with the plugin's name. */
  void (*log)(strata_host_ctx* ctx, int32_t level, const char* message);
  /* Record the message for the status the plugin is about to return. Copied. */
  void (*set_error)(strata_host_ctx* ctx, const char* message);
  /* The instance's options as a JSON object, validated against the plugin's schema with
   * defaults filled in. Valid for the instance's lifetime. */
  const char* (*options_json)(strata_host_ctx* ctx);
  /* Host-tracked allocation (counted in the run's memory report). alignment: power of 2;
   * device: strata_device_kind. Returns NULL on failure. Free with free() only. */
  void* (*alloc)(strata_host_ctx* ctx, uint64_t bytes, uint64_t alignment, int32_t device);
  void (*free)(strata_host_ctx* ctx, void* ptr);
  /* A scalar metric for metrics.jsonl, named "<plugin>.<name>". step -1 = run-level. */
  strata_status (*emit_metric)(strata_host_ctx* ctx, const char* name, double value, int64_t step);
  /* A custom event for subscribers (STRATA_EVENT_PLUGIN_CUSTOM); payload is a JSON object. */
  strata_status (*publish_event)(strata_host_ctx* ctx, const char* name, const char* payload_json);
  /* Write a file under <run dir>/artifacts/<plugin>/relative_path atomically
   * (temp file, fsync, rename). relative_path must not escape that folder. */
  strata_status (*write_artifact)(strata_host_ctx* ctx, const char* relative_path, const void* data,
                                  uint64_t bytes);
  /* Non-zero once the run is ending (SIGTERM/SIGINT): long loops should stop and return
   * STRATA_CANCELLED. */
  int32_t (*is_cancelled)(strata_host_ctx* ctx);
  uint64_t (*monotonic_ns)(strata_host_ctx* ctx);
  int64_t (*utc_ns)(strata_host_ctx* ctx);
  /* The run directory; NULL outside a run (e.g. `strata plugins inspect`). */
  const char* (*run_dir)(strata_host_ctx* ctx);
  /* The world communicator; never NULL (size 1 without MPI). Host-owned. */
  const strata_comm* (*world)(strata_host_ctx* ctx);
  /* Create another plugin by tier and name with the given options JSON (validated against
   * that plugin's schema; NULL = defaults). */
  strata_status (*create_child)(strata_host_ctx* ctx, int32_t tier, const char* name,
                                const char* options_json, strata_child* out);
  void (*destroy_child)(strata_host_ctx* ctx, strata_child* child);
} strata_host_services;
#define STRATA_HOST_SERVICES_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_host_services, destroy_child)

#ifdef __cplusplus
}
#endif
#endif
