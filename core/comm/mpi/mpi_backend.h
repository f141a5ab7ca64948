/* The MPI communicator backend, a module the host loads at run time (dlopen) only when it
 * was started by an MPI launcher, so that `strata` itself links no MPI and runs without it.
 * C entry points, nothing throws across them. */
#ifndef STRATA_CORE_COMM_MPI_BACKEND_H
#define STRATA_CORE_COMM_MPI_BACKEND_H

#include "strata/abi/comm.h"

#ifdef __cplusplus
extern "C" {
#endif

#define STRATA_MPI_BACKEND_VERSION 2

/* Initialises MPI (MPI_THREAD_FUNNELED: one thread makes MPI calls) and returns the world
 * communicator, or NULL with a message in error[error_size]. Collectives on it are
 * blocking MPI calls or nonblocking ones completed by wait(). */
typedef const strata_comm* (*strata_mpi_world_fn)(char* error, unsigned long error_size);
/* Frees the world and every split communicator still alive, then MPI_Finalize. */
typedef void (*strata_mpi_finalize_fn)(void);
/* Aborts every rank (a rank that fails must not leave the others hanging in a collective). */
typedef void (*strata_mpi_abort_fn)(int code);
typedef int (*strata_mpi_backend_version_fn)(void);
/* The peer of `strata bench comm`: `iterations` in-place MPI_Allreduce (sum) of `count`
 * floats straight on a duplicate of MPI_COMM_WORLD, after a barrier; returns the seconds of
 * the slowest rank, or a negative value on error. */
typedef double (*strata_mpi_time_raw_allreduce_fn)(float* data, unsigned long count, int iterations);

const strata_comm* strata_mpi_world(char* error, unsigned long error_size);
void strata_mpi_finalize(void);
void strata_mpi_abort(int code);
int strata_mpi_backend_version(void);
double strata_mpi_time_raw_allreduce(float* data, unsigned long count, int iterations);

#ifdef __cplusplus
}
#endif
#endif
