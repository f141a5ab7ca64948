// Plugin-side wrapper of a host communicator (strata_comm). Non-owning; cheap to copy.
// Failures throw strata::sdk::Error with the status the backend returned.
#pragma once

#include <string>

#include "strata/abi/comm.h"
#include "strata/cpp/error.hpp"

namespace strata::sdk {

class Comm {
 public:
  explicit Comm(const strata_comm* comm) : comm_(comm) {
    if (comm_ == nullptr || comm_->api == nullptr) throw Error(STRATA_INVALID_ARGUMENT, "null communicator");
  }
  int rank() const { return comm_->api->rank(comm_->handle); }
  int size() const { return comm_->api->size(comm_->handle); }

  // Blocking in-place all-reduce.
  void allreduce(strata_buffer& buffer, strata_reduce_op op = STRATA_REDUCE_SUM) const {
    check(comm_->api->allreduce(comm_->handle, &buffer, &buffer, op, nullptr), "allreduce");
  }
  // Starts an in-place all-reduce; pass the result to wait().
  strata_comm_request* start_allreduce(strata_buffer& buffer, strata_reduce_op op = STRATA_REDUCE_SUM) const {
    strata_comm_request* request = nullptr;
    check(comm_->api->allreduce(comm_->handle, &buffer, &buffer, op, &request), "allreduce");
    return request;
  }
  void wait(strata_comm_request* request) const {
    if (request != nullptr) check(comm_->api->wait(comm_->handle, request), "wait");
  }
  void broadcast(strata_buffer& buffer, int root) const {
    check(comm_->api->broadcast(comm_->handle, &buffer, root, nullptr), "broadcast");
  }
  void barrier() const { check(comm_->api->barrier(comm_->handle), "barrier"); }
  const strata_comm* raw() const { return comm_; }

 private:
  static void check(strata_status status, const char* what) {
    if (status != STRATA_OK)
      throw Error(status, std::string("communicator ") + what + " failed: " + strata_status_name(status));
  }
  const strata_comm* comm_;
};

}  // namespace strata::sdk
