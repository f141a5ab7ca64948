// NCCL implementation of the SDK's communicator table for CUDA buffers.
#include "core/comm/nccl/nccl_backend.h"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstdio>
#include <memory>
#include <string>

namespace {

struct Comm {
  strata_comm table{};
  ncclComm_t nccl = nullptr;
  cudaStream_t stream = nullptr;
  int device = 0;
};

struct Request {
  cudaEvent_t done = nullptr;
};

Comm* of(strata_comm_handle* h) { return reinterpret_cast<Comm*>(h); }

bool nccl_type(uint32_t dtype, ncclDataType_t* out) {
  switch (dtype) {
    case STRATA_DTYPE_F32: *out = ncclFloat32; return true;
    case STRATA_DTYPE_F64: *out = ncclFloat64; return true;
    case STRATA_DTYPE_BF16: *out = ncclBfloat16; return true;
    case STRATA_DTYPE_F16: *out = ncclFloat16; return true;
    case STRATA_DTYPE_I32: *out = ncclInt32; return true;
    case STRATA_DTYPE_I64: *out = ncclInt64; return true;
    case STRATA_DTYPE_U8: *out = ncclUint8; return true;
    default: return false;
  }
}

bool nccl_op(int32_t op, ncclRedOp_t* out) {
  switch (op) {
    case STRATA_REDUCE_SUM: *out = ncclSum; return true;
    case STRATA_REDUCE_MAX: *out = ncclMax; return true;
    case STRATA_REDUCE_MIN: *out = ncclMin; return true;
    default: return false;
  }
}

bool on_device(const strata_buffer* b, const Comm* c) {
  return b != nullptr && b->device_kind == STRATA_DEVICE_CUDA && b->device_index == c->device;
}

// Blocking: wait for the stream. Started: an event for wait().
strata_status finish(ncclResult_t rc, Comm* c, strata_comm_request** request) {
  if (rc != ncclSuccess) return STRATA_COMM_ERROR;
  if (request == nullptr) return cudaStreamSynchronize(c->stream) == cudaSuccess ? STRATA_OK : STRATA_COMM_ERROR;
  auto r = std::make_unique<Request>();
  if (cudaEventCreateWithFlags(&r->done, cudaEventDisableTiming) != cudaSuccess) return STRATA_COMM_ERROR;
  if (cudaEventRecord(r->done, c->stream) != cudaSuccess) {
    cudaEventDestroy(r->done);
    return STRATA_COMM_ERROR;
  }
  *request = reinterpret_cast<strata_comm_request*>(r.release());
  return STRATA_OK;
}

int32_t rank(strata_comm_handle* h) {
  int r = -1;
  ncclCommUserRank(of(h)->nccl, &r);
  return r;
}
int32_t size(strata_comm_handle* h) {
  int n = 0;
  ncclCommCount(of(h)->nccl, &n);
  return n;
}

strata_status allreduce(strata_comm_handle* h, const strata_buffer* s, strata_buffer* r, int32_t op,
                        strata_comm_request** q) {
  Comm* c = of(h);
  ncclDataType_t t;
  ncclRedOp_t o;
  if (!on_device(s, c) || !on_device(r, c)) return STRATA_UNSUPPORTED;
  if (s->dtype != r->dtype || s->count != r->count || !nccl_type(r->dtype, &t) || !nccl_op(op, &o))
    return STRATA_INVALID_ARGUMENT;
  return finish(ncclAllReduce(s->data, r->data, r->count, t, o, c->nccl, c->stream), c, q);
}

strata_status reduce_scatter(strata_comm_handle* h, const strata_buffer* s, strata_buffer* r, int32_t op,
                             strata_comm_request** q) {
  Comm* c = of(h);
  ncclDataType_t t;
  ncclRedOp_t o;
  if (!on_device(s, c) || !on_device(r, c)) return STRATA_UNSUPPORTED;
  if (s->dtype != r->dtype || s->count != r->count * static_cast<uint64_t>(size(h)) || !nccl_type(r->dtype, &t) ||
      !nccl_op(op, &o))
    return STRATA_INVALID_ARGUMENT;
  return finish(ncclReduceScatter(s->data, r->data, r->count, t, o, c->nccl, c->stream), c, q);
}

strata_status allgather(strata_comm_handle* h, const strata_buffer* s, strata_buffer* r, strata_comm_request** q) {
  Comm* c = of(h);
  ncclDataType_t t;
  if (!on_device(s, c) || !on_device(r, c)) return STRATA_UNSUPPORTED;
  if (s->dtype != r->dtype || r->count != s->count * static_cast<uint64_t>(size(h)) || !nccl_type(s->dtype, &t))
    return STRATA_INVALID_ARGUMENT;
  return finish(ncclAllGather(s->data, r->data, s->count, t, c->nccl, c->stream), c, q);
}

strata_status broadcast(strata_comm_handle* h, strata_buffer* b, int32_t root, strata_comm_request** q) {
  Comm* c = of(h);
  ncclDataType_t t;
  if (!on_device(b, c)) return STRATA_UNSUPPORTED;
  if (!nccl_type(b->dtype, &t) || root < 0 || root >= size(h)) return STRATA_INVALID_ARGUMENT;
  return finish(ncclBroadcast(b->data, b->data, b->count, t, root, c->nccl, c->stream), c, q);
}

// Point to point. NCCL has no tags: messages between two ranks match in call order, so
// the tag must be 0 (the host's pipeline schedule keeps the order).
strata_status send(strata_comm_handle* h, const strata_buffer* b, int32_t peer, int32_t tag, strata_comm_request** q) {
  Comm* c = of(h);
  ncclDataType_t t;
  if (!on_device(b, c)) return STRATA_UNSUPPORTED;
  if (!nccl_type(b->dtype, &t) || peer < 0 || peer >= size(h) || tag != 0) return STRATA_INVALID_ARGUMENT;
  return finish(ncclSend(b->data, b->count, t, peer, c->nccl, c->stream), c, q);
}

strata_status recv(strata_comm_handle* h, strata_buffer* b, int32_t peer, int32_t tag, strata_comm_request** q) {
  Comm* c = of(h);
  ncclDataType_t t;
  if (!on_device(b, c)) return STRATA_UNSUPPORTED;
  if (!nccl_type(b->dtype, &t) || peer < 0 || peer >= size(h) || tag != 0) return STRATA_INVALID_ARGUMENT;
  return finish(ncclRecv(b->data, b->count, t, peer, c->nccl, c->stream), c, q);
}

// An all-reduce of one device word: NCCL has no barrier.
strata_status barrier(strata_comm_handle* h) {
  Comm* c = of(h);
  int* word = nullptr;
  if (cudaSetDevice(c->device) != cudaSuccess || cudaMallocAsync(reinterpret_cast<void**>(&word), sizeof(int), c->stream) != cudaSuccess)
    return STRATA_COMM_ERROR;
  const ncclResult_t rc = ncclAllReduce(word, word, 1, ncclInt32, ncclSum, c->nccl, c->stream);
  cudaFreeAsync(word, c->stream);
  return finish(rc, c, nullptr);
}

strata_status wait(strata_comm_handle*, strata_comm_request* request) {
  if (request == nullptr) return STRATA_OK;
  std::unique_ptr<Request> r(reinterpret_cast<Request*>(request));
  const bool ok = cudaEventSynchronize(r->done) == cudaSuccess;
  cudaEventDestroy(r->done);
  return ok ? STRATA_OK : STRATA_COMM_ERROR;
}

strata_status split(strata_comm_handle* h, int32_t colour, int32_t key, strata_comm** out);
void free_comm(strata_comm* comm);

const strata_comm_api kApi = {STRATA_COMM_API_STRUCT_SIZE, 0, &rank, &size, &allreduce, &reduce_scatter, &allgather,
                              &broadcast, &send, &recv, &barrier, &wait, &split, &free_comm};

Comm* make(ncclComm_t nccl, int device) {
  auto* c = new Comm;
  c->nccl = nccl;
  c->device = device;
  c->table = {STRATA_COMM_STRUCT_SIZE, 0, &kApi, reinterpret_cast<strata_comm_handle*>(c)};
  if (cudaSetDevice(device) != cudaSuccess || cudaStreamCreateWithFlags(&c->stream, cudaStreamNonBlocking) != cudaSuccess) {
    ncclCommDestroy(nccl);
    delete c;
    return nullptr;
  }
  return c;
}

strata_status split(strata_comm_handle* h, int32_t colour, int32_t key, strata_comm** out) {
  if (out == nullptr || colour < 0) return STRATA_INVALID_ARGUMENT;
  ncclComm_t sub = nullptr;
  if (ncclCommSplit(of(h)->nccl, colour, key, &sub, nullptr) != ncclSuccess || sub == nullptr) return STRATA_COMM_ERROR;
  Comm* c = make(sub, of(h)->device);
  if (c == nullptr) return STRATA_COMM_ERROR;
  *out = &c->table;
  return STRATA_OK;
}

void free_comm(strata_comm* comm) {
  if (comm == nullptr) return;
  Comm* c = of(comm->handle);
  cudaStreamSynchronize(c->stream);
  cudaStreamDestroy(c->stream);
  ncclCommDestroy(c->nccl);
  delete c;
}

}  // namespace

