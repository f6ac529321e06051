/* CUnit tests of the volume reader (src/io/volume.h): NIfTI-1/2 volumes written with libnifti2
 * (.nii, .nii.gz, either byte order) and HDF5 datasets with known voxel values, read as slabs
 * along every axis and compared with the values computed directly; scaling, labels, affines, and
 * a clean SF_ERR_INPUT for every bad input. Usage: test_volume WORKDIR (created if missing). */
#include <CUnit/Basic.h>
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <nifti2_io.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/volume.h"
#include "sf_error.h"
#include "sf_cunit.h"

static char g_dir[3072];

/* ---- helpers -------------------------------------------------------------------------------- */

/* mkdir -p. */
static int make_dirs(const char *path) {
  char buf[3072];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
    *p = '/';
  }
  if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
  struct stat st;
  return stat(buf, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

static const char *wpath(const char *name) {
  static char buf[8][4096];
  static int next;
  char *b = buf[next++ % 8];
  snprintf(b, 4096, "%s/%s", g_dir, name);
  return b;
}

/* A test volume: stored values in NIfTI (Fortran) order and how they are scaled. */
typedef struct {
  int dt;
  size_t es;
  size_t dim[3];
  unsigned char *data;
  double slope, inter; /* as written; slope 0: no scaling */
} tvol;

static size_t type_size(int dt) {
  int nb = 0, ss = 0;
  nifti_datatype_sizes(dt, &nb, &ss);
  return (size_t)nb;
}

/* Known stored value f(i, j, k), distinct for nearby voxels, inside each type's range. */
static void put_value(int dt, unsigned char *data, size_t idx, size_t i, size_t j, size_t k) {
  uint64_t g = i + 257 * j + 65537 * k;
  switch (dt) {
  case DT_UINT8: ((uint8_t *)data)[idx] = (uint8_t)(g % 251); break;
  case DT_INT8: ((int8_t *)data)[idx] = (int8_t)((int)(g % 251) - 125); break;
  case DT_UINT16: ((uint16_t *)data)[idx] = (uint16_t)(g * 37 % 65521); break;
  case DT_INT16: ((int16_t *)data)[idx] = (int16_t)((int)(g * 37 % 65521) - 32760); break;
  case DT_UINT32: ((uint32_t *)data)[idx] = (uint32_t)(g * 2654435761u % 4294967291u); break;
  case DT_INT32:
    ((int32_t *)data)[idx] = (int32_t)((int64_t)(g * 2654435761u % 4294967291u) - 2147483000);
    break;
  case DT_UINT64: ((uint64_t *)data)[idx] = g * 1000000007ull * 1000 + 12345; break;
  case DT_INT64: ((int64_t *)data)[idx] = -(int64_t)(g * 1000000007ull * 1000) - 12345; break;
  case DT_FLOAT32: ((float *)data)[idx] = (float)g * 0.37f - 50.5f; break;
  case DT_FLOAT64: ((double *)data)[idx] = (double)g * 1.234567891e-3 - 7.0; break;
  default: memset(data + idx * type_size(dt), (int)(g & 0x7f), type_size(dt)); break;
  }
}

static double get_value(int dt, const unsigned char *data, size_t idx) {
  switch (dt) {
  case DT_UINT8: return ((const uint8_t *)data)[idx];
  case DT_INT8: return ((const int8_t *)data)[idx];
  case DT_UINT16: return ((const uint16_t *)data)[idx];
  case DT_INT16: return ((const int16_t *)data)[idx];
  case DT_UINT32: return ((const uint32_t *)data)[idx];
  case DT_INT32: return ((const int32_t *)data)[idx];
  case DT_UINT64: return (double)((const uint64_t *)data)[idx];
  case DT_INT64: return (double)((const int64_t *)data)[idx];
  case DT_FLOAT32: return ((const float *)data)[idx];
  case DT_FLOAT64: return ((const double *)data)[idx];
  default: return 0;
  }
}

static tvol make_tvol(int dt, size_t nx, size_t ny, size_t nz) {
  tvol tv = {dt, type_size(dt), {nx, ny, nz}, NULL, 0, 0};
  tv.data = calloc(nx * ny * nz, tv.es);
  for (size_t k = 0; k < nz; k++)
    for (size_t j = 0; j < ny; j++)
      for (size_t i = 0; i < nx; i++)
        put_value(dt, tv.data, i + nx * (j + ny * k), i, j, k);
  return tv;
}

static void free_tvol(tvol *tv) {
  free(tv->data);
  tv->data = NULL;
}

/* The value the reader must give for voxel (i, j, k): slope*x + inter in double, then float. */
static float expect(const tvol *tv, size_t i, size_t j, size_t k) {
  double x = get_value(tv->dt, tv->data, i + tv->dim[0] * (j + tv->dim[1] * k));
  if (tv->slope != 0) return (float)(tv->slope * x + tv->inter);
  return (float)x;
}

/* How to write a NIfTI file. */
typedef struct {
  int version;      /* 1 or 2 */
  int swap;         /* write the opposite byte order */
  int64_t dims[8];  /* dims[0] > 0: these dims instead of the volume's (data zero-filled unless
                       the voxel count matches) */
  double pixdim[4]; /* [0] = qfac; 0 entries: 1 */
  int qform_code, sform_code;
  double quat[3], qoff[3];
  double srow[3][4];
} wopt;

/* Writes tv as a NIfTI file: NIfTI-1 in native order with nifti_image_write; NIfTI-2 or the
 * opposite byte order from libnifti's own header structs (swap_nifti_header) through znzlib,
 * because nifti_image_write (3.0.1) writes NIfTI-1, native order only. Returns 0 or -1. */
static int write_nii(const char *path, const tvol *tv, const wopt *o) {
  int64_t dims[8] = {3, (int64_t)tv->dim[0], (int64_t)tv->dim[1], (int64_t)tv->dim[2], 1, 1, 1, 1};
  if (o->dims[0] > 0) memcpy(dims, o->dims, sizeof dims);
  nifti_image *nim = nifti_make_new_nim(dims, tv->dt, 1);
  if (!nim) return -1;
  size_t bytes = (size_t)nim->nvox * (size_t)nim->nbyper;
  if (tv->data && (size_t)nim->nvox == tv->dim[0] * tv->dim[1] * tv->dim[2])
    memcpy(nim->data, tv->data, bytes);
  double pd[4];
  for (int d = 0; d < 4; d++)
    pd[d] = o->pixdim[d] != 0 ? o->pixdim[d] : 1;
  nim->dx = nim->pixdim[1] = pd[1];
  nim->dy = nim->pixdim[2] = pd[2];
  nim->dz = nim->pixdim[3] = pd[3];
  nim->scl_slope = tv->slope;
  nim->scl_inter = tv->inter;
  nim->qform_code = o->qform_code;
  nim->quatern_b = o->quat[0];
  nim->quatern_c = o->quat[1];
  nim->quatern_d = o->quat[2];
  nim->qoffset_x = o->qoff[0];
  nim->qoffset_y = o->qoff[1];
  nim->qoffset_z = o->qoff[2];
  nim->qfac = pd[0] < 0 ? -1 : 1;
  nim->sform_code = o->sform_code;
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 4; c++)
      nim->sto_xyz.m[r][c] = o->srow[r][c];
  int rc = 0;
  if (nifti_set_filenames(nim, path, 0, 1) != 0) rc = -1;
  if (rc == 0 && o->version == 1 && !o->swap) {
    nifti_image_write(nim);
  } else if (rc == 0) {
    nifti_1_header h1;
    nifti_2_header h2;
    void *hdr;
    size_t hsize;
    if (o->version == 2) {
      nim->nifti_type = NIFTI_FTYPE_NIFTI2_1;
      nim->iname_offset = 544;
      rc = nifti_convert_nim2n2hdr(nim, &h2) ? -1 : 0;
      hdr = &h2;
      hsize = sizeof h2;
    } else {
      nim->iname_offset = 352;
      rc = nifti_convert_nim2n1hdr(nim, &h1) ? -1 : 0;
      hdr = &h1;
      hsize = sizeof h1;
    }
    if (o->swap) {
      swap_nifti_header(hdr, o->version);
      nifti_swap_Nbytes(nim->nvox, nim->swapsize, nim->data);
    }
    znzFile fp = rc == 0 ? znzopen(path, "wb", nifti_is_gzfile(path)) : NULL;
    char ext[4] = {0, 0, 0, 0};
    if (znz_isnull(fp) || znzwrite(hdr, 1, hsize, fp) != hsize || znzwrite(ext, 1, 4, fp) != 4 ||
        znzwrite(nim->data, 1, bytes, fp) != bytes)
      rc = -1;
    if (!znz_isnull(fp)) znzclose(fp);
  }
  nifti_image_free(nim);
  struct stat st;
  if (rc == 0 && stat(path, &st) != 0) rc = -1;
  return rc;
}

