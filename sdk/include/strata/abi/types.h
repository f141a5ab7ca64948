/* Plain data that crosses the boundary: element types, devices, buffers, parameters and
 * plugin state. Everything is POD; nothing here owns memory unless a comment says so. */
#ifndef STRATA_ABI_TYPES_H
#define STRATA_ABI_TYPES_H

#include <stdint.h>

#include "strata/abi/status.h"
#include "strata/abi/version.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum strata_dtype {
  STRATA_DTYPE_INVALID = 0,
  STRATA_DTYPE_F32 = 1,
  STRATA_DTYPE_F64 = 2,
  STRATA_DTYPE_BF16 = 3,
  STRATA_DTYPE_F16 = 4,
  STRATA_DTYPE_I32 = 5,
  STRATA_DTYPE_I64 = 6,
  STRATA_DTYPE_U8 = 7
} strata_dtype;

static inline uint32_t strata_dtype_size(uint32_t dtype) {
  switch (dtype) {
    case STRATA_DTYPE_F32: case STRATA_DTYPE_I32: return 4;
    case STRATA_DTYPE_F64: case STRATA_DTYPE_I64: return 8;
    case STRATA_DTYPE_BF16: case STRATA_DTYPE_F16: return 2;
    case STRATA_DTYPE_U8: return 1;
    default: return 0;
  }
}

typedef enum strata_device_kind { STRATA_DEVICE_CPU = 0, STRATA_DEVICE_CUDA = 1 } strata_device_kind;

/* A typed view of memory the caller owns. Frozen layout (no struct_size): it is passed by
 * value and inside arrays. `data` may be NULL with count 0 to mean "absent".
 * For CUDA buffers, data is a device pointer; never dereference it on the host. */
typedef struct strata_buffer {
  void* data;
  uint64_t count;          /* elements, not bytes */
  uint32_t dtype;          /* strata_dtype */
  uint16_t device_kind;    /* strata_device_kind */
  uint16_t device_index;   /* CUDA ordinal; 0 on CPU */
} strata_buffer;

/* Parameters a plugin owns and wants the host's optimizer to train (a fairness adversary,
 * a classifier head). The plugin writes gradients into `grad` during its call; the host
 * steps the optimizer on (value, grad) and saves both with checkpoints. */
#define STRATA_PARAM_NO_WEIGHT_DECAY 1u
#define STRATA_MAX_DIMS 8
typedef struct strata_param {
  uint32_t struct_size;
  uint32_t flags;          /* STRATA_PARAM_* bits */
  const char* name;        /* unique within the plugin; static or plugin-owned for the instance lifetime */
  strata_buffer value;
  strata_buffer grad;      /* same shape and dtype as value */
  int32_t ndim;
  int32_t reserved;
  int64_t shape[STRATA_MAX_DIMS];
} strata_param;
#define STRATA_PARAM_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_param, shape)

/* Out-parameter of parameters(): arrays owned by the plugin, valid until the next
 * parameters() call or destroy; the strata_param objects themselves until destroy. */
typedef struct strata_param_list {
  uint32_t struct_size;
  uint32_t count;
  const strata_param* const* params;
} strata_param_list;
#define STRATA_PARAM_LIST_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_param_list, params)

/* Plugin state saved with the run's checkpoints, as named byte blobs (error-feedback
 * buffers, an adversary's weights, a log position). The host owns both tables; `put`
 * copies the bytes before it returns; `get` returns host-owned bytes valid for the
 * duration of the load_state call, or STRATA_NOT_FOUND. */
typedef struct strata_state_writer {
  uint32_t struct_size;
  void* ctx;
  strata_status (*put)(void* ctx, const char* key, const void* data, uint64_t bytes);
} strata_state_writer;
#define STRATA_STATE_WRITER_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_state_writer, put)

typedef struct strata_state_reader {
  uint32_t struct_size;
  void* ctx;
  strata_status (*get)(void* ctx, const char* key, const void** data, uint64_t* bytes);
} strata_state_reader;
#define STRATA_STATE_READER_STRUCT_SIZE STRATA_STRUCT_SIZE(strata_state_reader, get)

#ifdef __cplusplus
}
#endif
#endif
