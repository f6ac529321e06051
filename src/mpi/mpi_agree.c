#include "mpi/mpi_agree.h"

#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mpi/mpi_check.h"
#include "sf_error.h"

int sf_mpi_agree(int status, MPI_Comm comm) {
  int agreed = status;
  SF_MPI(MPI_Allreduce(&status, &agreed, 1, MPI_INT, MPI_MIN, comm));
  status = agreed;
cleanup:
  return status;
}

int sf_mpi_agree_within(int status, MPI_Comm comm, double seconds, int *stalled) {
  int agreed = status, done = 0;
  MPI_Request req;
  *stalled = 0;
  SF_MPI(MPI_Iallreduce(&status, &agreed, 1, MPI_INT, MPI_MIN, comm, &req));
  double t0 = MPI_Wtime();
  struct timespec nap = {0, 1000000}; /* 1 ms: the wait is short when every rank is here */
  for (;;) {
    SF_MPI(MPI_Test(&req, &done, MPI_STATUS_IGNORE));
    if (done) break;
    if (MPI_Wtime() - t0 > seconds) {
      *stalled = 1; /* the request stays pending: this rank must not use comm again */
      return SF_ERR_IO;
    }
    nanosleep(&nap, NULL);
  }
  status = agreed;
cleanup:
  return status;
}

void sf_mpi_report_lowest(int failed, const char *msg, MPI_Comm comm) {
  int rank = 0, size = 0, status = 0;
  SF_MPI(MPI_Comm_rank(comm, &rank));
  SF_MPI(MPI_Comm_size(comm, &size));
  int who = failed ? rank : size, lowest = who;
  SF_MPI(MPI_Allreduce(&who, &lowest, 1, MPI_INT, MPI_MIN, comm));
  if (failed && lowest == rank) sf_error_print(msg && *msg ? msg : "an operation failed");
cleanup:
  (void)status; /* sf_mpi_fail has stopped the job */
}

unsigned long long sf_mpi_min_u64(unsigned long long v, MPI_Comm comm) {
  unsigned long long r = v;
  int status = 0;
  SF_MPI(MPI_Allreduce(&v, &r, 1, MPI_UNSIGNED_LONG_LONG, MPI_MIN, comm));
cleanup:
  (void)status; /* sf_mpi_fail has stopped the job */
  return r;
}

#define SF_MPI_PIECE ((size_t)1 << 24) /* elements per message */

int sf_mpi_xfer_big(void *buf, size_t n, MPI_Datatype t, int peer, int tag, int send,
                    MPI_Comm comm) {
  int esz = 0, status = 0;
  SF_MPI(MPI_Type_size(t, &esz));
  for (size_t off = 0; off < n; off += SF_MPI_PIECE) {
    int c = (int)(n - off < SF_MPI_PIECE ? n - off : SF_MPI_PIECE);
    char *p = (char *)buf + off * (size_t)esz;
    if (send)
      SF_MPI(MPI_Send(p, c, t, peer, tag, comm));
    else
      SF_MPI(MPI_Recv(p, c, t, peer, tag, comm, MPI_STATUS_IGNORE));
  }
cleanup:
  return status;
}

int sf_mpi_bcast_big(void *buf, size_t n, MPI_Datatype t, int root, MPI_Comm comm) {
  int esz = 0, status = 0;
  SF_MPI(MPI_Type_size(t, &esz));
  for (size_t off = 0; off < n; off += SF_MPI_PIECE) {
    int c = (int)(n - off < SF_MPI_PIECE ? n - off : SF_MPI_PIECE);
    SF_MPI(MPI_Bcast((char *)buf + off * (size_t)esz, c, t, root, comm));
  }
cleanup:
  return status;
}

int sf_mpi_ordered_sum(const double *chunks, size_t nchunks, size_t n, double *total,
                       MPI_Comm comm) {
  int rank, size, status = 0, have = 0;
  SF_MPI(MPI_Comm_rank(comm, &rank));
  SF_MPI(MPI_Comm_size(comm, &size));
  /* The running sum travels along the ranks; a rank adds its segment partials in order.
   * `have` says whether any partial has been added yet, so the first one is copied, not
   * added to zero (0 + x == x anyway, but this keeps -0.0 intact). */
  if (rank > 0) {
    SF_MPI(MPI_Recv(&have, 1, MPI_INT, rank - 1, 76, comm, MPI_STATUS_IGNORE));
    if (have) SF_CALL(sf_mpi_xfer_big(total, n, MPI_DOUBLE, rank - 1, 77, 0, comm));
  }
  for (size_t c = 0; c < nchunks; c++) {
    const double *p = chunks + c * n;
    if (!have)
      memcpy(total, p, n * sizeof(double));
    else
      for (size_t i = 0; i < n; i++)
        total[i] += p[i];
    have = 1;
  }
  if (rank + 1 < size) {
    SF_MPI(MPI_Send(&have, 1, MPI_INT, rank + 1, 76, comm));
    if (have) SF_CALL(sf_mpi_xfer_big(total, n, MPI_DOUBLE, rank + 1, 77, 1, comm));
  }
  if (!have) memset(total, 0, n * sizeof(double));
  status = sf_mpi_bcast_big(total, n, MPI_DOUBLE, size - 1, comm);
cleanup:
  return status;
}

static volatile sig_atomic_t g_interrupted = 0;

static void on_signal(int sig) {
  (void)sig;
  g_interrupted = 1;
}

void sf_interrupt_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGUSR1, &sa, NULL);
}

int sf_interrupt_agree(MPI_Comm comm) {
  int local = g_interrupted ? 1 : 0, any = 0, status = 0;
  SF_MPI(MPI_Allreduce(&local, &any, 1, MPI_INT, MPI_MAX, comm));
  status = any ? SF_ERR_INTERRUPTED : 0;
cleanup:
  return status;
}