/* Compares slices [first, first+count) along axis with the expected values; returns mismatches. */
static size_t check_slices(sf_vol *v, const tvol *tv, int axis, size_t first, size_t count) {
  size_t nx = tv->dim[0], ny = tv->dim[1], nz = tv->dim[2];
  size_t se = sf_vol_slice_elems(v, axis);
  size_t want_se = axis == 0 ? ny * nz : axis == 1 ? nx * nz : nx * ny;
  CU_ASSERT_EQUAL(se, want_se);
  float *out = malloc((count ? count : 1) * se * sizeof *out);
  int rc = sf_vol_read_slices(v, axis, first, count, out);
  CU_ASSERT_EQUAL(rc, 0);
  if (rc != 0) {
    free(out);
    return 1;
  }
  size_t bad = 0;
  for (size_t t = 0; t < count; t++) {
    size_t s = first + t;
    size_t na = axis == 0 ? ny : nx, nb = axis == 2 ? ny : nz;
    for (size_t a = 0; a < na; a++)
      for (size_t b = 0; b < nb; b++) {
        size_t i = axis == 0 ? s : a, j = axis == 0 ? a : axis == 1 ? s : b, k = axis == 2 ? s : b;
        float got = out[(t * na + a) * nb + b], want = expect(tv, i, j, k);
        if (!(got == want || (isnan(got) && isnan(want)))) {
          if (bad < 3)
            fprintf(stderr, "  axis %d slice %zu voxel (%zu,%zu,%zu): got %.9g want %.9g\n", axis,
                    s, i, j, k, got, want);
          bad++;
        }
      }
  }
  free(out);
  return bad;
}

/* Checks whole-volume reads along every axis and a few partial slabs. */
static void check_all_axes(sf_vol *v, const tvol *tv) {
  for (int axis = 0; axis < 3; axis++) {
    size_t n = tv->dim[axis];
    CU_ASSERT_EQUAL(check_slices(v, tv, axis, 0, n), 0);
    CU_ASSERT_EQUAL(check_slices(v, tv, axis, n - 1, 1), 0);
    if (n > 2) {
      CU_ASSERT_EQUAL(check_slices(v, tv, axis, 1, n - 2), 0);
      CU_ASSERT_EQUAL(check_slices(v, tv, axis, 0, 2), 0);
    }
    CU_ASSERT_EQUAL(check_slices(v, tv, axis, n / 2, 0), 0);
  }
}

/* Opens spec expecting failure with code; the message must contain each needle. */
static void expect_open_error(const char *spec, int code, const char *needle1,
                              const char *needle2) {
  char msg[2048];
  sf_vol *v = NULL;
  sf_error_defer(msg, sizeof msg);
  int rc = sf_vol_open(spec, 0, &v);
  sf_error_defer(NULL, 0);
  CU_ASSERT_EQUAL(rc, code);
  CU_ASSERT_PTR_NULL(v);
  if (needle1) CU_ASSERT_PTR_NOT_NULL(strstr(msg, needle1));
  if (needle2) CU_ASSERT_PTR_NOT_NULL(strstr(msg, needle2));
  if (rc != code || (needle1 && !strstr(msg, needle1)) || (needle2 && !strstr(msg, needle2)))
    fprintf(stderr, "  %s: rc %d, message \"%s\"\n", spec, rc, msg);
  sf_vol_close(&v);
}

static long file_size(const char *p);

static const int k_all_types[] = {DT_UINT8, DT_INT8,   DT_UINT16, DT_INT16,   DT_UINT32,
                                  DT_INT32, DT_UINT64, DT_INT64,  DT_FLOAT32, DT_FLOAT64};

/* ---- tests ---------------------------------------------------------------------------------- */

static void test_types_nifti1(void) {
  /* Every supported type, NIfTI-1 .nii and .nii.gz: header facts and every axis. */
  for (size_t t = 0; t < sizeof k_all_types / sizeof k_all_types[0]; t++) {
    int dt = k_all_types[t];
    tvol tv = make_tvol(dt, 7, 5, 6);
    for (int gz = 0; gz < 2; gz++) {
      char name[64];
      snprintf(name, sizeof name, "t_%s.nii%s", nifti_datatype_to_string(dt), gz ? ".gz" : "");
      const char *p = wpath(name);
      wopt o = {.version = 1, .pixdim = {1, 0.5, 2, 3}};
      CU_ASSERT_EQUAL_FATAL(write_nii(p, &tv, &o), 0);
      sf_vol *v = NULL;
      CU_ASSERT_EQUAL_FATAL(sf_vol_open(p, 2, &v), 0);
      const sf_vol_info *in = sf_vol_get_info(v);
      CU_ASSERT_EQUAL(in->format, SF_VOL_NIFTI1);
      CU_ASSERT(in->dim[0] == 7 && in->dim[1] == 5 && in->dim[2] == 6);
      CU_ASSERT(in->spacing[0] == 0.5 && in->spacing[1] == 2 && in->spacing[2] == 3);
      CU_ASSERT(in->scl_slope == 1 && in->scl_inter == 0);
      CU_ASSERT_EQUAL(in->integer, dt != DT_FLOAT32 && dt != DT_FLOAT64);
      CU_ASSERT_STRING_EQUAL(in->path, p);
      CU_ASSERT_STRING_EQUAL(in->dataset, "");
      const char *tn = dt == DT_UINT8     ? "uint8"
                       : dt == DT_INT8    ? "int8"
                       : dt == DT_UINT16  ? "uint16"
                       : dt == DT_INT16   ? "int16"
                       : dt == DT_UINT32  ? "uint32"
                       : dt == DT_INT32   ? "int32"
                       : dt == DT_UINT64  ? "uint64"
                       : dt == DT_INT64   ? "int64"
                       : dt == DT_FLOAT32 ? "float32"
                                          : "float64";
      CU_ASSERT_STRING_EQUAL(in->type_name, tn);
      check_all_axes(v, &tv);
      sf_vol_close(&v);
      CU_ASSERT_PTR_NULL(v);
    }
    free_tvol(&tv);
  }
  sf_vol_close(NULL); /* accepted */
}

