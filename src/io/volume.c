/* 3-D volumes for `slices`: NIfTI-1/2 through libnifti2 (header) and znzlib (data), HDF5
 * datasets through hyperslabs. Slabs of slices along any voxel axis, converted to float32 or
 * int32 labels, with bounded memory and, for .nii.gz, no backward seeks for halo re-reads. */
#include "io/volume.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <hdf5.h>
#include <nifti2_io.h>

#include "io/h5_storage.h"
#include "io/h5_util.h"
#include "sf_error.h"

/* The HDF5 reader fetches boxes of whole slices (axes 0, 1) or of i-rows (axis 2) holding at
 * most this many bytes of stored plus converted values: a bound on its scratch memory. */
#define SF_VOL_H5_BLOCK_BYTES ((size_t)16 << 20)

/* The NIfTI DT_* codes slices reads, and their dtypes. */
static const struct {
  int code;
  sf_dtype dtype;
} k_nifti_types[] = {
    {DT_UINT8, SF_DTYPE_U8},    {DT_INT8, SF_DTYPE_I8},    {DT_UINT16, SF_DTYPE_U16},
    {DT_INT16, SF_DTYPE_I16},   {DT_UINT32, SF_DTYPE_U32}, {DT_INT32, SF_DTYPE_I32},
    {DT_UINT64, SF_DTYPE_U64},  {DT_INT64, SF_DTYPE_I64},  {DT_FLOAT32, SF_DTYPE_F32},
    {DT_FLOAT64, SF_DTYPE_F64},
};

#define SUPPORTED_TYPES                                                                            \
  "uint8, int8, uint16, int16, uint32, int32, uint64, int64, float32 and float64"

struct sf_vol {
  sf_vol_info info;
  char name[4096 + 512 + 2]; /* "PATH" or "FILE:DATASET", for messages */
  sf_dtype type;
  int scaled; /* (scl_slope, scl_inter) != (1, 0) */

  /* NIfTI */
  char *iname;          /* file holding the data: the .nii(.gz) itself, or the .img of a pair */
  int64_t data_offset;  /* byte offset of voxel (0,0,0) in the (uncompressed) data stream */
  int gz, swap;         /* data file is gzip-compressed; stored byte order is not ours */
  znzFile fp;           /* data stream; NULL before the first read and after a failed one */
  size_t next_k;        /* k-plane the stream is positioned at (SIZE_MAX: unknown) */
  size_t plane_elems;   /* nx * ny */
  size_t plane_bytes;   /* nx * ny * stored size */
  size_t keep;          /* ring of the most recently read k-planes (raw, native order) */
  unsigned char *ring;  /* keep planes; plane k lives in slot k % keep */
  size_t *ring_k;       /* plane held by each slot, SIZE_MAX when none */
  unsigned char *plane; /* the one raw plane when keep == 0 */
  unsigned char *conv;  /* one plane of converted 4-byte values (float or int32) */

  /* HDF5 */
  hid_t file, dset;
  int rank;          /* dataset rank: 3, or more with trailing dimensions of 1 */
  sf_h5_files files; /* the files the values come from, sizes at open */
};

/* ---- types and conversion ------------------------------------------------------------------ */

/* dtype of a NIfTI datatype code, or SF_DTYPE_NONE when slices does not read it. */
static sf_dtype type_of_code(int code) {
  for (size_t t = 0; t < sizeof k_nifti_types / sizeof k_nifti_types[0]; t++)
    if (k_nifti_types[t].code == code) return k_nifti_types[t].dtype;
  return SF_DTYPE_NONE;
}

/* Readable name of an unsupported NIfTI datatype code, for messages. */
static const char *nifti_type_name(int code, char *buf, size_t n) {
  switch (code) {
  case DT_BINARY: return "binary (1 bit)";
  case DT_COMPLEX64: return "complex64";
  case DT_COMPLEX128: return "complex128";
  case DT_COMPLEX256: return "complex256";
  case DT_RGB24: return "RGB24";
  case DT_RGBA32: return "RGBA32";
  case DT_FLOAT128: return "float128";
  default: snprintf(buf, n, "unknown datatype code %d", code); return buf;
  }
}

static int is_integral(double x) { return isfinite(x) && x == floor(x); }

/* Stored values are widened to double (sf_dtype_to_double) this many at a time, on the stack. */
#define SF_VOL_CONV_CHUNK 256

/* Converts n stored values (native byte order) to float32 of slope * x + inter computed in
 * double; with no scaling, the value itself (NaN and Inf pass through). Through double even
 * then: a 64-bit integer is rounded to double first, then to float32 (not sf_dtype_to_float's
 * one rounding), as slices always has. */
static void to_float(sf_dtype t, const void *src, size_t n, int scaled, double slope, double inter,
                     float *dst) {
  const size_t es = sf_dtype_size(t);
  double x[SF_VOL_CONV_CHUNK];
  for (size_t q0 = 0; q0 < n; q0 += SF_VOL_CONV_CHUNK) {
    size_t m = n - q0 < SF_VOL_CONV_CHUNK ? n - q0 : SF_VOL_CONV_CHUNK;
    sf_dtype_to_double(t, (const unsigned char *)src + q0 * es, x, m);
    if (scaled)
      for (size_t q = 0; q < m; q++)
        dst[q0 + q] = (float)(slope * x[q] + inter);
    else
      for (size_t q = 0; q < m; q++)
        dst[q0 + q] = (float)x[q];
  }
}

/* Converts n stored values to int32 labels of slope * x + inter. Returns n, or the index of the
 * first value that is not an integer inside the int32 range (its scaled value in *bad). */
