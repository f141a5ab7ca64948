// The process's world communicator. A process started by an MPI launcher (mpirun, or srun
// with PMI/PMIx) loads the MPI backend module (lib/strata/libstrata_comm_mpi.so) at run time
// and joins the world; any other process runs as world size 1 on the self communicator and
// needs no MPI at all. Detection reads the launcher's environment:
//   Open MPI: OMPI_COMM_WORLD_SIZE / OMPI_COMM_WORLD_RANK
//   PMIx (Open MPI >= 4, srun --mpi=pmix): PMIX_RANK with OMPI_COMM_WORLD_SIZE or SLURM_NTASKS
//   PMI-1/2 (srun --mpi=pmi2, MPICH-style): PMI_SIZE / PMI_RANK
#pragma once

#include <string>

#include "core/util/log.hpp"
#include "strata/abi/comm.h"

namespace strata::comm {

struct LaunchInfo {
  bool launched = false;  // an MPI launcher started this process
  int size = 1;
  int rank = 0;
  std::string launcher;   // "Open MPI", "PMI", ...
  // This process's rank among those on its node (what picks its GPU): the launcher's
  // (OMPI_COMM_WORLD_LOCAL_RANK, SLURM_LOCALID, MPI_LOCALRANKID), else the rank.
  int local_rank = 0;
};
LaunchInfo detect_launch();

class World {
 public:
  // Joins the world the launcher set up. Throws std::runtime_error naming the module path
  // when the MPI backend is needed but cannot be loaded or initialised.
  explicit World(const LaunchInfo& launch);
  ~World();  // MPI_Finalize when MPI was used
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  const strata_comm* comm() const { return comm_; }
  int rank() const { return rank_; }
  int size() const { return size_; }
  bool uses_mpi() const { return module_ != nullptr; }
  // Ends every rank (MPI_Abort); on one rank, just returns.
  void abort_all(int code) const;
  // Seconds (slowest rank) of `iterations` raw in-place MPI_Allreduce of `count` floats,
  // bypassing Strata's communicator table: the peer `strata bench comm` compares against.
  // Throws std::runtime_error without MPI or on an MPI error.
  double time_raw_allreduce(float* data, uint64_t count, int iterations) const;

 private:
  const strata_comm* comm_;
  int rank_ = 0, size_ = 1;
  void* module_ = nullptr;  // dlopen handle
  void (*finalize_)() = nullptr;
  void (*abort_)(int) = nullptr;
  double (*raw_allreduce_)(float*, unsigned long, int) = nullptr;
};

}  // namespace strata::comm
