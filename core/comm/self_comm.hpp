// The world communicator of a process that runs alone (no mpirun): size 1, every collective
// is a copy or a no-op. Implements the SDK's strata_comm table, so plugins use it exactly as
// they will use the MPI and NCCL backends.
#pragma once

#include "strata/abi/comm.h"

namespace strata::comm {

// Static, stateless: safe to share.
const strata_comm* self_communicator();

}  // namespace strata::comm