static size_t to_label(sf_dtype t, const void *src, size_t n, int scaled, double slope,
                       double inter, int32_t *dst, double *bad) {
  if (!scaled) { /* small integers fit as they are */
    switch (t) {
    case SF_DTYPE_U8:
      for (size_t q = 0; q < n; q++)
        dst[q] = ((const uint8_t *)src)[q];
      return n;
    case SF_DTYPE_I8:
      for (size_t q = 0; q < n; q++)
        dst[q] = ((const int8_t *)src)[q];
      return n;
    case SF_DTYPE_U16:
      for (size_t q = 0; q < n; q++)
        dst[q] = ((const uint16_t *)src)[q];
      return n;
    case SF_DTYPE_I16:
      for (size_t q = 0; q < n; q++)
        dst[q] = ((const int16_t *)src)[q];
      return n;
    case SF_DTYPE_I32: memcpy(dst, src, n * sizeof *dst); return n;
    default: break;
    }
  }
  const size_t es = sf_dtype_size(t);
  double x[SF_VOL_CONV_CHUNK];
  for (size_t q0 = 0; q0 < n; q0 += SF_VOL_CONV_CHUNK) {
    size_t m = n - q0 < SF_VOL_CONV_CHUNK ? n - q0 : SF_VOL_CONV_CHUNK;
    sf_dtype_to_double(t, (const unsigned char *)src + q0 * es, x, m);
    for (size_t q = 0; q < m; q++) {
      double x_ = slope * x[q] + inter;
      if (!(x_ >= (double)INT32_MIN && x_ <= (double)INT32_MAX) || x_ != floor(x_)) {
        *bad = x_;
        return q0 + q;
      }
      dst[q0 + q] = (int32_t)x_;
    }
  }
  return n;
}

/* Where the elements of a run of stored values lie in the volume, for naming a bad voxel: the
 * run is rows of `wrap` elements (0: one row); element c of row r is voxel base + c*step + r*row.
 */
typedef struct {
  size_t base[3];
  size_t step[3];
  size_t wrap;
  size_t row[3];
} run_map;

/* Converts n stored values at src into 4-byte outputs at dst (float32, or int32 when label).
 * Returns 0, or SF_ERR_INPUT naming the voxel (i, j, k) of a label that is not an int32. */
static int convert_run(const sf_vol *v, const void *src, size_t n, void *dst, int label,
                       const run_map *m) {
  int status = 0;
  if (!label) {
    to_float(v->type, src, n, v->scaled, v->info.scl_slope, v->info.scl_inter, dst);
    return 0;
  }
  double bad = 0;
  size_t q = to_label(v->type, src, n, v->scaled, v->info.scl_slope, v->info.scl_inter, dst, &bad);
  if (q < n) {
    size_t r = m->wrap ? q / m->wrap : 0, c = m->wrap ? q % m->wrap : q;
    size_t vox[3];
    for (int a = 0; a < 3; a++)
      vox[a] = m->base[a] + c * m->step[a] + r * m->row[a];
    SF_CHECK(0, SF_ERR_INPUT, "%s: label value %.17g at voxel (%zu, %zu, %zu) is %s", v->name, bad,
             vox[0], vox[1], vox[2],
             is_integral(bad) ? "outside the int32 range" : "not an integer");
  }
cleanup:
  return status;
}

/* dst[i][j] (ny wide) = src[j][i] (nx wide) for 4-byte elements, in cache-sized tiles. */
static void transpose4(const unsigned char *src, size_t nx, size_t ny, unsigned char *dst) {
  enum { TILE = 32 };
  for (size_t j0 = 0; j0 < ny; j0 += TILE) {
    size_t j1 = j0 + TILE < ny ? j0 + TILE : ny;
    for (size_t i0 = 0; i0 < nx; i0 += TILE) {
      size_t i1 = i0 + TILE < nx ? i0 + TILE : nx;
      for (size_t i = i0; i < i1; i++)
        for (size_t j = j0; j < j1; j++)
          memcpy(dst + 4 * (i * ny + j), src + 4 * (j * nx + i), 4);
    }
  }
}

/* ---- NIfTI ---------------------------------------------------------------------------------- */

static uint16_t bswap16(uint16_t x) { return (uint16_t)(x << 8 | x >> 8); }
static uint32_t bswap32(uint32_t x) { return __builtin_bswap32(x); }
static uint64_t bswap64(uint64_t x) { return __builtin_bswap64(x); }

/* Swaps n values of size es in place. */
static void swap_values(void *p, size_t n, size_t es) {
  unsigned char *b = p;
  if (es == 2) {
    for (size_t q = 0; q < n; q++) {
      uint16_t x;
      memcpy(&x, b + 2 * q, 2);
      x = bswap16(x);
      memcpy(b + 2 * q, &x, 2);
    }
  } else if (es == 4) {
    for (size_t q = 0; q < n; q++) {
      uint32_t x;
      memcpy(&x, b + 4 * q, 4);
      x = bswap32(x);
      memcpy(b + 4 * q, &x, 4);
    }
  } else if (es == 8) {
    for (size_t q = 0; q < n; q++) {
      uint64_t x;
      memcpy(&x, b + 8 * q, 8);
      x = bswap64(x);
      memcpy(b + 8 * q, &x, 8);
    }
  }
}

/* Facts of the raw header that libnifti would "repair" (zero dims become 1) or complain about
 * on stderr (bad dim[0], datatype): dims and datatype in native order. */
typedef struct {
  int version; /* 1 or 2 */
  int swap;
  int64_t dim[8];
  int datatype;
  double scl_slope, scl_inter; /* as stored (libnifti turns NaN and Inf into 0) */
} raw_header;