extern "C" strata_comm* strata_nccl_create(const strata_comm* bootstrap, int device, char* error,
                                           unsigned long error_size) {
  const auto fail = [&](const std::string& what) -> strata_comm* {
    if (error != nullptr && error_size > 0) std::snprintf(error, error_size, "%s", what.c_str());
    return nullptr;
  };
  if (bootstrap == nullptr) return fail("no bootstrap communicator");
  const int me = bootstrap->api->rank(bootstrap->handle), n = bootstrap->api->size(bootstrap->handle);
  if (const cudaError_t e = cudaSetDevice(device); e != cudaSuccess)
    return fail("cudaSetDevice(" + std::to_string(device) + "): " + cudaGetErrorString(e));
  // Rank 0's id and whether it got one, in one broadcast: a failure on rank 0 must not
  // leave the other ranks waiting for an id that never comes.
  struct {
    int32_t status;
    ncclUniqueId id;
  } hello{};
  ncclResult_t got = ncclSuccess;
  if (me == 0) {
    got = ncclGetUniqueId(&hello.id);
    hello.status = got == ncclSuccess ? 0 : 1;
  }
  strata_buffer b{&hello, sizeof hello, STRATA_DTYPE_U8, STRATA_DEVICE_CPU, 0};
  if (bootstrap->api->broadcast(bootstrap->handle, &b, 0, nullptr) != STRATA_OK)
    return fail("broadcasting the NCCL unique id over the bootstrap communicator failed");
  if (hello.status != 0)
    return fail(me == 0 ? std::string("ncclGetUniqueId: ") + ncclGetErrorString(got) : "rank 0 could not make an NCCL id");
  const ncclUniqueId& id = hello.id;
  ncclComm_t nccl = nullptr;
  if (const ncclResult_t rc = ncclCommInitRank(&nccl, n, id, me); rc != ncclSuccess)
    return fail(std::string("ncclCommInitRank: ") + ncclGetErrorString(rc));
  Comm* c = make(nccl, device);
  if (c == nullptr) return fail("cudaStreamCreate failed");
  return &c->table;
}

extern "C" void strata_nccl_destroy(strata_comm* comm) { free_comm(comm); }

extern "C" int strata_nccl_backend_version(void) { return STRATA_NCCL_BACKEND_VERSION; }

extern "C" void strata_nccl_abort(strata_comm* comm) {
  if (comm == nullptr) return;
  Comm* c = of(comm->handle);
  ncclCommAbort(c->nccl);  // cancels the queued operations; the stream can then be dropped
  cudaStreamDestroy(c->stream);
  delete c;
}

extern "C" int strata_nccl_order_after(strata_comm* comm, void* cuda_event) {
  if (comm == nullptr || cuda_event == nullptr) return static_cast<int>(cudaErrorInvalidValue);
  return static_cast<int>(cudaStreamWaitEvent(of(comm->handle)->stream, static_cast<cudaEvent_t>(cuda_event), 0));
}
