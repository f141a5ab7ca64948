/* The NCCL communicator backend (GPU buffers), a module the host loads at run time like the
 * MPI one, so `strata` links no CUDA. A communicator is made collectively from a bootstrap
 * communicator (the MPI world, or the self communicator of a one-process run): rank 0 makes
 * NCCL's unique id and the bootstrap broadcasts it. Collectives run on the communicator's
 * own CUDA stream; a blocking call synchronises it, a started one records an event that
 * wait() synchronises. That stream is not ordered after the caller's: a caller whose
 * kernels write a buffer on another stream must finish them (or make this stream wait on
 * an event) before handing the buffer over. C entry points, nothing throws across them. */
#ifndef STRATA_CORE_COMM_NCCL_BACKEND_H
#define STRATA_CORE_COMM_NCCL_BACKEND_H

#include "strata/abi/comm.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STRATA_NCCL_BACKEND_VERSION 3

/* Collective over `bootstrap`: every rank calls it with its CUDA device. NULL on error, with
 * the reason (naming the failing CUDA or NCCL call) in error[error_size]. */
typedef strata_comm* (*strata_nccl_create_fn)(const strata_comm* bootstrap, int device, char* error,
                                              unsigned long error_size);
typedef void (*strata_nccl_destroy_fn)(strata_comm* comm);
typedef int (*strata_nccl_backend_version_fn)(void);
typedef int (*strata_nccl_order_after_fn)(strata_comm* comm, void* cuda_event);

strata_comm* strata_nccl_create(const strata_comm* bootstrap, int device, char* error, unsigned long error_size);
void strata_nccl_destroy(strata_comm* comm);
int strata_nccl_backend_version(void);
/* Orders everything later queued on the communicator after `cuda_event` (a cudaEvent_t
 * recorded on the caller's stream): its stream waits for the event on the device, and the
 * host does not block. 0 on success, else the CUDA error code. */
int strata_nccl_order_after(strata_comm* comm, void* cuda_event);
/* Frees the communicator without waiting for what it has queued (ncclCommAbort): for error
 * paths, where an all-reduce the other ranks will never join would block a destroy. */
typedef void (*strata_nccl_abort_fn)(strata_comm* comm);
void strata_nccl_abort(strata_comm* comm);

#ifdef __cplusplus
}
#endif
#endif