/* Reads and checks the raw header with libnifti (quietly); reports SF_ERR_INPUT. */
static int nii_raw_header(const char *path, raw_header *h) {
  int status = 0;
  int nver = -1;
  void *raw = nifti_read_header(path, &nver, 0);
  SF_CHECK(raw && nver >= 0 && nver <= 2, SF_ERR_INPUT,
           "%s: not a NIfTI-1/2 file or unreadable header", path);
  SF_CHECK(nver != 0, SF_ERR_INPUT,
           "%s: an ANALYZE 7.5 header without the NIfTI magic; slices reads NIfTI-1 and NIfTI-2",
           path);
  h->version = nver;
  if (nver == 1) {
    const nifti_1_header *n1 = raw;
    /* libnifti decides the byte order from dim[0] (1..7 in one order or the other). */
    uint16_t d0 = (uint16_t)n1->dim[0];
    if (d0 >= 1 && d0 <= 7)
      h->swap = 0;
    else if (bswap16(d0) >= 1 && bswap16(d0) <= 7)
      h->swap = 1;
    else
      SF_CHECK(0, SF_ERR_INPUT, "%s: invalid NIfTI-1 header (dim[0] = %d in either byte order)",
               path, (int)(int16_t)d0);
    for (int d = 0; d < 8; d++)
      h->dim[d] = (int16_t)(h->swap ? bswap16((uint16_t)n1->dim[d]) : (uint16_t)n1->dim[d]);
    h->datatype = (int16_t)(h->swap ? bswap16((uint16_t)n1->datatype) : (uint16_t)n1->datatype);
    float sc[2] = {n1->scl_slope, n1->scl_inter};
    if (h->swap) swap_values(sc, 2, sizeof *sc);
    h->scl_slope = sc[0];
    h->scl_inter = sc[1];
  } else {
    const nifti_2_header *n2 = raw;
    h->swap = NIFTI2_NEEDS_SWAP(*n2) ? 1 : 0;
    for (int d = 0; d < 8; d++)
      h->dim[d] = (int64_t)(h->swap ? bswap64((uint64_t)n2->dim[d]) : (uint64_t)n2->dim[d]);
    h->datatype = (int16_t)(h->swap ? bswap16((uint16_t)n2->datatype) : (uint16_t)n2->datatype);
    double sc[2] = {n2->scl_slope, n2->scl_inter};
    if (h->swap) swap_values(sc, 2, sizeof *sc);
    h->scl_slope = sc[0];
    h->scl_inter = sc[1];
    SF_CHECK(h->dim[0] >= 1 && h->dim[0] <= 7, SF_ERR_INPUT,
             "%s: invalid NIfTI-2 header (dim[0] = %lld)", path, (long long)h->dim[0]);
  }
cleanup:
  free(raw);
  return status;
}

/* Writes "AxBxC..." of dims 1..n into buf. */
static const char *dims_text(const int64_t *dim, int n, char *buf, size_t len) {
  size_t used = 0;
  buf[0] = 0;
  for (int d = 1; d <= n && used < len; d++)
    used += (size_t)snprintf(buf + used, len - used, "%s%lld", d > 1 ? "x" : "", (long long)dim[d]);
  return buf;
}

/* Checks the shape and type of a raw header: 3-D (trailing 1s allowed), no zero dims. */
static int nii_check_shape(const char *path, const raw_header *h) {
  int status = 0;
  char dt[128], tn[64];
  int nd = (int)h->dim[0];
  dims_text(h->dim, nd, dt, sizeof dt);
  for (int d = 1; d <= nd && d <= 3; d++)
    SF_CHECK(h->dim[d] >= 1, SF_ERR_INPUT,
             "%s: dimension %d is %lld (shape %s); every dimension must be at least 1", path, d,
             (long long)h->dim[d], dt);
  SF_CHECK(nd >= 3, SF_ERR_INPUT, "%s: a %d-D image (%s); slices reads 3-D volumes", path, nd, dt);
  for (int d = 4; d <= nd; d++)
    SF_CHECK(h->dim[d] == 1, SF_ERR_INPUT,
             "%s: a %d-D image (%s); slices reads 3-D volumes (later dimensions must be 1)", path,
             nd, dt);
  SF_CHECK(type_of_code(h->datatype), SF_ERR_INPUT,
           "%s: unsupported data type %s; slices reads " SUPPORTED_TYPES, path,
           nifti_type_name(h->datatype, tn, sizeof tn));
cleanup:
  return status;
}

/* nibabel's best affine of a NIfTI header (spec B5.25): sform if sform_code > 0, else qform if
 * qform_code > 0 (libnifti's qto_xyz is the spec's R * diag(dx, dy, qfac * dz) plus offsets), else
 * diag(-dx, dy, dz) with translation -A * (dim - 1) / 2, which centres the volume. */
static void nii_affine(const nifti_image *nim, const size_t dim[3], double a[4][4]) {
  memset(a, 0, 16 * sizeof(double));
  a[3][3] = 1;
  if (nim->sform_code > 0 || nim->qform_code > 0) {
    const nifti_dmat44 *m = nim->sform_code > 0 ? &nim->sto_xyz : &nim->qto_xyz;
    for (int r = 0; r < 3; r++)
      for (int c = 0; c < 4; c++)
        a[r][c] = m->m[r][c];
    return;
  }
  double z[3] = {-nim->dx, nim->dy, nim->dz};
  for (int r = 0; r < 3; r++) {
    a[r][r] = z[r];
    a[r][3] = -z[r] * ((double)dim[r] - 1) / 2 + 0.0; /* + 0.0: no -0 for a dim of 1 */
  }
}

/* Opens the data stream of a NIfTI volume, positioned nowhere in particular. */
static int nii_open_stream(sf_vol *v) {
  int status = 0;
  v->fp = znzopen(v->iname, "rb", v->gz);
  SF_CHECK(!znz_isnull(v->fp), SF_ERR_IO, "%s: cannot open for reading (%s)", v->iname,
           strerror(errno));
  v->next_k = SIZE_MAX;
cleanup:
  return status;
}

static void nii_close_stream(sf_vol *v) {
  if (!znz_isnull(v->fp)) znzclose(v->fp);
  v->fp = NULL;
  v->next_k = SIZE_MAX;
}

