/* Communicator handed to plugins by the host: collectives over one group of ranks.
 *
 * The host owns every communicator; a plugin never frees one it did not obtain from
 * split(). Backends (self, MPI, NCCL) live in the host and implement this table.
 * Thread safety: one communicator is used from one thread at a time; requests are waited
 * on from the thread that started them. Buffers must be on the device the backend serves
 * (CPU for MPI, CUDA for NCCL). A NULL `request` argument makes a call blocking; otherwise
 * the call starts the operation and the caller must pass the request to wait() exactly once. */
#ifndef STRATA_ABI_COMM_H
#define STRATA_ABI_COMM_H

#include "strata/abi/types.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct strata_comm_handle strata_comm_handle;   /* opaque, host-owned */
typedef struct strata_comm_request strata_comm_request; /* opaque, host-owned until wait() */

typedef enum strata_reduce_op {
  STRATA_REDUCE_SUM = 0,
  STRATA_REDUCE_MAX = 1,
  STRATA_REDUCE_MIN = 2
} strata_reduce_op;

struct strata_comm;

typedef struct strata_comm_api {
  uint32_t struct_size;
  uint32_t reserved;
  int32_t (*rank)(strata_comm_handle* comm);
  int32_t (*size)(strata_comm_handle* comm);
  /* recv = reduce(send) over all ranks; send may alias recv (in place). */
  strata_status (*allreduce)(strata_comm_handle* comm, const strata_buffer* send, strata_buffer* recv,
                             int32_t op, strata_comm_request** request);
  /* send holds size()*recv.count elements; rank r receives reduced block r. */
  strata_status (*reduce_scatter)(strata_comm_handle* comm, const strata_buffer* send, strata_buffer* recv,
                                  int32_t op, strata_comm_request** request);
  /* recv holds size()*send.count elements, rank-ordered. */
  strata_status (*allgather)(strata_comm_handle* comm, const strata_buffer* send, strata_buffer* recv,
                             strata_comm_request** request);
  strata_status (*broadcast)(strata_comm_handle* comm, strata_buffer* buffer, int32_t root,
                             strata_comm_request** request);
  strata_status (*send)(strata_comm_handle* comm, const strata_buffer* buffer, int32_t peer, int32_t tag,
                        strata_comm_request** request);
  strata_status (*recv)(strata_comm_handle* comm, strata_buffer* buffer, int32_t peer, int32_t tag,
                        strata_comm_request** request);
  strata_status (*barrier)(strata_comm_handle* comm);
  strata_status (*wait)(strata_comm_handle* comm, strata_comm_request* request);
  /* Ranks with the same colour form a new group ordered by key. The caller owns *out and
   * releases it with free_comm(). */
  strata_status (*split)(strata_comm_handle* comm, int32_t colour, int32_t key, struct strata_comm** out);
  void (*free_comm)(struct strata_comm* comm);
} strata_comm_api;
#define STRATA_COMM_API_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_comm_api, free_comm)

typedef struct strata_comm {
  uint32_t struct_size;
  uint32_t reserved;
  const strata_comm_api* api;
  strata_comm_handle* handle;
} strata_comm;
#define STRATA_COMM_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_comm, handle)

#ifdef __cplusplus
}
#endif
#endif