static void test_nifti2(void) {
  /* NIfTI-2 (540-byte header, 64-bit dims) in .nii and .nii.gz. */
  int types[] = {DT_INT16, DT_FLOAT32, DT_UINT8};
  for (int t = 0; t < 3; t++) {
    tvol tv = make_tvol(types[t], 6, 9, 4);
    for (int gz = 0; gz < 2; gz++) {
      const char *p = wpath(gz ? "n2.nii.gz" : "n2.nii");
      wopt o = {.version = 2, .pixdim = {1, 1.5, 1.5, 4}};
      CU_ASSERT_EQUAL_FATAL(write_nii(p, &tv, &o), 0);
      sf_vol *v = NULL;
      CU_ASSERT_EQUAL_FATAL(sf_vol_open(p, 0, &v), 0);
      const sf_vol_info *in = sf_vol_get_info(v);
      CU_ASSERT_EQUAL(in->format, SF_VOL_NIFTI2);
      CU_ASSERT(in->dim[0] == 6 && in->dim[1] == 9 && in->dim[2] == 4);
      CU_ASSERT(in->spacing[0] == 1.5 && in->spacing[2] == 4);
      check_all_axes(v, &tv);
      sf_vol_close(&v);
    }
    free_tvol(&tv);
  }
}

/* Bytes this process has read through read() so far (Linux), or -1. */
static long long bytes_read_so_far(void) {
  FILE *f = fopen("/proc/self/io", "r");
  if (!f) return -1;
  char line[256];
  long long r = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "rchar: %lld", &r) == 1) break;
  fclose(f);
  return r;
}

static void test_gz_halo(void) {
  /* Consecutive batches along axis 2 with a halo that steps back: correct values with and
   * without the plane cache; with it, the halo costs no re-read of the compressed file. Float
   * noise so that the file does not compress away. */
  const size_t nx = 64, ny = 48, nz = 24, K = 2, B = 5;
  tvol tv = make_tvol(DT_FLOAT32, nx, ny, nz);
  uint32_t s = 12345;
  for (size_t q = 0; q < nx * ny * nz; q++) {
    s = s * 1664525u + 1013904223u;
    ((float *)tv.data)[q] = (float)(s >> 8) * 1e-3f;
  }
  const char *p = wpath("halo.nii.gz");
  wopt o = {.version = 1};
  CU_ASSERT_EQUAL_FATAL(write_nii(p, &tv, &o), 0);
  for (size_t keep = 0; keep <= 2 * K; keep += 2 * K) {
    sf_vol *v = NULL;
    CU_ASSERT_EQUAL_FATAL(sf_vol_open(p, keep, &v), 0);
    long long worst = 0;
    for (size_t b0 = 0; b0 < nz; b0 += B) {
      size_t lo = b0 >= K ? b0 - K : 0, hi = b0 + B + K < nz ? b0 + B + K : nz;
      long long r0 = bytes_read_so_far();
      CU_ASSERT_EQUAL(check_slices(v, &tv, 2, lo, hi - lo), 0);
      long long r1 = bytes_read_so_far();
      if (b0 > 0 && r0 >= 0 && r1 - r0 > worst) worst = r1 - r0;
    }
    /* A batch decompresses at most its new planes (B) plus zlib's read-ahead; a rewind would
     * read everything before the batch again (well over 2 * B planes by the last batch). */
    if (keep && worst > 0) CU_ASSERT(worst < (long long)((B + 2) * nx * ny * 4));
    if (!keep && worst > 0) CU_ASSERT(worst > (long long)(2 * B * nx * ny * 4));
    /* Any order still reads right: back to the start, then an axis-0 pass, then axis 2 again. */
    CU_ASSERT_EQUAL(check_slices(v, &tv, 2, 0, 3), 0);
    CU_ASSERT_EQUAL(check_slices(v, &tv, 0, 10, 5), 0);
    CU_ASSERT_EQUAL(check_slices(v, &tv, 1, 40, 8), 0);
    CU_ASSERT_EQUAL(check_slices(v, &tv, 2, nz - 4, 4), 0);
    CU_ASSERT_EQUAL(check_slices(v, &tv, 2, nz - 6, 3), 0);
    sf_vol_close(&v);
  }
  free_tvol(&tv);
}

static void test_byte_order(void) {
  /* A byte-swapped copy (big-endian on this machine) gives the same header facts and values. */
  int types[] = {DT_INT16, DT_FLOAT32, DT_FLOAT64, DT_UINT32, DT_INT64};
  for (int t = 0; t < 5; t++) {
    tvol tv = make_tvol(types[t], 5, 6, 7);
    tv.slope = types[t] == DT_INT16 ? 0.5 : 0;
    tv.inter = types[t] == DT_INT16 ? 3 : 0;
    for (int version = 1; version <= 2; version++)
      for (int gz = 0; gz < 2; gz++) {
        wopt o = {.version = version,
                  .pixdim = {-1, 2, 3, 4},
                  .qform_code = 1,
                  .quat = {0.1, 0.2, 0.3},
                  .qoff = {-5, 6, 7}};
        const char *pn = wpath(gz ? "native.nii.gz" : "native.nii");
        const char *ps = wpath(gz ? "swapped.nii.gz" : "swapped.nii");
        CU_ASSERT_EQUAL_FATAL(write_nii(pn, &tv, &o), 0);
        o.swap = 1;
        CU_ASSERT_EQUAL_FATAL(write_nii(ps, &tv, &o), 0);
        if (!gz) { /* really swapped: sizeof_hdr reads big-endian */
          unsigned char b[4] = {0};
          FILE *f = fopen(ps, "rb");
          CU_ASSERT_FATAL(f != NULL);
          CU_ASSERT_EQUAL(fread(b, 1, 4, f), 4);
          fclose(f);
          uint32_t be = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
          CU_ASSERT_EQUAL(be, version == 2 ? 540u : 348u);
        }
        sf_vol *vn = NULL, *vs = NULL;
        CU_ASSERT_EQUAL_FATAL(sf_vol_open(pn, 1, &vn), 0);
        CU_ASSERT_EQUAL_FATAL(sf_vol_open(ps, 1, &vs), 0);
        const sf_vol_info *a = sf_vol_get_info(vn), *b = sf_vol_get_info(vs);
        CU_ASSERT_EQUAL(a->format, b->format);
        CU_ASSERT_EQUAL(b->format, version == 2 ? SF_VOL_NIFTI2 : SF_VOL_NIFTI1);
        CU_ASSERT(memcmp(a->dim, b->dim, sizeof a->dim) == 0);
        CU_ASSERT(memcmp(a->spacing, b->spacing, sizeof a->spacing) == 0);
        CU_ASSERT(memcmp(a->affine, b->affine, sizeof a->affine) == 0);
        CU_ASSERT(a->scl_slope == b->scl_slope && a->scl_inter == b->scl_inter);
        CU_ASSERT_EQUAL(a->integer, b->integer);
        CU_ASSERT_STRING_EQUAL(a->type_name, b->type_name);
        check_all_axes(vn, &tv);
        check_all_axes(vs, &tv);
        sf_vol_close(&vn);
        sf_vol_close(&vs);
      }
    free_tvol(&tv);
  }
}