static int nifti_open(sf_vol *v, const char *path) {
  int status = 0;
  nifti_image *nim = NULL;
  raw_header h;
  struct stat st;
  FILE *probe = NULL;

  if (stat(path, &st) != 0)
    SF_CHECK(0, SF_ERR_INPUT, "%s: cannot open input: %s", path, strerror(errno));
  SF_CHECK(S_ISREG(st.st_mode), SF_ERR_INPUT, "%s: input is not a regular file", path);
  const char *ext = nifti_find_file_extension(path); /* .nii, .hdr, .img (+ .gz), .nia */
  SF_CHECK(ext && strcmp(ext, ".nia") != 0, SF_ERR_INPUT,
           "%s: unknown volume format; expected PATH.nii, PATH.nii.gz or FILE.h5:/dataset", path);
  probe = fopen(path, "rb");
  SF_CHECK(probe, SF_ERR_INPUT, "%s: cannot open input: %s", path, strerror(errno));

  /* libnifti reports through stderr; we report once ourselves. Checking the raw header first
   * also keeps nifti_image_read off its unconditional messages (bad dim[0], datatype). */
  nifti_set_debug_level(0);
  SF_CALL(nii_raw_header(path, &h));
  SF_CALL(nii_check_shape(path, &h));
  nim = nifti_image_read(path, 0);
  SF_CHECK(nim && nim->iname, SF_ERR_INPUT, "%s: not a NIfTI-1/2 file or unreadable header", path);
  /* nim->nifti_type says NIFTI-1 for single-file NIfTI-2 (libnifti 3.0.1): use the header. */
  SF_CHECK(nim->nifti_type != NIFTI_FTYPE_ASCII, SF_ERR_INPUT, "%s: ASCII NIfTI is not supported",
           path);
  for (int d = 0; d < 3; d++) {
    SF_CHECK(nim->dim[d + 1] == h.dim[d + 1], SF_ERR_INTERNAL,
             "%s: libnifti reads dimension %d as %lld, the header says %lld", path, d + 1,
             (long long)nim->dim[d + 1], (long long)h.dim[d + 1]);
    v->info.dim[d] = (size_t)h.dim[d + 1];
  }
  v->info.format = h.version == 2 ? SF_VOL_NIFTI2 : SF_VOL_NIFTI1;
  v->type = type_of_code(h.datatype);
  SF_CHECK(v->type && (size_t)nim->nbyper == sf_dtype_size(v->type), SF_ERR_INTERNAL,
           "%s: datatype %d has %d bytes per voxel", path, h.datatype, nim->nbyper);
  snprintf(v->info.type_name, sizeof v->info.type_name, "%s", sf_dtype_name(v->type));

  /* nibabel: no scaling when the slope is 0 or not finite; with a valid slope, an intercept
   * that is not finite is an error (its HeaderDataError), since every voxel would be. From
   * the raw header: libnifti turns NaN and Inf into 0. */
  double slope = h.scl_slope, inter = h.scl_inter;
  if (slope == 0 || !isfinite(slope)) slope = 1, inter = 0;
  SF_CHECK(isfinite(inter), SF_ERR_INPUT,
           "%s: scl_inter is %g with scl_slope %g; a scaling whose intercept is not finite makes "
           "every voxel %g",
           path, inter, slope, inter);
  v->info.scl_slope = slope;
  v->info.scl_inter = inter;
  v->scaled = !(slope == 1 && inter == 0);
  v->info.integer = sf_dtype_is_integer(v->type) && is_integral(slope) && is_integral(inter);

  /* libnifti already turned zero or non-finite pixdims into 1. */
  for (int d = 0; d < 3; d++) {
    double s = fabs(nim->pixdim[d + 1]);
    v->info.spacing[d] = s > 0 ? s : 1;
  }
  nii_affine(nim, v->info.dim, v->info.affine);

  /* Sizes, and that the volume is addressable at all. */
  size_t nx = v->info.dim[0], ny = v->info.dim[1], nz = v->info.dim[2], es = sf_dtype_size(v->type);
  SF_CHECK(nx <= SIZE_MAX / ny && nx * ny <= SIZE_MAX / 8 / nz, SF_ERR_INPUT,
           "%s: %zux%zux%zu voxels are too many to address", path, nx, ny, nz);
  v->plane_elems = nx * ny;
  v->plane_bytes = v->plane_elems * es;
  uint64_t data_bytes = (uint64_t)v->plane_bytes * nz;
  SF_CHECK(nim->iname_offset >= 0 && (uint64_t)nim->iname_offset <= INT64_MAX - data_bytes,
           SF_ERR_INPUT, "%s: invalid data offset %lld", path, (long long)nim->iname_offset);
  v->data_offset = nim->iname_offset;
  v->iname = strdup(nim->iname);
  SF_CHECK(v->iname, SF_ERR_NOMEM, "out of memory");
  v->gz = nifti_is_gzfile(v->iname) ? 1 : 0;
  v->swap = nim->byteorder != nifti_short_order() && es > 1;

  if (!v->gz) { /* a short file fails now rather than in the middle of a run */
    struct stat ist;
    if (stat(v->iname, &ist) != 0)
      SF_CHECK(0, SF_ERR_INPUT, "%s: cannot open the image file %s: %s", path, v->iname,
               strerror(errno));
    uint64_t need = (uint64_t)v->data_offset + data_bytes;
    SF_CHECK((uint64_t)ist.st_size >= need, SF_ERR_INPUT,
             "%s: file is truncated: %lld bytes, header needs %llu", v->iname,
             (long long)ist.st_size, (unsigned long long)need);
  }

  if (v->keep > nz) v->keep = nz;
  SF_CALL(nii_open_stream(v));

cleanup:
  if (probe) fclose(probe);
  if (nim) nifti_image_free(nim);
  return status;
}

/* The plane buffers, at the first read rather than at open: a header is checked (and the
 * memory a run needs added up from it) before a plane it claims is allocated. */
