// A DeviceTrainer that runs on the host: GptModel<float> and AdamW<float> behind the device
// interface, so that the runner's device path — single device and data parallelism over
// several, with the gradient buckets handed to the aggregation plugin as the backward
// completes them — is built and tested where there is no GPU (CI, this project's machines).
// Gradients stay in host memory, so the replicas' own communicator carries them.
//
// `strata run` uses it in place of the CUDA engine for `model.device = "cuda"` when the
// environment sets STRATA_EMULATE_DEVICE=1 (tools/strata/cmd_run.cpp), and says so in the log.
#pragma once

#include <memory>

#include "core/engine/device_trainer.hpp"

namespace strata::engine {

std::unique_ptr<DeviceTrainer> make_emulated_device_trainer(const GptConfig& config, int64_t max_batch,
                                                            int64_t max_seq, const DeviceAdamW& adamw, int local_rank);

}  // namespace strata::engine
