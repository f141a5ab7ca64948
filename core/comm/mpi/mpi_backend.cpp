// MPI implementation of the SDK's communicator table (CPU buffers). Each strata_comm owns an
// MPI_Comm; requests wrap MPI_Requests. Errors come back as status codes: MPI's error
// handler is set to MPI_ERRORS_RETURN so that a failing call is reported, not fatal.
#include "core/comm/mpi/mpi_backend.h"

#include <mpi.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>

namespace {

struct Comm {
  strata_comm table{};
  MPI_Comm mpi = MPI_COMM_NULL;
};

struct Request {
  MPI_Request mpi = MPI_REQUEST_NULL;
};

// The process's communicators, so finalize can free what plugins forgot. Only touched on
// the MPI thread (MPI_THREAD_FUNNELED).
struct Registry {
  std::set<Comm*> live;
  Comm* world = nullptr;
};
Registry& registry() {
  static Registry r;
  return r;
}

Comm* of(strata_comm_handle* h) { return reinterpret_cast<Comm*>(h); }

bool mpi_type(int32_t dtype, MPI_Datatype* out) {
  switch (dtype) {
    case STRATA_DTYPE_F32: *out = MPI_FLOAT; return true;
    case STRATA_DTYPE_F64: *out = MPI_DOUBLE; return true;
    case STRATA_DTYPE_I32: *out = MPI_INT32_T; return true;
    case STRATA_DTYPE_I64: *out = MPI_INT64_T; return true;
    case STRATA_DTYPE_U8: *out = MPI_UINT8_T; return true;
    default: return false;  // bf16/fp16 sums need a user op: not offered on CPU
  }
}

bool mpi_op(int32_t op, MPI_Op* out) {
  switch (op) {
    case STRATA_REDUCE_SUM: *out = MPI_SUM; return true;
    case STRATA_REDUCE_MAX: *out = MPI_MAX; return true;
    case STRATA_REDUCE_MIN: *out = MPI_MIN; return true;
    default: return false;
  }
}

bool on_cpu(const strata_buffer* b) { return b != nullptr && b->device_kind == STRATA_DEVICE_CPU; }

// MPI counts are int: the aggregation plugins bucket well below 2^31 elements.
bool fits(uint64_t count) { return count <= static_cast<uint64_t>(INT32_MAX); }

strata_status finish(int rc, MPI_Request req, strata_comm_request** request) {
  if (rc != MPI_SUCCESS) return STRATA_INTERNAL;
  if (request == nullptr) {
    if (req != MPI_REQUEST_NULL && MPI_Wait(&req, MPI_STATUS_IGNORE) != MPI_SUCCESS) return STRATA_INTERNAL;
    return STRATA_OK;
  }
  auto* r = new Request{req};
  *request = reinterpret_cast<strata_comm_request*>(r);
  return STRATA_OK;
}

int32_t rank(strata_comm_handle* h) {
  int r = -1;
  MPI_Comm_rank(of(h)->mpi, &r);
  return r;
}
int32_t size(strata_comm_handle* h) {
  int s = 0;
  MPI_Comm_size(of(h)->mpi, &s);
  return s;
}

strata_status allreduce(strata_comm_handle* h, const strata_buffer* send, strata_buffer* recv, int32_t op,
                        strata_comm_request** request) {
  MPI_Datatype t;
  MPI_Op o;
  if (!on_cpu(send) || !on_cpu(recv)) return STRATA_UNSUPPORTED;
  if (send->dtype != recv->dtype || send->count != recv->count || !fits(recv->count) || !mpi_type(recv->dtype, &t) ||
      !mpi_op(op, &o))
    return STRATA_INVALID_ARGUMENT;
  const void* s = send->data == recv->data ? MPI_IN_PLACE : send->data;
  MPI_Request req = MPI_REQUEST_NULL;
  const int rc = request == nullptr ? MPI_Allreduce(s, recv->data, static_cast<int>(recv->count), t, o, of(h)->mpi)
                                    : MPI_Iallreduce(s, recv->data, static_cast<int>(recv->count), t, o, of(h)->mpi, &req);
  return finish(rc, req, request);
}

strata_status reduce_scatter(strata_comm_handle* h, const strata_buffer* send, strata_buffer* recv, int32_t op,
                             strata_comm_request** request) {
  MPI_Datatype t;
  MPI_Op o;
  if (!on_cpu(send) || !on_cpu(recv)) return STRATA_UNSUPPORTED;
  const int n = size(h);
  if (send->dtype != recv->dtype || send->count != recv->count * static_cast<uint64_t>(n) || !fits(send->count) ||
      !mpi_type(recv->dtype, &t) || !mpi_op(op, &o))
    return STRATA_INVALID_ARGUMENT;
  MPI_Request req = MPI_REQUEST_NULL;
  const int c = static_cast<int>(recv->count);
  const int rc = request == nullptr ? MPI_Reduce_scatter_block(send->data, recv->data, c, t, o, of(h)->mpi)
                                    : MPI_Ireduce_scatter_block(send->data, recv->data, c, t, o, of(h)->mpi, &req);
  return finish(rc, req, request);
}

strata_status allgather(strata_comm_handle* h, const strata_buffer* send, strata_buffer* recv,
                        strata_comm_request** request) {
  MPI_Datatype t;
  if (!on_cpu(send) || !on_cpu(recv)) return STRATA_UNSUPPORTED;
  const int n = size(h);
  if (send->dtype != recv->dtype || recv->count != send->count * static_cast<uint64_t>(n) || !fits(recv->count) ||
      !mpi_type(recv->dtype, &t))
    return STRATA_INVALID_ARGUMENT;
  MPI_Request req = MPI_REQUEST_NULL;
  const int c = static_cast<int>(send->count);
  const int rc = request == nullptr ? MPI_Allgather(send->data, c, t, recv->data, c, t, of(h)->mpi)
                                    : MPI_Iallgather(send->data, c, t, recv->data, c, t, of(h)->mpi, &req);
  return finish(rc, req, request);
}

strata_status broadcast(strata_comm_handle* h, strata_buffer* buffer, int32_t root, strata_comm_request** request) {
  MPI_Datatype t;
  if (!on_cpu(buffer)) return STRATA_UNSUPPORTED;
  if (!fits(buffer->count) || !mpi_type(buffer->dtype, &t) || root < 0 || root >= size(h)) return STRATA_INVALID_ARGUMENT;
  MPI_Request req = MPI_REQUEST_NULL;
  const int c = static_cast<int>(buffer->count);
  const int rc = request == nullptr ? MPI_Bcast(buffer->data, c, t, root, of(h)->mpi)
                                    : MPI_Ibcast(buffer->data, c, t, root, of(h)->mpi, &req);
  return finish(rc, req, request);
}

strata_status send(strata_comm_handle* h, const strata_buffer* buffer, int32_t peer, int32_t tag,
                   strata_comm_request** request) {
  MPI_Datatype t;
  if (!on_cpu(buffer)) return STRATA_UNSUPPORTED;
  if (!fits(buffer->count) || !mpi_type(buffer->dtype, &t) || peer < 0 || peer >= size(h) || tag < 0)
    return STRATA_INVALID_ARGUMENT;
  MPI_Request req = MPI_REQUEST_NULL;
  const int c = static_cast<int>(buffer->count);
  const int rc = request == nullptr ? MPI_Send(buffer->data, c, t, peer, tag, of(h)->mpi)
                                    : MPI_Isend(buffer->data, c, t, peer, tag, of(h)->mpi, &req);
  return finish(rc, req, request);
}

strata_status recv(strata_comm_handle* h, strata_buffer* buffer, int32_t peer, int32_t tag,
                   strata_comm_request** request) {
  MPI_Datatype t;
  if (!on_cpu(buffer)) return STRATA_UNSUPPORTED;
  if (!fits(buffer->count) || !mpi_type(buffer->dtype, &t) || peer < 0 || peer >= size(h) || tag < 0)
    return STRATA_INVALID_ARGUMENT;
  MPI_Request req = MPI_REQUEST_NULL;
  const int c = static_cast<int>(buffer->count);
  const int rc = request == nullptr ? MPI_Recv(buffer->data, c, t, peer, tag, of(h)->mpi, MPI_STATUS_IGNORE)
                                    : MPI_Irecv(buffer->data, c, t, peer, tag, of(h)->mpi, &req);
  return finish(rc, req, request);
}

strata_status barrier(strata_comm_handle* h) {
  return MPI_Barrier(of(h)->mpi) == MPI_SUCCESS ? STRATA_OK : STRATA_INTERNAL;
}

strata_status wait(strata_comm_handle*, strata_comm_request* request) {
  if (request == nullptr) return STRATA_OK;
  std::unique_ptr<Request> r(reinterpret_cast<Request*>(request));
  return MPI_Wait(&r->mpi, MPI_STATUS_IGNORE) == MPI_SUCCESS ? STRATA_OK : STRATA_INTERNAL;
}

strata_status split(strata_comm_handle* h, int32_t colour, int32_t key, strata_comm** out);
void free_comm(strata_comm* comm);

const strata_comm_api kApi = {STRATA_COMM_API_STRUCT_SIZE, 0, &rank, &size, &allreduce, &reduce_scatter, &allgather,
                              &broadcast, &send, &recv, &barrier, &wait, &split, &free_comm};

Comm* make(MPI_Comm mpi) {
  auto* c = new Comm;
  c->mpi = mpi;
  c->table = {STRATA_COMM_STRUCT_SIZE, 0, &kApi, reinterpret_cast<strata_comm_handle*>(c)};
  registry().live.insert(c);
  return c;
}

strata_status split(strata_comm_handle* h, int32_t colour, int32_t key, strata_comm** out) {
  if (out == nullptr || colour < 0) return STRATA_INVALID_ARGUMENT;
  MPI_Comm sub = MPI_COMM_NULL;
  if (MPI_Comm_split(of(h)->mpi, colour, key, &sub) != MPI_SUCCESS) return STRATA_INTERNAL;
  MPI_Comm_set_errhandler(sub, MPI_ERRORS_RETURN);
  *out = &make(sub)->table;
  return STRATA_OK;
}

void free_comm(strata_comm* comm) {
  if (comm == nullptr) return;
  Comm* c = of(comm->handle);
  if (c == registry().world || registry().live.erase(c) == 0) return;  // the world is the host's
  MPI_Comm_free(&c->mpi);
  delete c;
}

}  // namespace