static void test_scaling(void) {
  /* scl_slope/scl_inter applied in double; slope 0 means none; `integer` follows the rules. */
  struct {
    int dt;
    double slope, inter;
    int integer;
  } cases[] = {{DT_INT16, 2.5, -10, 0}, {DT_INT16, 2, 3, 1},    {DT_UINT8, 0, 7, 1},
               {DT_UINT16, 1, 0, 1},    {DT_FLOAT32, 2, 1, 0},  {DT_INT32, 1e-3, 0.25, 0},
               {DT_INT8, -1, 100, 1},   {DT_FLOAT64, 0.5, 0, 0}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    tvol tv = make_tvol(cases[c].dt, 4, 6, 5);
    tv.slope = cases[c].slope;
    tv.inter = cases[c].inter;
    const char *p = wpath(c % 2 ? "scaled.nii.gz" : "scaled.nii");
    wopt o = {.version = 1 + (int)(c % 2)};
    CU_ASSERT_EQUAL_FATAL(write_nii(p, &tv, &o), 0);
    sf_vol *v = NULL;
    CU_ASSERT_EQUAL_FATAL(sf_vol_open(p, 0, &v), 0);
    const sf_vol_info *in = sf_vol_get_info(v);
    double ws = cases[c].slope != 0 ? cases[c].slope : 1,
           wi = cases[c].slope != 0 ? cases[c].inter : 0;
    CU_ASSERT_DOUBLE_EQUAL(in->scl_slope, ws, 0);
    CU_ASSERT_DOUBLE_EQUAL(in->scl_inter, wi, 0);
    CU_ASSERT_EQUAL(in->integer, cases[c].integer);
    check_all_axes(v, &tv);
    sf_vol_close(&v);
    free_tvol(&tv);
  }
}

static void test_float_specials(void) {
  /* Stored NaN and Inf pass through as they are (the caller checks). */
  tvol tv = make_tvol(DT_FLOAT32, 3, 4, 5);
  ((float *)tv.data)[0] = NAN;
  ((float *)tv.data)[7] = INFINITY;
  ((float *)tv.data)[59] = -INFINITY;
  const char *p = wpath("specials.nii");
  wopt o = {.version = 1};
  CU_ASSERT_EQUAL_FATAL(write_nii(p, &tv, &o), 0);
  sf_vol *v = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_vol_open(p, 0, &v), 0);
  check_all_axes(v, &tv);
  float out[12];
  CU_ASSERT_EQUAL(sf_vol_read_slices(v, 2, 0, 1, out), 0);
  CU_ASSERT(isnan(out[0]));         /* (0,0,0) */
  CU_ASSERT(isinf(out[1 * 4 + 2])); /* (1,2,0): 1 + 3*2 = 7 */
  sf_vol_close(&v);
  free_tvol(&tv);
}

/* Reads labels along axis and compares with the expected integers; returns mismatches. */
static size_t check_labels(sf_vol *v, const tvol *tv, int axis, size_t first, size_t count) {
  size_t nx = tv->dim[0], ny = tv->dim[1], nz = tv->dim[2];
  size_t se = sf_vol_slice_elems(v, axis);
  int32_t *out = malloc(count * se * sizeof *out);
  int rc = sf_vol_read_label_slices(v, axis, first, count, out);
  CU_ASSERT_EQUAL(rc, 0);
  size_t bad = rc != 0;
  for (size_t t = 0; rc == 0 && t < count; t++) {
    size_t s = first + t, na = axis == 0 ? ny : nx, nb = axis == 2 ? ny : nz;
    for (size_t a = 0; a < na; a++)
      for (size_t b = 0; b < nb; b++) {
        size_t i = axis == 0 ? s : a, j = axis == 0 ? a : axis == 1 ? s : b, k = axis == 2 ? s : b;
        double x = get_value(tv->dt, tv->data, i + nx * (j + ny * k));
        if (tv->slope != 0) x = tv->slope * x + tv->inter;
        if (out[(t * na + a) * nb + b] != (int32_t)x) bad++;
      }
  }
  free(out);
  return bad;
}

static void test_labels(void) {
  /* Integer labels of several types (int32 keeps values beyond float32's 2^24), and integral
   * floats, along every axis. */
  int types[] = {DT_UINT8, DT_INT8, DT_INT16, DT_UINT16, DT_INT32};
  for (int t = 0; t < 5; t++) {
    tvol tv = make_tvol(types[t], 6, 5, 4);
    if (types[t] == DT_INT16) tv.slope = 2, tv.inter = -3;
    const char *p = wpath("labels.nii.gz");
    wopt o = {.version = 1};
    CU_ASSERT_EQUAL_FATAL(write_nii(p, &tv, &o), 0);
    sf_vol *v = NULL;
    CU_ASSERT_EQUAL_FATAL(sf_vol_open(p, 1, &v), 0);
    CU_ASSERT_EQUAL(sf_vol_get_info(v)->integer, 1);
    for (int axis = 0; axis < 3; axis++) {
      CU_ASSERT_EQUAL(check_labels(v, &tv, axis, 0, tv.dim[axis]), 0);
      CU_ASSERT_EQUAL(check_labels(v, &tv, axis, 1, 2), 0);
    }
    sf_vol_close(&v);
    free_tvol(&tv);
  }
  /* Float labels: integral values are fine; 1.5 at (2,1,3) is an error naming that voxel. */
  tvol tv = make_tvol(DT_FLOAT32, 5, 4, 6);
  for (size_t q = 0; q < 5 * 4 * 6; q++)
    ((float *)tv.data)[q] = (float)(q % 9);
  const char *p = wpath("labels_f.nii");
  wopt o = {.version = 1};
  CU_ASSERT_EQUAL_FATAL(write_nii(p, &tv, &o), 0);
  sf_vol *v = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_vol_open(p, 0, &v), 0);
  CU_ASSERT_EQUAL(sf_vol_get_info(v)->integer, 0);
  for (int axis = 0; axis < 3; axis++)
    CU_ASSERT_EQUAL(check_labels(v, &tv, axis, 0, tv.dim[axis]), 0);
  sf_vol_close(&v);
  ((float *)tv.data)[2 + 5 * (1 + 4 * 3)] = 1.5f;
  CU_ASSERT_EQUAL_FATAL(write_nii(p, &tv, &o), 0);
  CU_ASSERT_EQUAL_FATAL(sf_vol_open(p, 0, &v), 0);
  CU_ASSERT_EQUAL(check_labels(v, &tv, 2, 0, 3), 0); /* k < 3: clean */
  int32_t out[5 * 4 * 6];
  char msg[2048];
  for (int axis = 0; axis < 3; axis++) {
    sf_error_defer(msg, sizeof msg);
    int rc = sf_vol_read_label_slices(v, axis, 0, tv.dim[axis], out);
    sf_error_defer(NULL, 0);
    CU_ASSERT_EQUAL(rc, SF_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "(2, 1, 3)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "labels_f.nii"));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "not an integer"));
  }
  /* The float reader does not care. */
  CU_ASSERT_EQUAL(check_slices(v, &tv, 1, 0, 4), 0);
  sf_vol_close(&v);
  free_tvol(&tv);

  /* Outside int32: uint32 4e9 and float64 -3e9. */
  int big_types[] = {DT_UINT32, DT_FLOAT64};
  for (int t = 0; t < 2; t++) {
    tvol tb = make_tvol(big_types[t], 3, 3, 3);
    memset(tb.data, 0, 27 * tb.es);
    if (big_types[t] == DT_UINT32)
      ((uint32_t *)tb.data)[26] = 4000000000u;
    else
      ((double *)tb.data)[26] = -3e9;
    p = wpath("labels_big.nii");
    CU_ASSERT_EQUAL_FATAL(write_nii(p, &tb, &o), 0);
    CU_ASSERT_EQUAL_FATAL(sf_vol_open(p, 0, &v), 0);
    sf_error_defer(msg, sizeof msg);
    int rc = sf_vol_read_label_slices(v, 0, 0, 3, out);
    sf_error_defer(NULL, 0);
    CU_ASSERT_EQUAL(rc, SF_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "(2, 2, 2)"));
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "int32 range"));
    sf_vol_close(&v);
    free_tvol(&tb);
  }
}

