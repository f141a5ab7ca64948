#include "core/engine/device_module.hpp"

#include <dlfcn.h>

#include <filesystem>
#include <stdexcept>
#include <string>

#include "core/engine/device_module_abi.hpp"

namespace strata::engine {
namespace {

namespace fs = std::filesystem;

fs::path cuda_module_path() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return exe.parent_path().parent_path() / STRATA_DEVICE_MODULE_RELATIVE_DIR / "libstrata_engine_cuda.so";
}

// Loaded once per process and kept: trainers made by it live in its code.
StrataCudaTrainerCreate load_create() {
  static StrataCudaTrainerCreate create = [] {
    const fs::path path = cuda_module_path();
    std::error_code ec;
    if (!fs::exists(path, ec))
      throw std::runtime_error("/model/device is \"cuda\" but this strata was built without CUDA (no " +
                               path.string() + "; configure with -DSTRATA_CUDA=ON where nvcc is installed)");
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr)
      throw std::runtime_error("cannot load the CUDA engine " + path.string() + ": " + ::dlerror() +
                               " (are the CUDA runtime and cuBLAS libraries installed?)");
    const auto fn = reinterpret_cast<StrataCudaTrainerCreate>(::dlsym(handle, kStrataCudaTrainerCreateSymbol));
    if (fn == nullptr) throw std::runtime_error(path.string() + " does not export " + kStrataCudaTrainerCreateSymbol);
    return fn;
  }();
  return create;
}

}  // namespace

DeviceTrainerFactory cuda_trainer_from_module() {
  return [](const GptConfig& config, int64_t max_batch, int64_t max_seq, const DeviceAdamW& adamw,
            int local_rank) -> std::unique_ptr<DeviceTrainer> {
    const StrataCudaTrainerCreate create = load_create();
    char error[1024] = {};
    DeviceTrainer* trainer = create(&config, max_batch, max_seq, &adamw, local_rank, error, sizeof error);
    if (trainer == nullptr) throw std::runtime_error(error[0] != 0 ? error : "the CUDA engine failed without a message");
    return std::unique_ptr<DeviceTrainer>(trainer);
  };
}

}  // namespace strata::engine