extern "C" const strata_comm* strata_mpi_world(char* error, unsigned long error_size) {
  auto fail = [&](const char* what) -> const strata_comm* {
    if (error != nullptr && error_size > 0) std::snprintf(error, error_size, "%s", what);
    return nullptr;
  };
  if (registry().world != nullptr) return &registry().world->table;
  int initialised = 0;
  MPI_Initialized(&initialised);
  if (!initialised) {
    int provided = 0;
    if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
      return fail("MPI_Init_thread failed");
    if (provided < MPI_THREAD_FUNNELED) return fail("the MPI library does not offer MPI_THREAD_FUNNELED");
  }
  MPI_Comm world = MPI_COMM_NULL;
  if (MPI_Comm_dup(MPI_COMM_WORLD, &world) != MPI_SUCCESS) return fail("MPI_Comm_dup(MPI_COMM_WORLD) failed");
  MPI_Comm_set_errhandler(world, MPI_ERRORS_RETURN);
  registry().world = make(world);
  return &registry().world->table;
}

extern "C" void strata_mpi_finalize(void) {
  auto& r = registry();
  for (Comm* c : r.live) {
    MPI_Comm_free(&c->mpi);
    delete c;
  }
  r.live.clear();
  r.world = nullptr;
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

extern "C" void strata_mpi_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }

extern "C" int strata_mpi_backend_version(void) { return STRATA_MPI_BACKEND_VERSION; }

extern "C" double strata_mpi_time_raw_allreduce(float* data, unsigned long count, int iterations) {
  if (registry().world == nullptr || count > static_cast<unsigned long>(INT32_MAX)) return -1;
  MPI_Comm comm = registry().world->mpi;
  if (MPI_Barrier(comm) != MPI_SUCCESS) return -1;
  const double t0 = MPI_Wtime();
  for (int i = 0; i < iterations; ++i)
    if (MPI_Allreduce(MPI_IN_PLACE, data, static_cast<int>(count), MPI_FLOAT, MPI_SUM, comm) != MPI_SUCCESS) return -1;
  double elapsed = MPI_Wtime() - t0, slowest = 0;
  if (MPI_Allreduce(&elapsed, &slowest, 1, MPI_DOUBLE, MPI_MAX, comm) != MPI_SUCCESS) return -1;
  return slowest;
}
