/* Agreement between ranks before collectives, fixed-order reductions, interrupts. */
#ifndef SF_MPI_AGREE_H
#define SF_MPI_AGREE_H

#include <mpi.h>
#include <stddef.h>

/* Returns the most severe (most negative) status of all ranks, so that every rank takes the
 * same branch after a step that can fail on some ranks. Collective. */
int sf_mpi_agree(int status, MPI_Comm comm);

/* sf_mpi_agree, waiting at most seconds for the other ranks: for the agreement after a
 * collective write, which every rank reaches at once unless one is stuck inside the MPI-IO
 * layer (a write that failed on some ranks only can leave the others waiting in a
 * collective that never completes). On time-out *stalled is set and SF_ERR_IO returned;
 * comm must then not be used again. Collective. */
int sf_mpi_agree_within(int status, MPI_Comm comm, double seconds, int *stalled);

/* After an agreement that failed: the lowest rank with failed != 0 prints msg as the run's
 * one error message (msg as held by sf_error_defer; NULL or empty: a generic line). Collective. */
void sf_mpi_report_lowest(int failed, const char *msg, MPI_Comm comm);

/* Smallest value of v over all ranks (e.g. the first bad unit index). Collective. */
unsigned long long sf_mpi_min_u64(unsigned long long v, MPI_Comm comm);

/* Sends (send != 0) or receives n elements of type t to or from peer, in pieces whose
 * counts fit an int. Point-to-point. */
int sf_mpi_xfer_big(void *buf, size_t n, MPI_Datatype t, int peer, int tag, int send,
                    MPI_Comm comm);

/* Broadcasts n elements of type t from root, in pieces whose counts fit an int. Collective. */
int sf_mpi_bcast_big(void *buf, size_t n, MPI_Datatype t, int root, MPI_Comm comm);

/* Ordered sum: acc (n doubles) holds this rank's contributions already summed in unit order;
 * ranks hold consecutive blocks of units in rank order. The result, on every rank, is
 * (((p0) + p1) + p2) ... added in rank order, i.e. the same association for any rank count
 * when the per-rank partials are themselves sums over fixed segments. chunks is the list of
 * per-segment partial sums this rank owns (nchunks x n doubles, in segment order); the
 * result goes to total (n doubles). Collective. */
int sf_mpi_ordered_sum(const double *chunks, size_t nchunks, size_t n, double *total,
                       MPI_Comm comm);

/* Installs SIGINT/SIGTERM/SIGUSR1 handlers that set a flag. Local. */
void sf_interrupt_install(void);

/* Whether any rank has been interrupted (collective), as SF_ERR_INTERRUPTED or 0. */
int sf_interrupt_agree(MPI_Comm comm);

#endif