static int nii_buffers(sf_vol *v) {
  int status = 0;
  if (v->conv) return 0;
  SF_CHECK(v->plane_elems <= SIZE_MAX / 8 && (!v->keep || v->keep <= SIZE_MAX / v->plane_bytes),
           SF_ERR_NOMEM, "%s: cannot keep %zu planes of %zu bytes", v->name, v->keep,
           v->plane_bytes);
  if (v->keep && !v->ring_k) { /* (what a failed call left allocated is kept) */
    if (!v->ring) SF_ALLOC(v->ring, v->keep * v->plane_bytes);
    SF_ALLOC(v->ring_k, v->keep);
    for (size_t s = 0; s < v->keep; s++)
      v->ring_k[s] = SIZE_MAX;
  } else if (!v->keep && !v->plane) {
    SF_ALLOC(v->plane, v->plane_bytes);
  }
  SF_ALLOC(v->conv, 4 * v->plane_elems);
cleanup:
  return status;
}

/* Raw k-plane k in native byte order: from the ring when it still holds it, else read from the
 * stream, seeking only when the stream is not already there (a .nii.gz seeks backwards by
 * decompressing again from the start). */
static int nii_plane(sf_vol *v, size_t k, const unsigned char **out) {
  int status = 0;
  unsigned char *dst = v->plane;
  size_t slot = 0;
  if (v->keep) {
    slot = k % v->keep;
    dst = v->ring + slot * v->plane_bytes;
    if (v->ring_k[slot] == k) {
      *out = dst;
      return 0;
    }
    v->ring_k[slot] = SIZE_MAX;
  }
  if (znz_isnull(v->fp)) SF_CALL(nii_open_stream(v));
  if (v->next_k != k) {
    znz_off_t off = (znz_off_t)(v->data_offset + (int64_t)k * (int64_t)v->plane_bytes);
    znz_off_t r = znzseek(v->fp, off, SEEK_SET);
    if (r < 0 || (v->gz && r != off)) {
      nii_close_stream(v);
      SF_CHECK(0, SF_ERR_INPUT, "%s: truncated or corrupt data (cannot reach k-plane %zu of %zu)",
               v->iname, k, v->info.dim[2]);
    }
  }
  size_t got = znzread(dst, 1, v->plane_bytes, v->fp); /* (size_t)-1 on a zlib error */
  if (got != v->plane_bytes) {
    nii_close_stream(v);
    if (got > v->plane_bytes)
      SF_CHECK(0, SF_ERR_INPUT,
               "%s: truncated or corrupt data (gzip stream error in k-plane %zu of %zu)", v->iname,
               k, v->info.dim[2]);
    SF_CHECK(0, SF_ERR_INPUT,
             "%s: truncated or corrupt data (k-plane %zu of %zu: got %zu of %zu bytes)", v->iname,
             k, v->info.dim[2], got, v->plane_bytes);
  }
  if (v->gz && k + 1 == v->info.dim[2]) {
    /* Damage inside a deflate stream may decode without an error; zlib checks the stream's
     * CRC and length only when a read reaches its end. Whoever reads the last plane does so,
     * so a volume read in full is either verified or an error. */
    unsigned char probe_byte;
    size_t tail = znzread(&probe_byte, 1, 1, v->fp);
    if (tail == (size_t)-1) {
      nii_close_stream(v);
      SF_CHECK(0, SF_ERR_INPUT, "%s: truncated or corrupt data (gzip checksum or length check "
               "failed at the end of the stream)", v->iname);
    }
  }
  if (v->swap) swap_values(dst, v->plane_elems, sf_dtype_size(v->type));
  v->next_k = k + 1;
  if (v->keep) v->ring_k[slot] = k;
  *out = dst;
cleanup:
  return status;
}

/* Slices of a NIfTI volume (see sf_vol_read_slices); 4-byte outputs, float or int32. */
static int nii_read(sf_vol *v, int axis, size_t first, size_t count, unsigned char *out,
                    int label) {
  int status = 0;
  const size_t nx = v->info.dim[0], ny = v->info.dim[1], nz = v->info.dim[2];
  const size_t es = sf_dtype_size(v->type);
  const unsigned char *raw;
  SF_CALL(nii_buffers(v));
  unsigned char *cv = v->conv;

  if (axis == 2) {
    for (size_t t = 0; t < count; t++) {
      size_t k = first + t;
      SF_CALL(nii_plane(v, k, &raw));
      run_map m = {{0, 0, k}, {1, 0, 0}, nx, {0, 1, 0}};
      SF_CALL(convert_run(v, raw, v->plane_elems, cv, label, &m));
      transpose4(cv, nx, ny, out + 4 * t * v->plane_elems);
    }
  } else if (axis == 1) { /* slice t = j: out[t][i][k] */
    for (size_t k = 0; k < nz; k++) {
      SF_CALL(nii_plane(v, k, &raw));
      run_map m = {{0, first, k}, {1, 0, 0}, nx, {0, 1, 0}};
      SF_CALL(convert_run(v, raw + first * nx * es, count * nx, cv, label, &m));
      for (size_t q = 0; q < count * nx; q++)
        memcpy(out + 4 * (q * nz + k), cv + 4 * q, 4);
    }
  } else { /* axis 0, slice t = i: out[t][j][k] */
    for (size_t k = 0; k < nz; k++) {
      SF_CALL(nii_plane(v, k, &raw));
      for (size_t j = 0; j < ny; j++) {
        run_map m = {{first, j, k}, {1, 0, 0}, 0, {0, 0, 0}};
        SF_CALL(convert_run(v, raw + (j * nx + first) * es, count, cv + 4 * j * count, label, &m));
      }
      for (size_t t = 0; t < count; t++)
        for (size_t j = 0; j < ny; j++)
          memcpy(out + 4 * ((t * ny + j) * nz + k), cv + 4 * (j * count + t), 4);
    }
  }
cleanup:
  return status;
}

