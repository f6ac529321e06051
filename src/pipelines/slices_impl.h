/* `slices` internals shared by its files: options, the case table, case discovery. */
#ifndef SF_SLICES_IMPL_H
#define SF_SLICES_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/slice_ops.h"

enum { SL_CLIP_NONE = 0, SL_CLIP_VALUES, SL_CLIP_PERCENTILES };
enum { SL_MAX_WINDOW = 32 };

typedef struct sl_opts {
  const char *in, *out;
  int axis;
  size_t window;          /* K: neighbours each side */
  sf_pad_mode pad;
  int clip;               /* SL_CLIP_* */
  double clip_lo, clip_hi;  /* values, or percentiles in [0, 100] */
  int normalize, skip_empty;
  double split[3];
  uint64_t seed;
  int nan_fill_set;
  double nan_fill;
  int threads;
  size_t buffer;          /* slices per segment */
  int resume;
} sl_opts;

static const char *const sl_split_names[] = {"train", "val", "test", NULL};

/* One case: its files, grid, place in the unit sequence, and its statistics. Plain data
 * (broadcast as bytes). */
typedef struct sl_case {
  char name[128];
  char image[1024], label[1024]; /* volume specs; label "" when none */
  size_t line;                   /* manifest line of the case (0: not from a manifest) */
  int split;                     /* index in sl_split_names */
  size_t dim[3];
  double spacing[3], affine[16];
  char itype[16], ltype[16];
  size_t depth, h, w;            /* slices along the axis, and each slice's rows x columns */
  size_t unit0;                  /* first unit (slice) of the case in the plan */
  /* computed by the statistics passes */
  double vmin, vmax;             /* of the stored values (after scaling) */
  double lo, hi;                 /* clip bounds (-inf, inf when none) */
  double mean, std;              /* foreground statistics of the clipped volume */
  double fg_voxels;
  size_t written, skipped, row0; /* slices written and skipped; first row in /index */
  int32_t lab_min, lab_max;
} sl_case;

/* Rank 0: finds the cases of in (an nnU-Net raw directory, a manifest file, or one volume),
 * sorted by name, with their files' specs. Names become HDF5 group names: whitespace,
 * control characters and '/' turn into '_', and so does a leading '.'. Reports and returns
 * SF_ERR_INPUT when there are none, a manifest line is bad, two cases get the same name, or
 * a label file is a link that leads nowhere. Local. */
int sl_find_cases(const char *in, sl_case **cases, size_t *n);

/* Rank 0: opens every case's image and label header, checks them (3-D, label on the image's
 * grid: same dims and affine) and fills the grid fields for axis. Local. */
int sl_probe_cases(sl_case *cases, size_t n, int axis);

/* Assigns splits from the sorted case list (spec decision 6, numpy's legacy permutation of
 * seed). Local. */
void sl_assign_splits(sl_case *cases, size_t n, const double ratio[3], uint32_t seed);

#endif
