/* 3-D volumes for `slices`: NIfTI-1 and NIfTI-2 files (.nii, .nii.gz, either byte order,
 * through libnifti2) and HDF5 datasets, read as slabs of slices along one voxel axis with
 * bounded memory. The voxel array is (i, j, k) as nibabel shows it: for NIfTI, i is the
 * fastest axis on disk; for HDF5, the dataset's dims (d0, d1, d2) are (i, j, k) as h5py
 * shows them. Not thread-safe per handle: one handle per reader. */
#ifndef SF_VOLUME_H
#define SF_VOLUME_H

#include <stddef.h>
#include <stdint.h>

typedef enum { SF_VOL_NIFTI1 = 1, SF_VOL_NIFTI2 = 2, SF_VOL_HDF5 = 3 } sf_vol_format;

typedef struct sf_vol_info {
  sf_vol_format format;
  size_t dim[3];         /* voxels along i, j, k */
  double spacing[3];     /* |pixdim[1..3]| (HDF5: attribute "spacing" (3 doubles) or 1, 1, 1) */
  double affine[4][4];   /* nibabel's best affine: sform if sform_code > 0, else qform if
                            qform_code > 0, else diag(-dx, dy, dz) centred (spec B5.25);
                            HDF5: attribute "affine" (4x4) or diag(spacing, 1) */
  int integer;           /* stored type is an integer type and scaling keeps integers */
  char type_name[16];    /* stored type: "uint8", "int16", "float32", ... */
  double scl_slope, scl_inter; /* scaling applied to stored values (1, 0 when none) */
  char path[4096];       /* file path as given */
  char dataset[512];     /* HDF5 dataset path ("" for NIfTI) */
} sf_vol_info;

typedef struct sf_vol sf_vol;

/* Opens spec read-only: "PATH.nii", "PATH.nii.gz" (NIfTI-1 or -2, detected from the header)
 * or "PATH.h5:/dataset" (also .hdf5/.hdf). Checks: readable file, valid header, exactly 3
 * dimensions (trailing dimensions of size 1 are allowed), every dim >= 1, a supported type
 * (u/int 8-64, float32/64; not complex/RGB), and for uncompressed NIfTI a file long enough
 * for the data. Reports one message naming the file and the problem. keep_planes: how many
 * of the most recently read k-planes the handle keeps, so that reads which step back by at
 * most that many planes (a halo) do not seek backwards in a .nii.gz. Returns 0, SF_ERR_INPUT
 * (bad file) or SF_ERR_IO / SF_ERR_NOMEM. Local.
 * The HDF5 file name ends at the ':' right after its (last) .h5/.hdf5/.hdf extension; the rest
 * is the dataset path. A missing or unreadable file is SF_ERR_INPUT ("PATH: cannot open input").
 * Affines follow nibabel, not ITK (whose qform/sform precedence can differ). */
int sf_vol_open(const char *spec, size_t keep_planes, sf_vol **out);

/* Header facts of an open volume. Local. */
const sf_vol_info *sf_vol_get_info(const sf_vol *v);

/* Elements of one slice along axis (the product of the other two dims). Local. */
size_t sf_vol_slice_elems(const sf_vol *v, int axis);

/* Reads slices [first, first+count) along axis (0, 1 or 2) into out (count slices), each
 * slice row-major over the remaining two axes in increasing order (axis 2: [i][j], axis 1:
 * [i][k], axis 0: [j][k], i.e. nibabel's vol[:, :, t] etc. in C order), as float32 of
 * slope*x + inter computed in double (stored floats keep NaN/Inf; the caller checks). A
 * truncated or corrupt file gives SF_ERR_INPUT with a message naming it. Memory is bounded
 * by the slab plus one k-plane (plus keep_planes): axes 0 and 1 stream over all k-planes.
 * An axis outside 0..2 or slices past the end give SF_ERR_INTERNAL (a caller's bug); count 0
 * reads nothing. Local. */
int sf_vol_read_slices(sf_vol *v, int axis, size_t first, size_t count, float *out);

/* As sf_vol_read_slices for a label volume: values as int32 after scaling; a value that is
 * not an integer, or outside int32, gives SF_ERR_INPUT naming the file and the voxel (i,j,k).
 * Local. */
int sf_vol_read_label_slices(sf_vol *v, int axis, size_t first, size_t count, int32_t *out);

/* Closes; accepts NULL and sets *v to NULL. Local. */
void sf_vol_close(sf_vol **v);

#endif