/* ---- HDF5 ----------------------------------------------------------------------------------- */

/* Finds the HDF5 file part of spec: up to the ':' that directly follows the last .h5, .hdf5 or
 * .hdf extension (any case), or to the end when the extension ends the spec. Returns its length,
 * or 0 when spec does not name an HDF5 file. */
static size_t h5_file_part(const char *spec) {
  static const char *exts[] = {".h5", ".hdf5", ".hdf"};
  size_t n = strlen(spec), len = 0;
  for (size_t p = 0; p < n; p++) {
    if (spec[p] != '.') continue;
    for (size_t e = 0; e < sizeof exts / sizeof exts[0]; e++) {
      size_t m = strlen(exts[e]);
      if (p + m <= n && strncasecmp(spec + p, exts[e], m) == 0 &&
          (spec[p + m] == ':' || spec[p + m] == 0))
        len = p + m;
    }
  }
  return len;
}

/* Reads an optional numeric attribute of want values as doubles; *found says whether it exists. */
static int h5_attr_doubles(const sf_vol *v, const char *name, double *out, size_t want,
                           int *found) {
  int status = 0;
  hid_t a = H5I_INVALID_HID, sp = H5I_INVALID_HID, t = H5I_INVALID_HID;
  char why[512];
  *found = 0;
  htri_t ex = H5Aexists(v->dset, name);
  if (ex <= 0) {
    H5Eclear2(H5E_DEFAULT);
    return 0;
  }
  *found = 1;
  a = H5Aopen(v->dset, name, H5P_DEFAULT);
  if (a >= 0) sp = H5Aget_space(a);
  if (a >= 0) t = H5Aget_type(a);
  if (a < 0 || sp < 0 || t < 0) {
    sf_h5_error_text(why, sizeof why);
    SF_CHECK(0, SF_ERR_INPUT, "%s: cannot read attribute %s: %s", v->name, name, why);
  }
  H5T_class_t cls = H5Tget_class(t);
  SF_CHECK(cls == H5T_INTEGER || cls == H5T_FLOAT, SF_ERR_INPUT, "%s: attribute %s is not numeric",
           v->name, name);
  hssize_t np = H5Sget_simple_extent_npoints(sp);
  SF_CHECK(np == (hssize_t)want, SF_ERR_INPUT, "%s: attribute %s holds %lld values; expected %zu",
           v->name, name, (long long)np, want);
  if (H5Aread(a, H5T_NATIVE_DOUBLE, out) < 0) {
    sf_h5_error_text(why, sizeof why);
    SF_CHECK(0, SF_ERR_INPUT, "%s: cannot read attribute %s: %s", v->name, name, why);
  }
  for (size_t q = 0; q < want; q++)
    SF_CHECK(isfinite(out[q]), SF_ERR_INPUT, "%s: attribute %s has a non-finite value", v->name,
             name);
cleanup:
  if (t >= 0) H5Tclose(t);
  if (sp >= 0) H5Sclose(sp);
  if (a >= 0) H5Aclose(a);
  return status;
}

static int hdf5_open(sf_vol *v, const char *spec, size_t flen) {
  int status = 0;
  hid_t sp = H5I_INVALID_HID, t = H5I_INVALID_HID;
  char why[512], names[512], tname[64];
  struct stat st;
  const char *ds = spec + flen + (spec[flen] == ':');

  SF_CHECK(flen < sizeof v->info.path, SF_ERR_INPUT, "%.64s...: path too long", spec);
  memcpy(v->info.path, spec, flen);
  v->info.path[flen] = 0;
  const char *path = v->info.path;
  SF_CHECK(*ds, SF_ERR_INPUT, "%s: name the dataset as %s:/path", path, path);
  SF_CHECK(strlen(ds) < sizeof v->info.dataset, SF_ERR_INPUT, "%s: dataset path too long", path);
  snprintf(v->info.dataset, sizeof v->info.dataset, "%s", ds);
  snprintf(v->name, sizeof v->name, "%s:%s", path, ds);
  v->info.format = SF_VOL_HDF5;

  if (stat(path, &st) != 0)
    SF_CHECK(0, SF_ERR_INPUT, "%s: cannot open input: %s", path, strerror(errno));
  SF_CHECK(S_ISREG(st.st_mode), SF_ERR_INPUT, "%s: input is not a regular file", path);
  sf_h5_quiet();
  v->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (v->file < 0) {
    sf_h5_error_text(why, sizeof why);
    SF_CHECK(0, SF_ERR_INPUT, "%s: not a readable HDF5 file (truncated or corrupt?): %s", path,
             why);
  }
  htri_t ok = H5Lexists(v->file, ds, H5P_DEFAULT);
  if (ok > 0) {
    H5O_info_t oi;
    ok = H5Oget_info_by_name2(v->file, ds, &oi, H5O_INFO_BASIC, H5P_DEFAULT) >= 0 &&
         oi.type == H5O_TYPE_DATASET;
  }
  if (ok <= 0) {
    H5Eclear2(H5E_DEFAULT);
    sf_h5_list_names(v->file, names, sizeof names);
    SF_CHECK(0, SF_ERR_INPUT, "%s: no dataset %s (the file has: %s)", path, ds,
             *names ? names : "nothing");
  }
  v->dset = H5Dopen2(v->file, ds, H5P_DEFAULT);
  if (v->dset < 0) {
    sf_h5_error_text(why, sizeof why);
    SF_CHECK(0, SF_ERR_INPUT, "%s: cannot open the dataset (corrupt?): %s", v->name, why);
  }
  sp = H5Dget_space(v->dset);
  t = H5Dget_type(v->dset);
  SF_CHECK(sp >= 0 && t >= 0, SF_ERR_INPUT, "%s: unreadable dataspace or type", v->name);
  int nd = H5Sget_simple_extent_ndims(sp);
  hsize_t dims[H5S_MAX_RANK];
  SF_CHECK(nd >= 0 && H5Sget_simple_extent_dims(sp, dims, NULL) == nd, SF_ERR_INPUT,
           "%s: unreadable dataspace", v->name);
  int64_t d64[8] = {nd};
  for (int d = 0; d < nd && d < 7; d++)
    d64[d + 1] = (int64_t)dims[d];
  char dt[128];
  dims_text(d64, nd < 7 ? nd : 7, dt, sizeof dt);
  SF_CHECK(nd >= 3, SF_ERR_INPUT, "%s: a %d-D dataset (%s); slices reads 3-D volumes (i, j, k)",
           v->name, nd, nd ? dt : "scalar");
  for (int d = 3; d < nd; d++)
    SF_CHECK(dims[d] == 1, SF_ERR_INPUT,
             "%s: a %d-D dataset (%s); slices reads 3-D volumes (later dimensions must be 1)",
             v->name, nd, dt);
  for (int d = 0; d < 3; d++) {
    SF_CHECK(dims[d] >= 1, SF_ERR_INPUT,
             "%s: dimension %d is 0 (shape %s); every dimension must be at least 1", v->name, d + 1,
             dt);
    v->info.dim[d] = (size_t)dims[d];
  }
  v->rank = nd;
  v->type = sf_h5_dtype_of(t, tname, sizeof tname);
  SF_CHECK(v->type, SF_ERR_INPUT, "%s: unsupported data type %s; slices reads " SUPPORTED_TYPES,
           v->name, tname);
  SF_CALL(sf_h5_check_storage(v->file, v->dset, path, v->name, &v->files));
  snprintf(v->info.type_name, sizeof v->info.type_name, "%s", sf_dtype_name(v->type));
  v->info.scl_slope = 1;
  v->info.scl_inter = 0;
  v->scaled = 0;
  v->info.integer = sf_dtype_is_integer(v->type);

  int found = 0;
  double sp3[3], aff[16];
  SF_CALL(h5_attr_doubles(v, "spacing", sp3, 3, &found));
  for (int d = 0; d < 3; d++) {
    if (found) SF_CHECK(sp3[d] != 0, SF_ERR_INPUT, "%s: attribute spacing has a 0", v->name);
    v->info.spacing[d] = found ? fabs(sp3[d]) : 1;
  }
  SF_CALL(h5_attr_doubles(v, "affine", aff, 16, &found));
  for (int r = 0; r < 4; r++)
    for (int c = 0; c < 4; c++)
      v->info.affine[r][c] = found ? aff[4 * r + c] : r == c ? (r < 3 ? v->info.spacing[r] : 1) : 0;
cleanup:
  if (t >= 0) H5Tclose(t);
  if (sp >= 0) H5Sclose(sp);
  return status;
}

