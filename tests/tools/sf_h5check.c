/* Test helper (serial HDF5): compares datasets byte for byte, scores shifts against the
 * truth, reads attributes, and writes malformed inputs for the bad-input tests.
 *   sf_h5check same A.h5 B.h5 DSET...        exit 0 if every DSET has identical bytes
 *   sf_h5check shift-rms OUT.h5 IN.h5 TOL [MAXOFF]  RMS of /shifts - /truth/shifts (mean
 *                                             offset removed); MAXOFF bounds that offset
 *   sf_h5check epe OUT.h5 IN.h5 BORDER MAXEPE [RATIO]  mean endpoint error of /flow against
 *                                             /truth/flow with BORDER px cropped; fails above
 *                                             MAXEPE or when EPE * RATIO > the zero-flow error
 *   sf_h5check close A.h5 B.h5 DSET ABS REL   exit 0 if max |A-B| <= ABS + REL * max |A| over DSET
 *                                             (e.g. GPU against CPU results)
 *   sf_h5check relnorm A.h5 B.h5 DSET REL     exit 0 if ||A-B||_2 <= REL * ||A||_2 over DSET
 *   sf_h5check attr FILE NAME                 prints a numeric attribute of /
 *   sf_h5check done-rows REF PARTIAL DSET SEG  every segment marked done in PARTIAL's
 *                                             /slabflow/done (SEG rows of DSET each) holds
 *                                             REF's bytes
 *   sf_h5check mkbad KIND FILE                KIND: 2d, zero-frames, int32, float16, nan, float-ok,
 *                                             compound, tiny, ref-wrong-shape */
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reads a whole dataset's raw bytes in its file type; returns NULL on failure. */
static unsigned char *read_raw(const char *path, const char *ds, size_t *nbytes, hsize_t *dims, int *nd) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return NULL;
  hid_t d = H5Dopen2(f, ds, H5P_DEFAULT);
  if (d < 0) { H5Fclose(f); return NULL; }
  hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
  *nd = H5Sget_simple_extent_dims(sp, dims, NULL);
  size_t n = (size_t)H5Sget_simple_extent_npoints(sp) * H5Tget_size(t);
  unsigned char *buf = malloc(n ? n : 1);
  if (H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) { free(buf); buf = NULL; }
  *nbytes = n;
  H5Tclose(t); H5Sclose(sp); H5Dclose(d); H5Fclose(f);
  return buf;
}

/* Reads a dataset as doubles. */
static double *read_f64(const char *path, const char *ds, size_t *n) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return NULL;
  hid_t d = H5Dopen2(f, ds, H5P_DEFAULT);
  if (d < 0) { H5Fclose(f); return NULL; }
  hid_t sp = H5Dget_space(d);
  *n = (size_t)H5Sget_simple_extent_npoints(sp);
  double *b = malloc(*n * sizeof(double));
  if (H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, b) < 0) { free(b); b = NULL; }
  H5Sclose(sp); H5Dclose(d); H5Fclose(f);
  return b;
}

static int cmd_same(int argc, char **argv) {
  int bad = 0;
  for (int i = 4; i < argc; i++) {
    size_t na, nb; hsize_t da[8], db[8]; int nda, ndb;
    unsigned char *a = read_raw(argv[2], argv[i], &na, da, &nda);
    unsigned char *b = read_raw(argv[3], argv[i], &nb, db, &ndb);
    if (!a || !b) { fprintf(stderr, "%s: cannot read from %s or %s\n", argv[i], argv[2], argv[3]); bad = 1; }
    else if (na != nb || nda != ndb || memcmp(da, db, sizeof(hsize_t) * (size_t)nda)) { fprintf(stderr, "%s: shapes differ\n", argv[i]); bad = 1; }
    else if (memcmp(a, b, na)) {
      size_t k = 0; while (a[k] == b[k]) k++;
      fprintf(stderr, "%s: bytes differ (first at byte %zu of %zu)\n", argv[i], k, na); bad = 1;
    } else printf("%s: identical (%zu bytes)\n", argv[i], na);
    free(a); free(b);
  }
  return bad;
}

