/* The unit source read the way the engine reads it, for master_file.sh and bad_master.sh:
 *   test_master_read FILE DATASET BATCH HALO OUT.bin [raw]
 * opens FILE:DATASET (sf_source_open), prints on rank 0 one line "t=T h=H w=W dtype=D
 * parts=P chunks: one_frame=O nfilters=N filter=F ncd=C", then reads every frame once: the
 * ranks take consecutive blocks and read them in batches of BATCH frames (every rank the
 * same number of steps, with an empty read where it has none), each with HALO frames on
 * either side (typed, the source's own dtype), or as raw chunks decoded here ("raw"). Core
 * frames go to OUT.bin at their place (frame k at k * frame bytes); each halo frame must
 * equal what the frame's own reader read (compared by hash on rank 0). Exit code: the
 * source's status (sf_exit_code), 1 for a mismatch. */
#include <fcntl.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kernels/chunk_decode.h"
#include "io/h5_util.h"
#include "kernels/dtype_convert.h"
#include "mpi/mpi_agree.h"
#include "mpi/unit_source.h"
#include "sf_error.h"

static uint64_t fnv(const unsigned char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

int main(int argc, char **argv) {
  int rank, size, status = 0, bad = 0, fd = -1;
  sf_source *src = NULL;
  sf_raw_buf rb = {0};
  unsigned char *buf = NULL, *frame = NULL;
  unsigned long long *mine = NULL, *all = NULL; /* (frame, hash, is_core) triples */
  size_t nmine = 0, cap = 0;
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  sf_error_set_rank(rank);
  sf_h5_quiet();
  if (argc < 6) {
    if (rank == 0) fprintf(stderr, "usage: %s FILE DATASET BATCH HALO OUT.bin [raw]\n", argv[0]);
    MPI_Finalize();
    return 2;
  }
  size_t batch = strtoull(argv[3], NULL, 10), halo = strtoull(argv[4], NULL, 10);
  int raw = argc > 6 && strcmp(argv[6], "raw") == 0;
  status = sf_source_open(MPI_COMM_WORLD, argv[1], argv[2], 1, &src);
  if (status < 0) goto done;
  const sf_source_meta *m = sf_source_get_meta(src);
  int filter = 0, one_frame = 0;
  unsigned cd[16];
  size_t ncd = 16, nfilters = 0;
  sf_source_chunk_filter(src, &filter, cd, &ncd, &nfilters, &one_frame);
  if (rank == 0)
    printf("t=%zu h=%zu w=%zu dtype=%d parts=%zu chunks: one_frame=%d nfilters=%zu filter=%d ncd=%zu\n",
           m->t, m->h, m->w, (int)m->dtype, m->parts, one_frame, nfilters, filter, ncd);
  fflush(stdout);
  const size_t esz = sf_dtype_size(m->dtype), fb = sf_source_unit_elems(src) * esz;
  size_t per = (m->t + (size_t)size - 1) / (size_t)size;
  size_t lo = (size_t)rank * per < m->t ? (size_t)rank * per : m->t;
  size_t hi = lo + per < m->t ? lo + per : m->t;
  size_t steps = (per + batch - 1) / batch;
  buf = malloc((batch + 2 * halo) * fb);
  frame = malloc(fb);
  if (rank == 0) fd = open(argv[5], O_WRONLY | O_CREAT | O_TRUNC, 0644);
  MPI_Barrier(MPI_COMM_WORLD);
  if (rank != 0) fd = open(argv[5], O_WRONLY);
  status = sf_mpi_agree(buf && frame && fd >= 0 ? 0 : SF_ERR_IO, MPI_COMM_WORLD);
  if (status < 0) goto done;
  sf_chunk_codec codec = {filter, esz};
  for (size_t s = 0; s < steps && status == 0; s++) {
    size_t first = lo + s * batch, count = first < hi ? (hi - first < batch ? hi - first : batch) : 0;
    size_t hlo = count ? (first < halo ? first : halo) : 0;
    size_t hhi = count ? (m->t - (first + count) < halo ? m->t - (first + count) : halo) : 0;
    size_t n = count ? count + hlo + hhi : 0;
    if (raw)
      status = sf_source_read_raw(src, first, count, &rb);
    else
      status = sf_source_read_batch(src, first - hlo, n, first, count, SF_DTYPE_NONE, buf);
    if (status < 0) break;
    if (raw) {
      n = count;
      hlo = 0;
      for (size_t k = 0; k < count; k++) {
        const char *why = NULL;
        if (sf_chunk_decode(&codec, rb.filters[k], rb.data + rb.off[k], rb.len[k], buf + k * fb, fb, &why)) {
          fprintf(stderr, "frame %zu: %s\n", first + k, why);
          bad = 1;
        }
      }
    }
    for (size_t k = 0; k < n; k++) {
      size_t f = first - hlo + k;
      int core = f >= first && f < first + count;
      if (core && pwrite(fd, buf + k * fb, fb, (off_t)(f * fb)) != (ssize_t)fb) bad = 1;
      if (nmine + 3 > cap) {
        cap = cap ? 2 * cap : 192;
        mine = realloc(mine, cap * sizeof *mine);
      }
      mine[nmine++] = f;
      mine[nmine++] = fnv(buf + k * fb, fb);
      mine[nmine++] = (unsigned long long)core;
    }
  }
  if (status < 0) goto done;
  /* every halo frame equals the frame as its owner read it */
  int cnt = (int)nmine, *cnts = NULL, *displs = NULL, total = 0;
  if (rank == 0) {
    cnts = malloc((size_t)size * sizeof *cnts);
    displs = malloc((size_t)size * sizeof *displs);
  }
  MPI_Gather(&cnt, 1, MPI_INT, cnts, 1, MPI_INT, 0, MPI_COMM_WORLD);
  if (rank == 0) {
    for (int r = 0; r < size; r++) {
      displs[r] = total;
      total += cnts[r];
    }
    all = malloc(((size_t)total + 1) * sizeof *all);
  }
  MPI_Gatherv(mine, cnt, MPI_UNSIGNED_LONG_LONG, all, cnts, displs, MPI_UNSIGNED_LONG_LONG, 0,
              MPI_COMM_WORLD);
  if (rank == 0) {
    unsigned long long *core = calloc(m->t, sizeof *core);
    size_t seen = 0, halos = 0;
    for (int i = 0; i < total; i += 3)
      if (all[i + 2]) {
        if (!core[all[i]]) seen++;
        core[all[i]] = all[i + 1] | 1; /* nonzero: seen */
      }
    for (int i = 0; i < total; i += 3)
      if (!all[i + 2]) {
        halos++;
        if (core[all[i]] != (all[i + 1] | 1)) {
          fprintf(stderr, "halo frame %llu differs from the frame as read by its owner\n", all[i]);
          bad = 1;
        }
      }
    if (seen != m->t) {
      fprintf(stderr, "%zu of %zu frames read\n", seen, m->t);
      bad = 1;
    }
    printf("read %zu frames, %zu halo frames checked\n", seen, halos);
    free(core);
  }
  free(cnts);
  free(displs);
  MPI_Allreduce(MPI_IN_PLACE, &bad, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
done:
  if (fd >= 0) close(fd);
  sf_raw_buf_free(&rb);
  sf_source_close(&src);
  free(buf);
  free(frame);
  free(mine);
  free(all);
  MPI_Finalize();
  return status < 0 ? sf_exit_code(status) : bad;
}
