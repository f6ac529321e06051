/* Synthetic CT-like volumes with organ labels in nnU-Net v2 raw layout
 * (`slabflow synth volumes`): the input of `slices` in its demo, tests and benchmarks. */
#ifndef SF_SYNTH_VOLUME_H
#define SF_SYNTH_VOLUME_H

#include <stddef.h>
#include <stdint.h>

#define SF_SYNTH_VOLUME_NLABELS 3 /* organ classes 1..3: liver, kidney, bone; 0 background */

typedef struct sf_synth_volume_opts {
  size_t ncases; /* cases in the dataset (names and dataset.json depend on it) */
  size_t dim[3]; /* voxels along i, j, k (k is the axial axis, inferior to superior) */
  uint64_t seed;
} sf_synth_volume_opts;

/* Voxel size in mm along i, j, k (the same for every case). */
extern const double sf_synth_volume_spacing[3];

/* Name of class label (0..SF_SYNTH_VOLUME_NLABELS): "background", "liver", ... Local. */
const char *sf_synth_volume_label_name(int label);

/* Case name "case_NNN" for case index, zero-padded to the width of the largest index of
 * opts->ncases (at least 3 digits), into buf. Returns 0 or SF_ERR_INTERNAL when n is too
 * small. Local. */
int sf_synth_volume_case_name(const sf_synth_volume_opts *opts, size_t index, char *buf, size_t n);

/* The RAS affine of every case (NIfTI sform = qform): diag(spacing) with the volume centred
 * on the world origin; aff[r][c], mm. Local. */
void sf_synth_volume_affine(const sf_synth_volume_opts *opts, double aff[4][4]);

/* Renders case index: img (Hounsfield units) and lab (0..SF_SYNTH_VOLUME_NLABELS), each
 * dim[0]*dim[1]*dim[2] voxels with i fastest (NIfTI order). The case's anatomy, contrast and
 * noise come only from (seed, index), so the bytes do not depend on who renders it or on the
 * thread count (OpenMP over k-planes). Organs stay within |w| < 0.7 of the normalised k axis
 * (w = (2k+1)/nz - 1), so the k-planes outside carry no labels. Returns 0 or SF_ERR_NOMEM.
 * Local. */
int sf_synth_volume_render(const sf_synth_volume_opts *opts, size_t index, int16_t *img,
                           uint8_t *lab);

/* Creates dir (and its parents), dir/imagesTr and dir/labelsTr, checks that neither holds a
 * NIfTI file other than this dataset's cases (a stale case would be read by `slices` too),
 * and writes dir/dataset.json as nnU-Net v2 writes it. Returns 0, SF_ERR_INPUT (a stale
 * case, or a path that is not a directory) or SF_ERR_IO. Local (call on one rank). */
int sf_synth_volume_prepare(const char *dir, const sf_synth_volume_opts *opts);

/* Renders case index and writes dir/imagesTr/<case>_0000.nii.gz (int16) and
 * dir/labelsTr/<case>.nii.gz (uint8), NIfTI-1 with sform = qform (code 1), units mm, through
 * libnifti2 at zlib's default level. A failed case leaves no file behind. Returns 0,
 * SF_ERR_NOMEM or SF_ERR_IO. Local. */
int sf_synth_volume_write_case(const char *dir, const sf_synth_volume_opts *opts, size_t index);

#endif