static int cmd_done_rows(int argc, char **argv) {
  if (argc < 6) return 2;
  size_t na, nb, nm, seg = (size_t)atol(argv[5]);
  hsize_t da[8], db[8], dm[8];
  int nda, ndb, ndm;
  unsigned char *a = read_raw(argv[2], argv[4], &na, da, &nda), *b = read_raw(argv[3], argv[4], &nb, db, &ndb);
  unsigned char *m = read_raw(argv[3], "/slabflow/done", &nm, dm, &ndm);
  if (!a || !b || !m || na != nb || !da[0] || !seg) { fprintf(stderr, "cannot read %s or the done marks\n", argv[4]); return 1; }
  size_t row = na / da[0], done = 0, bad = 0;
  for (size_t s = 0; s < nm; s++) {
    if (!m[s]) continue;
    size_t r0 = s * seg, r1 = r0 + seg < da[0] ? r0 + seg : da[0];
    done++;
    if (r0 < r1 && memcmp(a + r0 * row, b + r0 * row, (r1 - r0) * row)) {
      fprintf(stderr, "%s: segment %zu (rows %zu..%zu) is marked done but differs\n", argv[4], s, r0, r1 - 1);
      bad++;
    }
  }
  printf("%s: %zu of %zu segments marked done, %zu differ\n", argv[4], done, nm, bad);
  free(a), free(b), free(m);
  return bad ? 1 : 0;
}

static int cmd_shift_rms(int argc, char **argv) {
  if (argc < 5) return 2;
  size_t n1, n2;
  double *s = read_f64(argv[2], "/shifts", &n1), *t = read_f64(argv[3], "/truth/shifts", &n2);
  if (!s || !t || n1 != n2 || n1 < 2) { fprintf(stderr, "cannot read /shifts or /truth/shifts\n"); return 2; }
  size_t T = n1 / 2;
  double mu[2] = {0, 0}, se = 0, mx = 0;
  for (size_t k = 0; k < T; k++) for (int c = 0; c < 2; c++) mu[c] += s[2 * k + c] - t[2 * k + c];
  mu[0] /= T; mu[1] /= T;
  for (size_t k = 0; k < T; k++)
    for (int c = 0; c < 2; c++) {
      double e = s[2 * k + c] - t[2 * k + c] - mu[c];
      se += e * e;
      if (fabs(e) > mx) mx = fabs(e);
    }
  double rms = sqrt(se / (2.0 * T)), tol = atof(argv[4]);
  printf("frames %zu  offset (%.3f, %.3f) px  rms error %.4f px  max error %.4f px  (tolerance %.4f)\n",
         T, mu[0], mu[1], rms, mx, tol);
  free(s); free(t);
  double maxoff = argc > 5 ? atof(argv[5]) : INFINITY;
  if (hypot(mu[0], mu[1]) > maxoff) fprintf(stderr, "offset %.4f px exceeds %.4f px\n", hypot(mu[0], mu[1]), maxoff);
  return rms <= tol && hypot(mu[0], mu[1]) <= maxoff ? 0 : 1;
}

