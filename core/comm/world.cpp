#include "core/comm/world.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <stdexcept>

#include "core/comm/mpi/mpi_backend.h"
#include "core/comm/self_comm.hpp"

namespace strata::comm {
namespace {

namespace fs = std::filesystem;

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  try {
    return std::stoi(v);
  } catch (...) {
    return fallback;
  }
}

// The module sits in lib/strata/ beside the plugins' folder, in the build tree and once
// installed: <bin>/../<libdir>/strata/libstrata_comm_mpi.so.
fs::path module_path() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  return exe.parent_path().parent_path() / STRATA_COMM_RELATIVE_DIR / "libstrata_comm_mpi.so";
}

}  // namespace

LaunchInfo detect_launch() {
  LaunchInfo info;
  if (std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr) {
    info = {true, env_int("OMPI_COMM_WORLD_SIZE", 1), env_int("OMPI_COMM_WORLD_RANK", 0), "Open MPI"};
  } else if (std::getenv("PMIX_RANK") != nullptr) {
    info = {true, env_int("SLURM_NTASKS", 1), env_int("PMIX_RANK", 0), "PMIx"};
  } else if (std::getenv("PMI_SIZE") != nullptr) {
    info = {true, env_int("PMI_SIZE", 1), env_int("PMI_RANK", 0), "PMI"};
  }
  info.local_rank = info.rank;
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID", "MPI_LOCALRANKID"})
    if (std::getenv(name) != nullptr) {
      info.local_rank = env_int(name, info.rank);
      break;
    }
  return info;
}

World::World(const LaunchInfo& launch) : comm_(self_communicator()) {
  if (!launch.launched) return;
  const fs::path path = module_path();
  // RTLD_GLOBAL: Open MPI loads its own components with dlopen and they need libmpi's
  // symbols in the global scope.
  module_ = ::dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (module_ == nullptr)
    throw std::runtime_error("started by " + launch.launcher + " with " + std::to_string(launch.size) +
                             " ranks, but the MPI backend " + path.string() + " cannot be loaded: " + ::dlerror() +
                             " (was Strata built with MPI? tools/install-deps.sh installs libopenmpi-dev)");
  const auto version = reinterpret_cast<strata_mpi_backend_version_fn>(::dlsym(module_, "strata_mpi_backend_version"));
  const auto world = reinterpret_cast<strata_mpi_world_fn>(::dlsym(module_, "strata_mpi_world"));
  finalize_ = reinterpret_cast<strata_mpi_finalize_fn>(::dlsym(module_, "strata_mpi_finalize"));
  abort_ = reinterpret_cast<strata_mpi_abort_fn>(::dlsym(module_, "strata_mpi_abort"));
  raw_allreduce_ =
      reinterpret_cast<strata_mpi_time_raw_allreduce_fn>(::dlsym(module_, "strata_mpi_time_raw_allreduce"));
  if (version == nullptr || world == nullptr || finalize_ == nullptr || abort_ == nullptr || raw_allreduce_ == nullptr ||
      version() != STRATA_MPI_BACKEND_VERSION)
    throw std::runtime_error(path.string() + " is not a matching Strata MPI backend (rebuild Strata)");
  char error[512] = {};
  comm_ = world(error, sizeof error);
  if (comm_ == nullptr) throw std::runtime_error(path.string() + ": " + error);
  rank_ = comm_->api->rank(comm_->handle);
  size_ = comm_->api->size(comm_->handle);
}

World::~World() {
  if (finalize_ != nullptr) finalize_();
  // The module stays loaded: Open MPI's atexit handlers live in it.
}

double World::time_raw_allreduce(float* data, uint64_t count, int iterations) const {
  if (raw_allreduce_ == nullptr) throw std::runtime_error("raw MPI_Allreduce needs a run under mpirun");
  const double seconds = raw_allreduce_(data, count, iterations);
  if (seconds < 0) throw std::runtime_error("MPI_Allreduce failed");
  return seconds;
}

void World::abort_all(int code) const {
  if (abort_ != nullptr && size_ > 1) abort_(code);
}

}  // namespace strata::comm