/* Reads the box start + [0, count) of the dataset, row-major (i, j, k), into buf (native). */
static int h5_read_box(const sf_vol *v, const size_t start[3], const size_t count[3], void *buf) {
  int status = 0;
  hid_t fs = H5I_INVALID_HID, ms = H5I_INVALID_HID;
  hsize_t st[H5S_MAX_RANK], ct[H5S_MAX_RANK];
  char why[512];
  for (int d = 0; d < v->rank; d++) {
    st[d] = d < 3 ? start[d] : 0;
    ct[d] = d < 3 ? count[d] : 1;
  }
  hsize_t n = (hsize_t)count[0] * count[1] * count[2];
  fs = H5Dget_space(v->dset);
  ms = H5Screate_simple(1, &n, NULL);
  if (fs < 0 || ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, st, NULL, ct, NULL) < 0 ||
      H5Dread(v->dset, sf_h5_native_type(v->type), ms, fs, H5P_DEFAULT, buf) < 0) {
    sf_h5_error_text(why, sizeof why);
    SF_CHECK(0, SF_ERR_INPUT, "%s: truncated or corrupt data (%s)", v->name, why);
  }
  /* HDF5 reads zeros past the end of an external raw file rather than failing. */
  long long now = -1;
  long q = sf_h5_files_shrunk(&v->files, &now);
  SF_CHECK(q < 0, SF_ERR_IO,
           "%s: %s shrank from %lld to %lld bytes while the job ran (truncated?); voxels "
           "(%zu, %zu, %zu) to (%zu, %zu, %zu) cannot be trusted",
           v->name, q >= 0 ? v->files.path[q] : "", q >= 0 ? v->files.bytes[q] : 0, now, start[0],
           start[1], start[2], start[0] + count[0] - 1, start[1] + count[1] - 1,
           start[2] + count[2] - 1);
cleanup:
  if (ms >= 0) H5Sclose(ms);
  if (fs >= 0) H5Sclose(fs);
  return status;
}

/* Slices of an HDF5 dataset (see sf_vol_read_slices); 4-byte outputs, float or int32. Reads
 * boxes of whole slices, at most SF_VOL_H5_BLOCK_BYTES of stored plus converted values at a
 * time: axis 0 boxes [t][j][k] are the output's order already, axis 1 boxes [i][t][k] move rows
 * of k, axis 2 boxes of i rows [i][j][t] are transposed to [t][i][j] through a scratch block. */