static int cmd_epe(int argc, char **argv) {
  if (argc < 6) return 2;
  size_t n1, n2;
  hsize_t dims[8];
  int nd = 0;
  size_t nb;
  unsigned char *probe = read_raw(argv[2], "/flow", &nb, dims, &nd);
  double *w = read_f64(argv[2], "/flow", &n1), *t = read_f64(argv[3], "/truth/flow", &n2);
  if (!probe || !w || !t || n1 != n2 || nd != 4 || dims[3] != 2) {
    fprintf(stderr, "cannot read /flow (T,H,W,2) or a matching /truth/flow\n");
    return 2;
  }
  size_t T = dims[0], H = dims[1], W = dims[2], b = (size_t)atoi(argv[4]);
  if (2 * b >= H || 2 * b >= W) return 2;
  double se = 0, sz = 0, worst = 0;
  for (size_t k = 0; k < T; k++) {
    double fe = 0;
    for (size_t y = b; y < H - b; y++)
      for (size_t x = b; x < W - b; x++) {
        size_t i = ((k * H + y) * W + x) * 2;
        fe += hypot(w[i] - t[i], w[i + 1] - t[i + 1]);
        sz += hypot(t[i], t[i + 1]);
      }
    fe /= (double)((H - 2 * b) * (W - 2 * b));
    se += fe;
    if (fe > worst) worst = fe;
  }
  double n = (double)T * (double)((H - 2 * b) * (W - 2 * b));
  double epe = se / T, zero = sz / n, tol = atof(argv[5]), ratio = argc > 6 ? atof(argv[6]) : 0;
  printf("frames %zu  EPE %.4f px (worst frame %.4f)  zero-flow EPE %.4f px  ratio %.1f  (max %.3f%s%s)\n", T, epe,
         worst, zero, zero / epe, tol, ratio > 0 ? ", ratio >= " : "", ratio > 0 ? argv[6] : "");
  free(probe); free(w); free(t);
  return epe <= tol && (ratio <= 0 || epe * ratio <= zero) ? 0 : 1;
}

static int cmd_close(int argc, char **argv) {
  if (argc < 7) return 2;
  size_t n1, n2;
  double *a = read_f64(argv[2], argv[4], &n1), *b = read_f64(argv[3], argv[4], &n2);
  if (!a || !b || n1 != n2) { fprintf(stderr, "%s: cannot read it from both files, or sizes differ\n", argv[4]); return 2; }
  double amax = 0, dmax = 0;
  size_t at = 0;
  for (size_t i = 0; i < n1; i++) {
    if (fabs(a[i]) > amax) amax = fabs(a[i]);
    double d = fabs(a[i] - b[i]);
    if (d > dmax || d != d) { dmax = d != d ? INFINITY : d; at = i; }
  }
  double tol = atof(argv[5]) + atof(argv[6]) * amax;
  printf("%s: %zu values, max |difference| %.6g at %zu (max |A| %.6g, tolerance %.6g)\n", argv[4], n1, dmax, at, amax, tol);
  free(a); free(b);
  return dmax <= tol ? 0 : 1;
}

static int cmd_relnorm(int argc, char **argv) {
  if (argc < 6) return 2;
  size_t n1, n2;
  double *a = read_f64(argv[2], argv[4], &n1), *b = read_f64(argv[3], argv[4], &n2);
  if (!a || !b || n1 != n2) { fprintf(stderr, "%s: cannot read it from both files, or sizes differ\n", argv[4]); return 2; }
  double na = 0, nd = 0;
  for (size_t i = 0; i < n1; i++) {
    na += a[i] * a[i];
    nd += (a[i] - b[i]) * (a[i] - b[i]);
  }
  double rel = na > 0 ? sqrt(nd / na) : sqrt(nd), tol = atof(argv[5]);
  printf("%s: %zu values, relative L2 difference %.6g (tolerance %.6g)\n", argv[4], n1, rel, tol);
  free(a); free(b);
  return rel <= tol ? 0 : 1;
}

