/* A batch: the units one rank computes at one step of a sweep, with their payload. The
 * engine (src/mpi) fills it; executors (src/node) hand it to every unit function. */
#ifndef SF_BATCH_H
#define SF_BATCH_H

#include <stddef.h>

#include "kernels/dtype_convert.h"

typedef struct sf_batch {
  size_t step;         /* lockstep step of the sweep */
  long segment;        /* segment index in the plan, -1 when this rank has none at this step */
  size_t first;        /* first unit (absolute index in the source) */
  size_t count;        /* units in the batch (0 when segment is -1) */
  size_t halo_lo;      /* units before `first` also read (data[-halo_lo * unit_elems ...]) */
  size_t halo_hi;      /* units after the batch also read */
  int slot;            /* step parity (0/1): which of a step's double buffers this batch owns */
  /* Typed payload: (halo_lo + count + halo_hi) units of unit_elems values of dtype; `data`
   * points at the first unit of the batch proper. `in` is the same pointer when dtype is
   * SF_DTYPE_F32 (the common case) and NULL otherwise. */
  sf_dtype dtype;
  size_t unit_elems;
  void *data;
  const float *in;
  /* Raw payload (sources that hand over bytes, e.g. one HDF5 chunk per unit read with
   * H5Dread_chunk): unit k's bytes are raw[raw_off[k] .. raw_off[k] + raw_len[k]) with
   * HDF5 filter mask raw_filters[k]; NULL for typed batches. */
  const unsigned char *raw;
  const size_t *raw_off;
  const size_t *raw_len;
  const unsigned *raw_filters;
} sf_batch;

/* Value pointer of unit k of the batch proper (k may be negative down to -halo_lo). */
static inline void *sf_batch_unit(const sf_batch *b, long k) {
  return (char *)b->data + k * (long)(b->unit_elems * sf_dtype_size(b->dtype));
}

#endif
