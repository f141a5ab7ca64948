/* Status codes returned by every call across the plugin boundary. 0 is success.
 * Details travel separately: a plugin reports a message with host->set_error() before it
 * returns a non-zero status, and the host shows that message to the user. */
#ifndef STRATA_ABI_STATUS_H
#define STRATA_ABI_STATUS_H

#include <stdint.h>

typedef int32_t strata_status;

enum {
  STRATA_OK = 0,
  STRATA_INVALID_ARGUMENT = 1, /* the caller passed something the callee cannot use (bad option, shape) */
  STRATA_UNSUPPORTED = 2,      /* valid request this plugin does not implement (dtype, device, layout) */
  STRATA_VERSION_MISMATCH = 3, /* ABI or interface version negotiation failed */
  STRATA_OUT_OF_MEMORY = 4,    /* host or device allocation failed */
  STRATA_DEVICE_ERROR = 5,     /* CUDA or other accelerator failure */
  STRATA_COMM_ERROR = 6,       /* MPI/NCCL failure: network, peer, or misuse of a communicator */
  STRATA_TIMEOUT = 7,          /* a bounded wait expired (watchdog) */
  STRATA_CANCELLED = 8,        /* the run is ending (SIGTERM/SIGINT); stop promptly */
  STRATA_NOT_FOUND = 9,        /* a named item (state key, plugin) does not exist */
  STRATA_DENIED = 10,          /* a policy refused the request */
  STRATA_INTERNAL = 11         /* a bug: an invariant broke, or a C++ exception was caught at the boundary */
};

/* Human-readable name of a status code; never NULL. */
static inline const char* strata_status_name(strata_status s) {
  switch (s) {
    case STRATA_OK: return "OK";
    case STRATA_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case STRATA_UNSUPPORTED: return "UNSUPPORTED";
    case STRATA_VERSION_MISMATCH: return "VERSION_MISMATCH";
    case STRATA_OUT_OF_MEMORY: return "OUT_OF_MEMORY";
    case STRATA_DEVICE_ERROR: return "DEVICE_ERROR";
    case STRATA_COMM_ERROR: return "COMM_ERROR";
    case STRATA_TIMEOUT: return "TIMEOUT";
    case STRATA_CANCELLED: return "CANCELLED";
    case STRATA_NOT_FOUND: return "NOT_FOUND";
    case STRATA_DENIED: return "DENIED";
    case STRATA_INTERNAL: return "INTERNAL";
    default: return "UNKNOWN_STATUS";
  }
}

#endif