static int cmd_attr(int argc, char **argv) {
  if (argc < 4) return 2;
  hid_t f = H5Fopen(argv[2], H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return 2;
  hid_t a = H5Aopen(f, argv[3], H5P_DEFAULT);
  if (a < 0) return 2;
  double v;
  if (H5Aread(a, H5T_NATIVE_DOUBLE, &v) < 0) return 2;
  printf("%.17g\n", v);
  H5Aclose(a); H5Fclose(f);
  return 0;
}

/* Writes dataset name with type t and dims from buf (NULL: zeros). */
static int write_ds(hid_t f, const char *name, hid_t ftype, hid_t mtype, int nd, const hsize_t *dims, const void *buf) {
  hid_t sp = H5Screate_simple(nd, dims, NULL);
  hid_t d = H5Dcreate2(f, name, ftype, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  int rc = 0;
  size_t n = 1;
  for (int i = 0; i < nd; i++) n *= dims[i];
  void *z = NULL;
  if (!buf && n) { z = calloc(n, 16); buf = z; }
  if (n && H5Dwrite(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) rc = 1;
  free(z);
  H5Dclose(d); H5Sclose(sp);
  return rc;
}

static int cmd_mkbad(int argc, char **argv) {
  if (argc < 4) return 2;
  const char *kind = argv[2];
  hid_t f = H5Fcreate(argv[3], H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) return 2;
  int rc = 0;
  if (!strcmp(kind, "2d")) {
    hsize_t d[2] = {64, 64};
    rc = write_ds(f, "/data", H5T_STD_U16LE, H5T_NATIVE_UINT16, 2, d, NULL);
  } else if (!strcmp(kind, "zero-frames")) {
    hsize_t d[3] = {0, 64, 64};
    rc = write_ds(f, "/data", H5T_STD_U16LE, H5T_NATIVE_UINT16, 3, d, NULL);
  } else if (!strcmp(kind, "int32")) {
    hsize_t d[3] = {4, 64, 64};
    rc = write_ds(f, "/data", H5T_STD_I32LE, H5T_NATIVE_INT32, 3, d, NULL);
  } else if (!strcmp(kind, "float16")) { /* IEEE half precision: a float type slabflow does not read */
    hsize_t d[3] = {4, 64, 64};
    hid_t ht = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(ht, 15, 10, 5, 0, 10);
    H5Tset_size(ht, 2);
    H5Tset_ebias(ht, 15);
    rc = write_ds(f, "/data", ht, H5T_NATIVE_FLOAT, 3, d, NULL);
    H5Tclose(ht);
  } else if (!strcmp(kind, "tiny")) {
    hsize_t d[3] = {4, 4, 4};
    rc = write_ds(f, "/data", H5T_STD_U16LE, H5T_NATIVE_UINT16, 3, d, NULL);
  } else if (!strcmp(kind, "nan") || !strcmp(kind, "float-ok")) {
    hsize_t d[3] = {24, 64, 64};
    size_t n = 24 * 64 * 64;
    float *b = malloc(n * sizeof(float));
    for (size_t i = 0; i < n; i++) {
      size_t x = i % 64, y = (i / 64) % 64;
      b[i] = (float)(100.0 + 50.0 * sin(x * 0.3) * cos(y * 0.2) + (double)((x * 7 + y * 13) % 11));
    }
    if (!strcmp(kind, "nan")) b[17 * 64 * 64 + 5 * 64 + 9] = NAN;
    rc = write_ds(f, "/data", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 3, d, b);
    free(b);
  } else if (!strcmp(kind, "compound")) {
    hsize_t d[3] = {4, 64, 64};
    hid_t ct = H5Tcreate(H5T_COMPOUND, 8);
    H5Tinsert(ct, "a", 0, H5T_NATIVE_FLOAT);
    H5Tinsert(ct, "b", 4, H5T_NATIVE_FLOAT);
    rc = write_ds(f, "/data", ct, ct, 3, d, NULL);
    H5Tclose(ct);
  } else if (!strcmp(kind, "ref-wrong-shape")) {
    hsize_t d[2] = {32, 48};
    rc = write_ds(f, "/reference", H5T_IEEE_F32LE, H5T_NATIVE_FLOAT, 2, d, NULL);
  } else {
    fprintf(stderr, "unknown kind %s\n", kind);
    rc = 2;
  }
  H5Fclose(f);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  if (!strcmp(argv[1], "same") && argc >= 5) return cmd_same(argc, argv);
  if (!strcmp(argv[1], "shift-rms")) return cmd_shift_rms(argc, argv);
  if (!strcmp(argv[1], "attr")) return cmd_attr(argc, argv);
  if (!strcmp(argv[1], "close")) return cmd_close(argc, argv);
  if (!strcmp(argv[1], "relnorm")) return cmd_relnorm(argc, argv);
  if (!strcmp(argv[1], "done-rows")) return cmd_done_rows(argc, argv);
  if (!strcmp(argv[1], "epe")) return cmd_epe(argc, argv);
  if (!strcmp(argv[1], "mkbad")) return cmd_mkbad(argc, argv);
  fprintf(stderr, "usage: see the comment at the top of sf_h5check.c\n");
  return 2;
}