static int near(double a, double b) { return fabs(a - b) <= 1e-6 * (1 + fabs(b)); }

static int affine_is(const sf_vol_info *in, const double want[3][4]) {
  int ok = 1;
  for (int r = 0; r < 3; r++)
    for (int c = 0; c < 4; c++)
      ok &= near(in->affine[r][c], want[r][c]);
  ok &= in->affine[3][0] == 0 && in->affine[3][1] == 0 && in->affine[3][2] == 0 &&
        in->affine[3][3] == 1;
  if (!ok)
    for (int r = 0; r < 4; r++)
      fprintf(stderr, "  affine row %d: %g %g %g %g\n", r, in->affine[r][0], in->affine[r][1],
              in->affine[r][2], in->affine[r][3]);
  return ok;
}

static void test_affine(void) {
  tvol tv = make_tvol(DT_UINT8, 4, 5, 7);
  sf_vol *v = NULL;
  for (int version = 1; version <= 2; version++) {
    /* No qform, no sform: nibabel's fallback diag(-dx, dy, dz), centred (spec B5.25: dims
     * 4x5x7, zooms 1,3,2 -> origin (1.5, -6, -6)). */
    const char *p = wpath("aff.nii");
    wopt o = {.version = version, .pixdim = {1, 1, 3, 2}};
    CU_ASSERT_EQUAL_FATAL(write_nii(p, &tv, &o), 0);
    CU_ASSERT_EQUAL_FATAL(sf_vol_open(p, 0, &v), 0);
    const double fb[3][4] = {{-1, 0, 0, 1.5}, {0, 3, 0, -6}, {0, 0, 2, -6}};
    CU_ASSERT(affine_is(sf_vol_get_info(v), fb));
    sf_vol_close(&v);

    /* qform only: 90 degrees about z (a = d = sqrt(1/2): R = [[0,-1,0],[1,0,0],[0,0,1]]),
     * pixdim 2,3,4 and qfac -1 (third column negated), offsets 10,20,30. By hand:
     * R * diag(2, 3, -4) = [[0,-3,0],[2,0,0],[0,0,-4]]. */
    o = (wopt){.version = version,
               .pixdim = {-1, 2, 3, 4},
               .qform_code = 1,
               .quat = {0, 0, sqrt(0.5)},
               .qoff = {10, 20, 30}};
    CU_ASSERT_EQUAL_FATAL(write_nii(p, &tv, &o), 0);
    CU_ASSERT_EQUAL_FATAL(sf_vol_open(p, 0, &v), 0);
    const double qf[3][4] = {{0, -3, 0, 10}, {2, 0, 0, 20}, {0, 0, -4, 30}};
    CU_ASSERT(affine_is(sf_vol_get_info(v), qf));
    const sf_vol_info *in = sf_vol_get_info(v);
    CU_ASSERT(in->spacing[0] == 2 && in->spacing[1] == 3 && in->spacing[2] == 4);
    sf_vol_close(&v);

    /* qform with qfac +1 and a rotation about x by 90 degrees (b = sqrt(1/2)):
     * R = [[1,0,0],[0,0,-1],[0,1,0]] -> R * diag(2,3,4) = [[2,0,0],[0,0,-4],[0,3,0]]. */
    o = (wopt){.version = version,
               .pixdim = {1, 2, 3, 4},
               .qform_code = 2,
               .quat = {sqrt(0.5), 0, 0},
               .qoff = {-1, -2, -3}};
    CU_ASSERT_EQUAL_FATAL(write_nii(p, &tv, &o), 0);
    CU_ASSERT_EQUAL_FATAL(sf_vol_open(p, 0, &v), 0);
    const double qx[3][4] = {{2, 0, 0, -1}, {0, 0, -4, -2}, {0, 3, 0, -3}};
    CU_ASSERT(affine_is(sf_vol_get_info(v), qx));
    sf_vol_close(&v);

    /* sform beats qform when both are set. */
    o.sform_code = 1;
    double srow[3][4] = {{-0.5, 0.1, 0, 90}, {0, 0.5, 0.2, -126}, {0.3, 0, 0.5, -72}};
    memcpy(o.srow, srow, sizeof srow);
    CU_ASSERT_EQUAL_FATAL(write_nii(p, &tv, &o), 0);
    CU_ASSERT_EQUAL_FATAL(sf_vol_open(p, 0, &v), 0);
    CU_ASSERT(affine_is(sf_vol_get_info(v), (const double(*)[4])srow));
    sf_vol_close(&v);
  }
  free_tvol(&tv);
}

static void test_trailing_dims(void) {
  /* dim = [4, x, y, z, 1] and [5, x, y, z, 1, 1] are 3-D volumes, NIfTI-1 and -2. */
  tvol tv = make_tvol(DT_INT16, 4, 3, 5);
  for (int version = 1; version <= 2; version++)
    for (int nd = 4; nd <= 5; nd++) {
      const char *p = wpath("trailing.nii.gz");
      wopt o = {.version = version, .dims = {nd, 4, 3, 5, 1, 1, 1, 1}};
      CU_ASSERT_EQUAL_FATAL(write_nii(p, &tv, &o), 0);
      sf_vol *v = NULL;
      CU_ASSERT_EQUAL_FATAL(sf_vol_open(p, 0, &v), 0);
      CU_ASSERT(sf_vol_get_info(v)->dim[2] == 5);
      check_all_axes(v, &tv);
      sf_vol_close(&v);
    }
  free_tvol(&tv);
}

