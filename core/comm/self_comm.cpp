#include "core/comm/self_comm.hpp"

#include <cstring>

namespace strata::comm {
namespace {

uint64_t bytes_of(const strata_buffer* b) { return b->count * strata_dtype_size(b->dtype); }

strata_status copy(const strata_buffer* send, strata_buffer* recv) {
  if (send == nullptr || recv == nullptr) return STRATA_INVALID_ARGUMENT;
  if (send->dtype != recv->dtype || send->count != recv->count) return STRATA_INVALID_ARGUMENT;
  if (send->device_kind != STRATA_DEVICE_CPU || recv->device_kind != STRATA_DEVICE_CPU) return STRATA_UNSUPPORTED;
  if (send->data != recv->data) std::memmove(recv->data, send->data, bytes_of(send));
  return STRATA_OK;
}

void done(strata_comm_request** request) {
  if (request != nullptr) *request = nullptr;  // completed synchronously; wait(NULL) is a no-op
}

int32_t rank(strata_comm_handle*) { return 0; }
int32_t size(strata_comm_handle*) { return 1; }
strata_status allreduce(strata_comm_handle*, const strata_buffer* s, strata_buffer* r, int32_t, strata_comm_request** q) {
  done(q);
  return copy(s, r);
}
strata_status reduce_scatter(strata_comm_handle*, const strata_buffer* s, strata_buffer* r, int32_t,
                             strata_comm_request** q) {
  done(q);
  return copy(s, r);
}
strata_status allgather(strata_comm_handle*, const strata_buffer* s, strata_buffer* r, strata_comm_request** q) {
  done(q);
  return copy(s, r);
}
strata_status broadcast(strata_comm_handle*, strata_buffer*, int32_t root, strata_comm_request** q) {
  done(q);
  return root == 0 ? STRATA_OK : STRATA_INVALID_ARGUMENT;
}
// A process alone has no peer to talk to.
strata_status send(strata_comm_handle*, const strata_buffer*, int32_t, int32_t, strata_comm_request**) {
  return STRATA_INVALID_ARGUMENT;
}
strata_status recv(strata_comm_handle*, strata_buffer*, int32_t, int32_t, strata_comm_request**) {
  return STRATA_INVALID_ARGUMENT;
}
strata_status barrier(strata_comm_handle*) { return STRATA_OK; }
strata_status wait(strata_comm_handle*, strata_comm_request*) { return STRATA_OK; }
strata_status split(strata_comm_handle*, int32_t, int32_t, strata_comm** out) {
  *out = const_cast<strata_comm*>(self_communicator());
  return STRATA_OK;
}
void free_comm(strata_comm*) {}  // the self communicator is static

}  // namespace

const strata_comm* self_communicator() {
  static const strata_comm_api api{STRATA_COMM_API_STRUCT_SIZE, 0, &rank, &size, &allreduce, &reduce_scatter,
                                   &allgather, &broadcast, &send, &recv, &barrier, &wait, &split, &free_comm};
  static const strata_comm comm{STRATA_COMM_STRUCT_SIZE, 0, &api, nullptr};
  return &comm;
}

}  // namespace strata::comm
