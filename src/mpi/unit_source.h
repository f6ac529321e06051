/* Unit source: the input seen as a sequence of units (frames, slices) along one axis.
 * HDF5 datasets are read by every rank for its own hyperslab; a DECTRIS-style master file
 * (the dataset asked for absent, its group holding DATASET_000001, DATASET_000002, ...,
 * external links to data files or plain datasets) is the stack of those parts in numeric
 * order, each read by every rank on its own; TIFF stacks are read on rank 0
 * and sent to the other ranks in bounded pieces; a pipeline may supply its own reader (a
 * custom source, e.g. the slices of many volumes). Data arrive as float32. */
#ifndef SF_UNIT_SOURCE_H
#define SF_UNIT_SOURCE_H

#include <mpi.h>
#include <stddef.h>

#include "kernels/dtype_convert.h"

typedef enum { SF_SOURCE_HDF5 = 1, SF_SOURCE_TIFF = 2, SF_SOURCE_CUSTOM = 3 } sf_source_kind;

typedef struct sf_source_meta {
  sf_source_kind kind;
  int ndims;          /* 3 (T,H,W) or 4 (T,H,W,C) */
  size_t t, h, w, c;  /* c = 1 for 3-D data */
  sf_dtype dtype;
  char path[4096];
  char dataset[512];  /* HDF5 dataset path ("" for TIFF) */
  size_t parts;       /* a master file's stack: its number of parts (0: one dataset) */
} sf_source_meta;

typedef struct sf_source sf_source;

/* Opens path (dataset for HDF5): rank 0 detects the format and validates shape and dtype
 * (3 or 4 dims, >= 1 frame, frames at least min_hw x min_hw, a supported dtype) and that an
 * HDF5 dataset's virtual sources and external raw files exist and cover it, and reports
 * problems once; the metadata are broadcast and every rank opens the file read-only.
 * Where dataset does not exist but its group holds NAME_000001, NAME_000002, ... (NAME its
 * last component; numbered without gaps), the source is their concatenation: every part
 * must open (an external link's data file exist) and have the first one's frame shape and
 * dtype, else SF_ERR_INPUT naming the master file, the link and the data file; meta.t is the
 * total, meta.parts their number. Returns the same status on every rank. Collective. */
int sf_source_open(MPI_Comm comm, const char *path, const char *dataset, size_t min_hw,
                   sf_source **out);

/* A pipeline's own reader. read fills buf with units [first, first+count) (count *
 * unit_elems floats; count may be 0); [core_first, core_first+core_count) is the batch
 * proper and the rest its halo, which the reader may leave unfilled where the pipeline never
 * looks (e.g. the neighbouring slices of another volume). It runs on the calling rank only
 * and returns 0 or SF_ERR_* after reporting; the source agrees the outcome. Local. */
typedef struct sf_source_reader {
  void *ctx;
  int (*read)(void *ctx, size_t first, size_t count, size_t core_first, size_t core_count,
              float *buf);
} sf_source_reader;

/* Wraps a reader as a source of units of unit_elems floats (what names the input in
 * messages). The engine does not check its values for NaN: the reader does. Collective. */
int sf_source_custom(MPI_Comm comm, const sf_source_reader *reader, size_t unit_elems,
                     const char *what, sf_source **out);

/* Metadata, identical on every rank. Local. */
const sf_source_meta *sf_source_get_meta(const sf_source *s);

/* Elements per unit (h*w*c). Local. */
size_t sf_source_unit_elems(const sf_source *s);

/* Reads units [first, first+count) as dtype want (SF_DTYPE_NONE: the source's own dtype; custom
 * sources deliver float32 only), for a batch [core_first, core_first+core_count) read together
 * with its halo. Every rank calls it at the same step; count may be 0. Returns 0 or SF_ERR_IO
 * (agreed across ranks, reported once), also when a file of an HDF5 input has shrunk since it
 * was opened. Collective. */
int sf_source_read_batch(sf_source *s, size_t first, size_t count, size_t core_first,
                         size_t core_count, sf_dtype want, void *buf);

/* Raw chunk bytes of units, one block per unit: unit k at data[off[k]], len[k] bytes, with
 * HDF5 filter mask filters[k]. The buffers grow as needed and are kept for the next read. */
typedef struct sf_raw_buf {
  unsigned char *data;
  size_t cap;
  size_t *off, *len;
  unsigned *filters;
  size_t n_cap;
} sf_raw_buf;

/* Reads units [first, first+count) as their stored chunks (H5Dread_chunk, no filter run)
 * into rb; the dataset (every part of a master file's stack) must be chunked by one whole
 * frame (see sf_source_chunk_filter). Each rank reads its own units;
 * the outcome is agreed and a failure reported once. Collective. */
int sf_source_read_raw(sf_source *s, size_t first, size_t count, sf_raw_buf *rb);

/* How the units are stored, for a pipeline that reads raw chunks (sf_source_read_raw) and
 * decodes them itself. *one_frame: 1 when every unit is one chunk of exactly one frame and,
 * for a master file's stack, every part has the same chunks and filter pipeline (filters and
 * their values), else 0 and sf_source_read_raw refuses (read typed units instead).
 * *nfilters: the pipeline's length; *filter: its first (the single) filter's id, 0 for none;
 * cd: that filter's client values, *ncd their number (on entry: cd's capacity; at most that
 * many are copied). Any pointer may be NULL. The same on every rank (rank 0 looked at open).
 * 0, or SF_ERR_INPUT unreported for a TIFF or custom source (no chunks). Local. */
int sf_source_chunk_filter(const sf_source *s, int *filter, unsigned *cd, size_t *ncd,
                           size_t *nfilters, int *one_frame);

/* Frees rb's buffers and zeroes it. Local. */
void sf_raw_buf_free(sf_raw_buf *rb);

/* Closes; accepts NULL and sets *s to NULL. Collective. */
void sf_source_close(sf_source **s);

#endif