static void test_pair(void) {
  /* A NIfTI-1 .hdr/.img pair ("ni1"), opened by either name; a short .img is named. */
  tvol tv = make_tvol(DT_INT16, 5, 4, 3);
  const char *hdr = wpath("pair.hdr"), *img = wpath("pair.img");
  wopt o = {.version = 1, .pixdim = {1, 2, 2, 2}};
  CU_ASSERT_EQUAL_FATAL(write_nii(hdr, &tv, &o), 0);
  CU_ASSERT_EQUAL(file_size(img), 5 * 4 * 3 * 2);
  const char *names[2] = {hdr, img};
  for (int n = 0; n < 2; n++) {
    sf_vol *v = NULL;
    CU_ASSERT_EQUAL_FATAL(sf_vol_open(names[n], 1, &v), 0);
    CU_ASSERT_EQUAL(sf_vol_get_info(v)->format, SF_VOL_NIFTI1);
    CU_ASSERT(sf_vol_get_info(v)->spacing[1] == 2);
    check_all_axes(v, &tv);
    sf_vol_close(&v);
  }
  CU_ASSERT_EQUAL_FATAL(truncate(img, 100), 0);
  expect_open_error(hdr, SF_ERR_INPUT, "pair.img: file is truncated: 100 bytes, header needs 120",
                    NULL);
  free_tvol(&tv);
}

/* Writes an HDF5 dataset of dims d0 x d1 x d2 (= i, j, k) with value f(i, j, k) of type dt. */
static int write_h5(const char *path, const char *dset, const tvol *tv, int spacing, int affine,
                    int rank) {
  size_t nx = tv->dim[0], ny = tv->dim[1], nz = tv->dim[2];
  hid_t mt = tv->dt == DT_INT16     ? H5T_NATIVE_INT16
             : tv->dt == DT_UINT8   ? H5T_NATIVE_UINT8
             : tv->dt == DT_FLOAT64 ? H5T_NATIVE_DOUBLE
             : tv->dt == DT_INT64   ? H5T_NATIVE_INT64
                                    : H5T_NATIVE_FLOAT;
  hid_t ft = tv->dt == DT_INT16 ? H5T_STD_I16BE : mt; /* a big-endian file type too */
  /* C order (i, j, k): k fastest. */
  unsigned char *c = malloc(nx * ny * nz * tv->es);
  for (size_t i = 0; i < nx; i++)
    for (size_t j = 0; j < ny; j++)
      for (size_t k = 0; k < nz; k++)
        memcpy(c + ((i * ny + j) * nz + k) * tv->es, tv->data + (i + nx * (j + ny * k)) * tv->es,
               tv->es);
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t dims[4] = {nx, ny, nz, 1};
  hid_t sp = H5Screate_simple(rank, dims, NULL);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t d = H5Dcreate2(f, dset, ft, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  int rc = f >= 0 && d >= 0 && H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, c) >= 0 ? 0 : -1;
  if (spacing) {
    double s[3] = {0.5, 0.75, 2.5};
    hsize_t n3 = 3;
    hid_t as = H5Screate_simple(1, &n3, NULL);
    hid_t a = H5Acreate2(d, "spacing", H5T_IEEE_F64LE, as, H5P_DEFAULT, H5P_DEFAULT);
    if (H5Awrite(a, H5T_NATIVE_DOUBLE, s) < 0) rc = -1;
    H5Aclose(a);
    H5Sclose(as);
  }
  if (affine) {
    double m[16] = {0, 0, 2, 1, 0, 3, 0, 2, -1, 0, 0, 3, 0, 0, 0, 1};
    hsize_t n44[2] = {4, 4};
    hid_t as = H5Screate_simple(2, n44, NULL);
    hid_t a = H5Acreate2(d, "affine", H5T_IEEE_F64LE, as, H5P_DEFAULT, H5P_DEFAULT);
    if (H5Awrite(a, H5T_NATIVE_DOUBLE, m) < 0) rc = -1;
    H5Aclose(a);
    H5Sclose(as);
  }
  H5Dclose(d);
  H5Pclose(lcpl);
  H5Sclose(sp);
  H5Fclose(f);
  free(c);
  return rc;
}

static void test_hdf5(void) {
  int types[] = {DT_INT16, DT_FLOAT64, DT_UINT8, DT_FLOAT32, DT_INT64};
  for (int t = 0; t < 5; t++) {
    tvol tv = make_tvol(types[t], 7, 4, 6);
    const char *file = wpath(t % 2 ? "vol.hdf5" : "vol.h5");
    CU_ASSERT_EQUAL_FATAL(write_h5(file, "/grp/vol", &tv, t == 0, t == 0, 3 + (t == 2)), 0);
    char spec[4200];
    snprintf(spec, sizeof spec, "%s:/grp/vol", file);
    sf_vol *v = NULL;
    CU_ASSERT_EQUAL_FATAL(sf_vol_open(spec, 3, &v), 0);
    const sf_vol_info *in = sf_vol_get_info(v);
    CU_ASSERT_EQUAL(in->format, SF_VOL_HDF5);
    CU_ASSERT(in->dim[0] == 7 && in->dim[1] == 4 && in->dim[2] == 6);
    CU_ASSERT_STRING_EQUAL(in->path, file);
    CU_ASSERT_STRING_EQUAL(in->dataset, "/grp/vol");
    CU_ASSERT_EQUAL(in->integer, types[t] != DT_FLOAT64 && types[t] != DT_FLOAT32);
    CU_ASSERT(in->scl_slope == 1 && in->scl_inter == 0);
    if (t == 0) {
      CU_ASSERT_STRING_EQUAL(in->type_name, "int16");
      CU_ASSERT(in->spacing[0] == 0.5 && in->spacing[1] == 0.75 && in->spacing[2] == 2.5);
      const double want[3][4] = {{0, 0, 2, 1}, {0, 3, 0, 2}, {-1, 0, 0, 3}};
      CU_ASSERT(affine_is(in, want));
    } else {
      CU_ASSERT(in->spacing[0] == 1 && in->spacing[1] == 1 && in->spacing[2] == 1);
      const double want[3][4] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}};
      CU_ASSERT(affine_is(in, want));
    }
    check_all_axes(v, &tv);
    if (types[t] == DT_INT16 || types[t] == DT_UINT8) /* integer types within int32 */
      for (int axis = 0; axis < 3; axis++)
        CU_ASSERT_EQUAL(check_labels(v, &tv, axis, 1, tv.dim[axis] - 1), 0);
    sf_vol_close(&v);
    free_tvol(&tv);
  }
  /* Slabs bigger than the reader's 16 MiB box: several boxes along every axis. */
  tvol tv = make_tvol(DT_FLOAT32, 40, 256, 220);
  const char *file = wpath("big.h5");
  CU_ASSERT_EQUAL_FATAL(write_h5(file, "vol", &tv, 0, 0, 3), 0);
  char spec[4200];
  snprintf(spec, sizeof spec, "%s:vol", file);
  sf_vol *v = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_vol_open(spec, 0, &v), 0);
  CU_ASSERT_EQUAL(check_slices(v, &tv, 2, 0, 220), 0);
  CU_ASSERT_EQUAL(check_slices(v, &tv, 2, 100, 7), 0);
  CU_ASSERT_EQUAL(check_slices(v, &tv, 0, 0, 40), 0);  /* 2 boxes of slices */
  CU_ASSERT_EQUAL(check_slices(v, &tv, 1, 0, 256), 0); /* 2 boxes of slices */
  sf_vol_close(&v);
  free_tvol(&tv);
  unlink(file);
}

