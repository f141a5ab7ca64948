// The NCCL backend on one GPU (label gpu): a one-rank communicator bootstrapped over the
// self communicator runs every collective on device buffers with the right results, a
// started operation completes in wait(), split gives a working communicator, and CPU
// buffers or bad arguments are refused. Several GPUs (and so real reductions across
// ranks) need a multi-GPU machine, which this project has not been lent.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <vector>

#include "core/comm/nccl/nccl_backend.h"
#include "core/comm/self_comm.hpp"

namespace strata::comm {
namespace {

struct DeviceFloats {
  explicit DeviceFloats(const std::vector<float>& host) : n(host.size()) {
    EXPECT_EQ(cudaMalloc(reinterpret_cast<void**>(&p), n * sizeof(float)), cudaSuccess);
    EXPECT_EQ(cudaMemcpy(p, host.data(), n * sizeof(float), cudaMemcpyHostToDevice), cudaSuccess);
  }
  ~DeviceFloats() { cudaFree(p); }
  std::vector<float> download() const {
    std::vector<float> h(n);
    EXPECT_EQ(cudaMemcpy(h.data(), p, n * sizeof(float), cudaMemcpyDeviceToHost), cudaSuccess);
    return h;
  }
  strata_buffer buffer() const { return {p, n, STRATA_DTYPE_F32, STRATA_DEVICE_CUDA, 0}; }
  float* p = nullptr;
  size_t n;
};

class NcclComm : public ::testing::Test {
 protected:
  void SetUp() override {
    char error[512] = {};
    comm_ = strata_nccl_create(self_communicator(), 0, error, sizeof error);
    ASSERT_NE(comm_, nullptr) << error;
  }
  void TearDown() override { strata_nccl_destroy(comm_); }
  strata_comm* comm_ = nullptr;
  const strata_comm_api& api() const { return *comm_->api; }
};

std::vector<float> ramp(size_t n) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), 1.0f);
  return v;
}

TEST_F(NcclComm, OneRankCollectivesGiveTheirResults) {
  EXPECT_EQ(api().rank(comm_->handle), 0);
  EXPECT_EQ(api().size(comm_->handle), 1);
  DeviceFloats a(ramp(1000)), b(std::vector<float>(1000, -1.0f));
  strata_buffer sa = a.buffer(), sb = b.buffer();
  ASSERT_EQ(api().allreduce(comm_->handle, &sa, &sb, STRATA_REDUCE_SUM, nullptr), STRATA_OK);
  EXPECT_EQ(b.download(), ramp(1000)) << "a sum over one rank is a copy";
  ASSERT_EQ(api().allreduce(comm_->handle, &sa, &sa, STRATA_REDUCE_MAX, nullptr), STRATA_OK);  // in place
  EXPECT_EQ(a.download(), ramp(1000));
  DeviceFloats g(std::vector<float>(1000, 0.0f));
  strata_buffer sg = g.buffer();
  ASSERT_EQ(api().allgather(comm_->handle, &sa, &sg, nullptr), STRATA_OK);
  EXPECT_EQ(g.download(), ramp(1000));
  DeviceFloats r(std::vector<float>(1000, 0.0f));
  strata_buffer sr = r.buffer();
  ASSERT_EQ(api().reduce_scatter(comm_->handle, &sa, &sr, STRATA_REDUCE_SUM, nullptr), STRATA_OK);
  EXPECT_EQ(r.download(), ramp(1000));
  ASSERT_EQ(api().broadcast(comm_->handle, &sa, 0, nullptr), STRATA_OK);
  EXPECT_EQ(a.download(), ramp(1000));
  EXPECT_EQ(api().barrier(comm_->handle), STRATA_OK);
}

TEST_F(NcclComm, AStartedAllReduceCompletesInWait) {
  DeviceFloats a(ramp(1 << 20)), b(std::vector<float>(1 << 20, 0.0f));
  strata_buffer sa = a.buffer(), sb = b.buffer();
  strata_comm_request* request = nullptr;
  ASSERT_EQ(api().allreduce(comm_->handle, &sa, &sb, STRATA_REDUCE_SUM, &request), STRATA_OK);
  ASSERT_NE(request, nullptr);
  ASSERT_EQ(api().wait(comm_->handle, request), STRATA_OK);
  EXPECT_EQ(b.download(), ramp(1 << 20));
}