static int h5_read(sf_vol *v, int axis, size_t first, size_t count, unsigned char *out, int label) {
  int status = 0;
  const size_t nx = v->info.dim[0], ny = v->info.dim[1], nz = v->info.dim[2];
  const size_t es = sf_dtype_size(v->type);
  unsigned char *raw = NULL, *cv = NULL;

  if (axis == 0 || axis == 1) {
    size_t se = axis == 0 ? ny * nz : nx * nz; /* elements per slice */
    size_t per = se * (es + 4);
    size_t bt = per >= SF_VOL_H5_BLOCK_BYTES ? 1 : SF_VOL_H5_BLOCK_BYTES / per;
    if (bt > count) bt = count;
    SF_ALLOC(raw, bt * se * es);
    for (size_t t0 = 0; t0 < count; t0 += bt) {
      size_t nt = count - t0 < bt ? count - t0 : bt, s0 = first + t0;
      size_t start[3] = {axis == 0 ? s0 : 0, axis == 1 ? s0 : 0, 0};
      size_t cnt[3] = {axis == 0 ? nt : nx, axis == 1 ? nt : ny, nz};
      SF_CALL(h5_read_box(v, start, cnt, raw));
      if (axis == 0) {
        for (size_t t = 0; t < nt; t++) {
          run_map m = {{s0 + t, 0, 0}, {0, 0, 1}, nz, {0, 1, 0}};
          SF_CALL(convert_run(v, raw + t * se * es, se, out + 4 * (t0 + t) * se, label, &m));
        }
      } else {
        for (size_t i = 0; i < nx; i++)
          for (size_t t = 0; t < nt; t++) {
            run_map m = {{i, s0 + t, 0}, {0, 0, 1}, 0, {0, 0, 0}};
            SF_CALL(convert_run(v, raw + (i * nt + t) * nz * es, nz,
                                out + 4 * ((t0 + t) * nx + i) * nz, label, &m));
          }
      }
    }
  } else {
    size_t row = ny * count; /* elements per i */
    size_t per = row * (es + 4);
    size_t bi = per >= SF_VOL_H5_BLOCK_BYTES ? 1 : SF_VOL_H5_BLOCK_BYTES / per;
    if (bi > nx) bi = nx;
    SF_ALLOC(raw, bi * row * es);
    SF_ALLOC(cv, bi * row * 4);
    for (size_t i0 = 0; i0 < nx; i0 += bi) {
      size_t ni = nx - i0 < bi ? nx - i0 : bi;
      size_t start[3] = {i0, 0, first}, cnt[3] = {ni, ny, count};
      SF_CALL(h5_read_box(v, start, cnt, raw));
      for (size_t ii = 0; ii < ni; ii++) {
        run_map m = {{i0 + ii, 0, first}, {0, 0, 1}, count, {0, 1, 0}};
        SF_CALL(convert_run(v, raw + ii * row * es, row, cv + 4 * ii * row, label, &m));
      }
      for (size_t t = 0; t < count; t++)
        for (size_t ii = 0; ii < ni; ii++) {
          unsigned char *o = out + 4 * (t * nx * ny + (i0 + ii) * ny);
          const unsigned char *c = cv + 4 * (ii * row + t);
          for (size_t j = 0; j < ny; j++)
            memcpy(o + 4 * j, c + 4 * j * count, 4);
        }
    }
  }
cleanup:
  free(raw);
  free(cv);
  return status;
}

/* ---- public --------------------------------------------------------------------------------- */

int sf_vol_open(const char *spec, size_t keep_planes, sf_vol **out) {
  int status = 0;
  sf_vol *v = NULL;
  SF_CHECK(spec && out, SF_ERR_INTERNAL, "sf_vol_open: NULL argument");
  *out = NULL;
  SF_ALLOC(v, 1);
  v->file = v->dset = H5I_INVALID_HID;
  v->next_k = SIZE_MAX;
  v->keep = keep_planes;
  size_t flen = h5_file_part(spec);
  if (flen) {
    SF_CALL(hdf5_open(v, spec, flen));
  } else {
    SF_CHECK(strlen(spec) < sizeof v->info.path, SF_ERR_INPUT, "%.64s...: path too long", spec);
    snprintf(v->info.path, sizeof v->info.path, "%s", spec);
    snprintf(v->name, sizeof v->name, "%s", spec);
    SF_CALL(nifti_open(v, spec));
  }
  *out = v;
  v = NULL;
cleanup:
  sf_vol_close(&v);
  return status;
}

const sf_vol_info *sf_vol_get_info(const sf_vol *v) { return &v->info; }

size_t sf_vol_slice_elems(const sf_vol *v, int axis) {
  if (axis < 0 || axis > 2) return 0;
  return v->info.dim[axis == 0 ? 1 : 0] * v->info.dim[axis == 2 ? 1 : 2];
}

/* Shared entry of the float and label readers. */
static int read_slices(sf_vol *v, int axis, size_t first, size_t count, void *out, int label) {
  int status = 0;
  SF_CHECK(v && out, SF_ERR_INTERNAL, "sf_vol_read_slices: NULL argument");
  SF_CHECK(axis >= 0 && axis <= 2, SF_ERR_INTERNAL, "%s: no axis %d (0, 1 or 2)", v->name, axis);
  SF_CHECK(first <= v->info.dim[axis] && count <= v->info.dim[axis] - first, SF_ERR_INTERNAL,
           "%s: slices %zu..%zu along axis %d are outside 0..%zu", v->name, first, first + count,
           axis, v->info.dim[axis]);
  if (count == 0) return 0;
  if (v->info.format == SF_VOL_HDF5)
    SF_CALL(h5_read(v, axis, first, count, out, label));
  else
    SF_CALL(nii_read(v, axis, first, count, out, label));
cleanup:
  return status;
}

int sf_vol_read_slices(sf_vol *v, int axis, size_t first, size_t count, float *out) {
  return read_slices(v, axis, first, count, out, 0);
}

int sf_vol_read_label_slices(sf_vol *v, int axis, size_t first, size_t count, int32_t *out) {
  return read_slices(v, axis, first, count, out, 1);
}

void sf_vol_close(sf_vol **pv) {
  if (!pv || !*pv) return;
  sf_vol *v = *pv;
  nii_close_stream(v);
  if (v->dset >= 0) H5Dclose(v->dset);
  if (v->file >= 0) H5Fclose(v->file);
  sf_h5_files_free(&v->files);
  free(v->iname);
  free(v->ring);
  free(v->ring_k);
  free(v->plane);
  free(v->conv);
  free(v);
  *pv = NULL;
}