static void test_hdf5_errors(void) {
  tvol tv = make_tvol(DT_INT16, 3, 4, 5);
  const char *file = wpath("err.h5");
  CU_ASSERT_EQUAL_FATAL(write_h5(file, "/vol", &tv, 0, 0, 3), 0);
  hid_t f = H5Fopen(file, H5F_ACC_RDWR, H5P_DEFAULT);
  hsize_t d2[2] = {4, 5};
  hid_t sp = H5Screate_simple(2, d2, NULL);
  hid_t d = H5Dcreate2(f, "/flat", H5T_NATIVE_FLOAT, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dclose(d);
  H5Sclose(sp);
  hsize_t d3[3] = {2, 2, 2};
  sp = H5Screate_simple(3, d3, NULL);
  hid_t ct = H5Tcreate(H5T_COMPOUND, 8);
  H5Tinsert(ct, "a", 0, H5T_NATIVE_FLOAT);
  H5Tinsert(ct, "b", 4, H5T_NATIVE_FLOAT);
  d = H5Dcreate2(f, "/pairs", ct, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dclose(d);
  H5Tclose(ct);
  d = H5Dcreate2(f, "/half", H5T_NATIVE_FLOAT, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  hid_t as = H5Screate_simple(1, d3, NULL); /* 2 values: "spacing" needs 3 */
  hid_t a = H5Acreate2(d, "spacing", H5T_NATIVE_DOUBLE, as, H5P_DEFAULT, H5P_DEFAULT);
  double two[2] = {1, 2};
  H5Awrite(a, H5T_NATIVE_DOUBLE, two);
  H5Aclose(a);
  H5Sclose(as);
  H5Dclose(d);
  H5Sclose(sp);
  H5Fclose(f);

  char spec[4200];
  expect_open_error(file, SF_ERR_INPUT, "name the dataset as", "err.h5:/path");
  snprintf(spec, sizeof spec, "%s:", file);
  expect_open_error(spec, SF_ERR_INPUT, "name the dataset as", NULL);
  snprintf(spec, sizeof spec, "%s:/nope", file);
  expect_open_error(spec, SF_ERR_INPUT, "no dataset /nope", "/vol");
  snprintf(spec, sizeof spec, "%s:/flat", file);
  expect_open_error(spec, SF_ERR_INPUT, "err.h5:/flat", "2-D");
  snprintf(spec, sizeof spec, "%s:/pairs", file);
  expect_open_error(spec, SF_ERR_INPUT, "err.h5:/pairs", "compound");
  snprintf(spec, sizeof spec, "%s:/half", file);
  expect_open_error(spec, SF_ERR_INPUT, "spacing", "2 values");
  expect_open_error(wpath("missing.h5:/vol"), SF_ERR_INPUT, "missing.h5", "cannot open input");
  /* Not an HDF5 file at all. */
  const char *junk = wpath("junk.h5");
  FILE *j = fopen(junk, "wb");
  fputs("this is not HDF5\n", j);
  fclose(j);
  snprintf(spec, sizeof spec, "%s:/vol", junk);
  expect_open_error(spec, SF_ERR_INPUT, "junk.h5", "not a readable HDF5 file");
  free_tvol(&tv);
}

/* Copies the first n bytes of src to dst. */
static int copy_prefix(const char *src, const char *dst, long n) {
  FILE *a = fopen(src, "rb"), *b = fopen(dst, "wb");
  int rc = a && b ? 0 : -1;
  for (long q = 0; rc == 0 && q < n; q++) {
    int c = fgetc(a);
    if (c == EOF) break;
    fputc(c, b);
  }
  if (a) fclose(a);
  if (b) fclose(b);
  return rc;
}

static long file_size(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 ? (long)st.st_size : -1;
}

static void test_nifti_errors(void) {
  tvol tv = make_tvol(DT_INT16, 8, 8, 8);
  wopt o = {.version = 1};
  char msg[2048];

  /* Missing file, unknown extension, not NIfTI. */
  expect_open_error(wpath("nope.nii"), SF_ERR_INPUT, "nope.nii", "cannot open input");
  expect_open_error(wpath("nope.nii.gz"), SF_ERR_INPUT, "nope.nii.gz", "cannot open input");
  const char *junk = wpath("junk.nii");
  FILE *f = fopen(junk, "wb");
  for (int q = 0; q < 1000; q++)
    fputc(q * 7 & 0xff, f);
  fclose(f);
  expect_open_error(junk, SF_ERR_INPUT, "junk.nii", "not a NIfTI-1/2 file");
  const char *txt = wpath("vol.txt");
  f = fopen(txt, "wb");
  fputs("x\n", f);
  fclose(f);
  expect_open_error(txt, SF_ERR_INPUT, "vol.txt", "unknown volume format");
  const char *empty = wpath("empty.nii");
  f = fopen(empty, "wb");
  fclose(f);
  expect_open_error(empty, SF_ERR_INPUT, "empty.nii", "not a NIfTI-1/2 file");

  /* 2-D and 4-D (dim4 = 3) images. */
  const char *p2 = wpath("flat.nii");
  wopt o2 = {.version = 1, .dims = {2, 8, 8, 1, 1, 1, 1, 1}};
  CU_ASSERT_EQUAL_FATAL(write_nii(p2, &tv, &o2), 0);
  expect_open_error(p2, SF_ERR_INPUT, "flat.nii", "2-D");
  const char *p4 = wpath("four.nii.gz");
  wopt o4 = {.version = 2, .dims = {4, 8, 8, 8, 3, 1, 1, 1}};
  CU_ASSERT_EQUAL_FATAL(write_nii(p4, &tv, &o4), 0);
  expect_open_error(p4, SF_ERR_INPUT, "four.nii.gz", "4-D image (8x8x8x3)");

  /* Unsupported types name the type. */
  tvol tc = {DT_COMPLEX64, 8, {4, 4, 4}, NULL, 0, 0};
  const char *pc = wpath("complex.nii");
  CU_ASSERT_EQUAL_FATAL(write_nii(pc, &tc, &o), 0);
  expect_open_error(pc, SF_ERR_INPUT, "complex.nii", "complex64");
  tvol tr = {DT_RGB24, 3, {4, 4, 4}, NULL, 0, 0};
  CU_ASSERT_EQUAL_FATAL(write_nii(pc, &tr, &o), 0);
  expect_open_error(pc, SF_ERR_INPUT, "complex.nii", "RGB24");
  tvol tq = {DT_FLOAT128, 16, {4, 4, 4}, NULL, 0, 0};
  CU_ASSERT_EQUAL_FATAL(write_nii(pc, &tq, &o), 0);
  expect_open_error(pc, SF_ERR_INPUT, "complex.nii", "float128");

  /* A zero dimension (libnifti would quietly make it 1): patch dim[2] of a good header, both
   * byte orders. dim[] starts at byte 40 of a NIfTI-1 header. */
  for (int swap = 0; swap < 2; swap++) {
    const char *pz = wpath("zero.nii");
    wopt oz = {.version = 1, .swap = swap};
    CU_ASSERT_EQUAL_FATAL(write_nii(pz, &tv, &oz), 0);
    f = fopen(pz, "r+b");
    CU_ASSERT_FATAL(f != NULL);
    fseek(f, 40 + 2 * 2, SEEK_SET);
    unsigned char zero[2] = {0, 0};
    fwrite(zero, 1, 2, f);
    fclose(f);
    expect_open_error(pz, SF_ERR_INPUT, "zero.nii", "dimension 2 is 0");
  }

  /* Truncated .nii: refused at open with the sizes. */
  const char *good = wpath("good.nii");
  CU_ASSERT_EQUAL_FATAL(write_nii(good, &tv, &o), 0);
  CU_ASSERT_EQUAL(file_size(good), 352 + 8 * 8 * 8 * 2);
  const char *cut = wpath("cut.nii");
  CU_ASSERT_EQUAL_FATAL(copy_prefix(good, cut, 352 + 1000), 0);
  expect_open_error(cut, SF_ERR_INPUT, "cut.nii: file is truncated: 1352 bytes, header needs 1376",
                    NULL);
  CU_ASSERT_EQUAL_FATAL(copy_prefix(good, cut, 200), 0); /* not even a header */
  expect_open_error(cut, SF_ERR_INPUT, "cut.nii", "not a NIfTI-1/2 file");

  /* Corrupt .nii.gz: half the compressed file. The header still parses; reading the data must
   * fail cleanly with SF_ERR_INPUT, on every axis, and again on a second try. */
  tvol tn = make_tvol(DT_FLOAT32, 32, 32, 16);
  uint32_t s = 99;
  for (size_t q = 0; q < 32 * 32 * 16; q++) {
    s = s * 1664525u + 1013904223u;
    ((float *)tn.data)[q] = (float)(s >> 9);
  }
  const char *gzgood = wpath("good.nii.gz"), *gzcut = wpath("cut.nii.gz");
  CU_ASSERT_EQUAL_FATAL(write_nii(gzgood, &tn, &o), 0);
  CU_ASSERT_EQUAL_FATAL(copy_prefix(gzgood, gzcut, file_size(gzgood) / 2), 0);
  sf_vol *v = NULL;
  CU_ASSERT_EQUAL_FATAL(sf_vol_open(gzcut, 2, &v), 0);
  float *out = malloc(32 * 32 * 16 * sizeof *out);
  CU_ASSERT_EQUAL(check_slices(v, &tn, 2, 0, 2), 0); /* the first planes are intact */
  for (int axis = 2; axis >= 0; axis--)
    for (int again = 0; again < 2; again++) {
      sf_error_defer(msg, sizeof msg);
      int rc = sf_vol_read_slices(v, axis, 0, tn.dim[axis], out);
      sf_error_defer(NULL, 0);
      CU_ASSERT_EQUAL(rc, SF_ERR_INPUT);
      CU_ASSERT_PTR_NOT_NULL(strstr(msg, "cut.nii.gz: truncated or corrupt data ("));
    }
  CU_ASSERT_EQUAL(check_slices(v, &tn, 2, 1, 2), 0); /* and it still reads what it can */
  sf_vol_close(&v);

  /* Corrupt .nii.gz: bytes flipped in the middle of the deflate stream. */
  const char *gzbad = wpath("flipped.nii.gz");
  long n = file_size(gzgood);
  CU_ASSERT_EQUAL_FATAL(copy_prefix(gzgood, gzbad, n), 0);
  f = fopen(gzbad, "r+b");
  fseek(f, n / 2, SEEK_SET);
  for (int q = 0; q < 64; q++)
    fputc(0x5a ^ q, f);
  fclose(f);
  int rc = sf_vol_open(gzbad, 0, &v);
  CU_ASSERT_EQUAL(rc, 0);
  if (rc == 0) {
    sf_error_defer(msg, sizeof msg);
    rc = sf_vol_read_slices(v, 2, 0, 16, out);
    sf_error_defer(NULL, 0);
    CU_ASSERT_EQUAL(rc, SF_ERR_INPUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(msg, "flipped.nii.gz: truncated or corrupt data ("));
    sf_vol_close(&v);
  }
  /* A .nii.gz cut inside the header. */
  CU_ASSERT_EQUAL_FATAL(copy_prefix(gzgood, gzcut, 40), 0);
  expect_open_error(gzcut, SF_ERR_INPUT, "cut.nii.gz", "not a NIfTI-1/2 file");
  free(out);
  free_tvol(&tn);

  /* Bad arguments are a caller's bug. */
  CU_ASSERT_EQUAL_FATAL(sf_vol_open(good, 0, &v), 0);
  float one[64 * 8];
  sf_error_defer(msg, sizeof msg);
  CU_ASSERT_EQUAL(sf_vol_read_slices(v, 3, 0, 1, one), SF_ERR_INTERNAL);
  CU_ASSERT_EQUAL(sf_vol_read_slices(v, 2, 7, 2, one), SF_ERR_INTERNAL);
  CU_ASSERT_EQUAL(sf_vol_read_slices(v, 0, 9, 0, one), SF_ERR_INTERNAL);
  sf_error_defer(NULL, 0);
  CU_ASSERT_EQUAL(sf_vol_read_slices(v, 0, 8, 0, one), 0);
  CU_ASSERT_EQUAL(sf_vol_slice_elems(v, 3), 0);
  CU_ASSERT_EQUAL(check_slices(v, &tv, 0, 7, 1), 0);
  sf_vol_close(&v);
  free_tvol(&tv);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s WORKDIR\n", argv[0]);
    return 2;
  }
  snprintf(g_dir, sizeof g_dir, "%s", argv[1]);
  if (make_dirs(g_dir) != 0) {
    fprintf(stderr, "%s: cannot create (%s)\n", g_dir, strerror(errno));
    return 1;
  }
  static const sf_test tests[] = {
      {"NIfTI-1 .nii/.nii.gz, every type, every axis", test_types_nifti1},
      {"NIfTI-2 .nii/.nii.gz", test_nifti2},
      {".nii.gz halo batches: values, and no re-read with the cache", test_gz_halo},
      {"byte-swapped files read the same", test_byte_order},
      {"scl_slope/scl_inter and the integer flag", test_scaling},
      {"NaN and Inf pass through", test_float_specials},
      {"labels: int32 values, non-integers and range errors", test_labels},
      {"affine: fallback, qform (qfac -1), sform", test_affine},
      {"trailing dimensions of 1", test_trailing_dims},
      {"NIfTI-1 .hdr/.img pair", test_pair},
      {"HDF5 datasets, every axis, attributes", test_hdf5},
      {"HDF5 errors", test_hdf5_errors},
      {"NIfTI errors", test_nifti_errors},
      {NULL, NULL}};
  return sf_cunit_run("volume", tests);
}