// strata_nccl_order_after: a collective queued after it waits for work on another stream
// (here an asynchronous copy from pinned memory that fills the source), without the host
// waiting for that stream.
TEST_F(NcclComm, OrderAfterMakesCollectivesWaitForAnotherStream) {
  const size_t n = 1 << 22;
  float* pinned = nullptr;
  ASSERT_EQ(cudaMallocHost(reinterpret_cast<void**>(&pinned), n * sizeof(float)), cudaSuccess);
  const std::vector<float> want = ramp(n);
  std::copy(want.begin(), want.end(), pinned);
  DeviceFloats a(std::vector<float>(n, 0.0f)), b(std::vector<float>(n, -1.0f));
  cudaStream_t other = nullptr;
  cudaEvent_t filled = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&other, cudaStreamNonBlocking), cudaSuccess);
  ASSERT_EQ(cudaEventCreateWithFlags(&filled, cudaEventDisableTiming), cudaSuccess);
  ASSERT_EQ(cudaMemcpyAsync(a.p, pinned, n * sizeof(float), cudaMemcpyHostToDevice, other), cudaSuccess);
  ASSERT_EQ(cudaEventRecord(filled, other), cudaSuccess);
  ASSERT_EQ(strata_nccl_order_after(comm_, filled), 0);
  strata_buffer sa = a.buffer(), sb = b.buffer();
  strata_comm_request* request = nullptr;
  ASSERT_EQ(api().allreduce(comm_->handle, &sa, &sb, STRATA_REDUCE_SUM, &request), STRATA_OK);
  ASSERT_EQ(api().wait(comm_->handle, request), STRATA_OK);
  EXPECT_EQ(b.download(), want) << "the all-reduce ran after the copy";
  EXPECT_NE(strata_nccl_order_after(comm_, nullptr), 0);
  cudaEventDestroy(filled);
  cudaStreamDestroy(other);
  cudaFreeHost(pinned);
}

TEST_F(NcclComm, SplitGivesAWorkingCommunicator) {
  strata_comm* sub = nullptr;
  ASSERT_EQ(api().split(comm_->handle, 0, 0, &sub), STRATA_OK);
  ASSERT_NE(sub, nullptr);
  DeviceFloats a(ramp(64)), b(std::vector<float>(64, 0.0f));
  strata_buffer sa = a.buffer(), sb = b.buffer();
  EXPECT_EQ(sub->api->allreduce(sub->handle, &sa, &sb, STRATA_REDUCE_SUM, nullptr), STRATA_OK);
  EXPECT_EQ(b.download(), ramp(64));
  sub->api->free_comm(sub);
}

TEST_F(NcclComm, HostBuffersAndBadArgumentsAreRefused) {
  std::vector<float> host = ramp(8);
  strata_buffer h{host.data(), host.size(), STRATA_DTYPE_F32, STRATA_DEVICE_CPU, 0};
  EXPECT_EQ(api().allreduce(comm_->handle, &h, &h, STRATA_REDUCE_SUM, nullptr), STRATA_UNSUPPORTED);
  DeviceFloats a(ramp(8)), b(ramp(4));
  strata_buffer sa = a.buffer(), sb = b.buffer();
  EXPECT_EQ(api().allreduce(comm_->handle, &sa, &sb, STRATA_REDUCE_SUM, nullptr), STRATA_INVALID_ARGUMENT);
  EXPECT_EQ(api().broadcast(comm_->handle, &sa, 1, nullptr), STRATA_INVALID_ARGUMENT) << "root outside the group";
  EXPECT_EQ(api().send(comm_->handle, &sa, 0, 5, nullptr), STRATA_INVALID_ARGUMENT) << "NCCL has no tags";
}

}  // namespace
}  // namespace strata::comm
