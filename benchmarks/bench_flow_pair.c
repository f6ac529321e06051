/* Benchmark driver for the peer comparison of slabflow's optical flow with pyflowreg
 * (benchmarks/bench_flow_peer.sh, README "bench_flow_peer.sh"). Serial HDF5, one thread.
 *
 *   bench_flow_pair parity PAIRS.h5 OUT.h5 --preset P [--frames N] [--path P] [--min-level L]
 *                          [--alpha A] [--a-smooth S]
 *       PAIRS.h5 holds /ref (H,W) and /mov (N,H,W) float32, already normalised and smoothed
 *       (spec register.md §3 items 44-45). Computes the flow of every /mov[t] against /ref
 *       from a zero initial flow and writes /w (N,H,W,2) float32 [u = x, v = y] and
 *       /time_s (N,) (seconds of sf_flow_execute per frame) to OUT.h5.
 *
 *   bench_flow_pair speed RAW.h5 --preset P [--frames N] [--reps R] [--csv FILE] [--label L]
 *                         [--max-epe PX] [--path P]
 *       RAW.h5 is a `slabflow synth video` file: /data (T,H,W) uint16, /truth/clean_mean
 *       (H,W) (the raw reference) and /truth/flow (T,H,W,2). Times the whole per-frame work
 *       of the register pipeline on frames 0..N-1, one thread: uint16 -> float,
 *       normalisation by the raw reference's range, Gaussian sigma 1 (spec §3 item 44), the
 *       flow from a zero initial flow, the cubic warp of the raw frame with the raw
 *       reference as fill (spec §2, decision 6), and the rounding back to uint16. The
 *       reference is preprocessed and set once, outside the timing, as the pipeline does.
 *       One untimed-for-the-result warm-up rep, then R reps; every rep is validated (finite
 *       flow, EPE to /truth/flow after a 25-px crop below --max-epe) before its speed is
 *       printed. One CSV line per rep (header written when the file is new or empty).
 *
 * --path forces the solver's code path (sf_flow_ws_force_path: avx512, avx2, c, or gs64, the
 * reference's column-outer Gauss-Seidel in double precision); default: the fastest.
 * --min-level (parity only) replaces the preset's min_level, to find the level where two
 * implementations start to differ. --alpha and --a-smooth (parity only) replace the defaults
 * alpha 1.5 (both axes) and a_smooth 1.
 *
 * Presets (spec §5 item 51): quality = min_level 0, balanced = 4, fast = 6; everything else
 * is the OFOptions default: alpha (1.5, 1.5), levels 100, eta 0.8, iterations 50,
 * update_lag 5, a_data 0.45, a_smooth 1, gc, omega 1.95. */
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/dtype_convert.h"
#include "kernels/flow_estimate.h"
#include "kernels/flow_preproc.h"
#include "kernels/flow_pyramid.h"
#include "kernels/flow_warp.h"
#include "sf_error.h"

#define CROP 25 /* border excluded from the EPE, as in pyflowreg's synth_evaluation */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *x, int n) {
  qsort(x, (size_t)n, sizeof(*x), cmp_double);
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/* min_level of a preset name, or -1. */
static int preset_min_level(const char *name) {
  if (!strcmp(name, "quality")) return 0;
  if (!strcmp(name, "balanced")) return 4;
  if (!strcmp(name, "fast")) return 6;
  return -1;
}

/* The OFOptions defaults of spec §5 for one channel, with the preset's min_level. */
static void preset_params(sf_flow_params *p, int min_level) {
  sf_flow_params_default(p, 1);
  /* Diagnostics: SF_WARP_Q32=0 warps the pyramid levels at exact positions instead of the
   * reference's 1/32-px grid; SF_SWEEP=redblack sweeps in red-black order. */
  const char *q = getenv("SF_WARP_Q32");
  if (q && *q) p->warp_q32 = *q == '1';
  const char *o = getenv("SF_SWEEP");
  if (o && !strcmp(o, "redblack")) p->order = SF_SWEEP_REDBLACK;
  p->alpha[0] = p->alpha[1] = 1.5;
  p->levels = 100;
  p->min_level = min_level;
  p->eta = 0.8;
  p->iterations = 50;
  p->update_lag = 5;
  p->a_smooth = 1.0;
  p->a_data[0] = 0.45;
  p->weight[0] = 1.0f;
  p->constancy = SF_CONST_GC;
  p->omega = 1.95;
}

/* Reads dataset `name` of `path` converted to mem_type; checks its rank and fills dims.
 * Reads only the first `first` entries along dimension 0 when first > 0 (and the file has
 * at least that many). *buf is malloc'd. */
static int h5_read(const char *path, const char *name, hid_t mem_type, size_t elem, int rank,
                   hsize_t first, hsize_t *dims, void **buf) {
  int status = 0;
  hid_t f = H5I_INVALID_HID, d = H5I_INVALID_HID, fs = H5I_INVALID_HID, ms = H5I_INVALID_HID;
  *buf = NULL;
  f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  SF_CHECK(f >= 0, SF_ERR_IO, "cannot open %s", path);
  d = H5Dopen2(f, name, H5P_DEFAULT);
  SF_CHECK(d >= 0, SF_ERR_INPUT, "%s: no dataset %s", path, name);
  fs = H5Dget_space(d);
  SF_CHECK(H5Sget_simple_extent_ndims(fs) == rank, SF_ERR_INPUT, "%s%s: expected %d dimensions",
           path, name, rank);
  H5Sget_simple_extent_dims(fs, dims, NULL);
  if (first > 0) {
    SF_CHECK(dims[0] >= first, SF_ERR_INPUT, "%s%s has %llu entries, %llu requested", path, name,
             (unsigned long long)dims[0], (unsigned long long)first);
    dims[0] = first;
  }
  size_t n = 1;
  for (int i = 0; i < rank; i++)
    n *= (size_t)dims[i];
  hsize_t start[8] = {0};
  H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, dims, NULL);
  ms = H5Screate_simple(rank, dims, NULL);
  *buf = malloc(n * elem);
  SF_CHECK(*buf, SF_ERR_NOMEM, "out of memory reading %s%s", path, name);
  SF_CHECK(H5Dread(d, mem_type, ms, fs, H5P_DEFAULT, *buf) >= 0, SF_ERR_IO, "cannot read %s%s",
           path, name);
cleanup:
  if (status < 0) {
    free(*buf);
    *buf = NULL;
  }
  if (ms >= 0) H5Sclose(ms);
  if (fs >= 0) H5Sclose(fs);
  if (d >= 0) H5Dclose(d);
  if (f >= 0) H5Fclose(f);
  return status;
}

/* Writes a float32 or float64 dataset into an open file. */
static int h5_write(hid_t f, const char *name, hid_t type, int rank, const hsize_t *dims,
                    const void *buf) {
  int status = 0;
  hid_t s = H5Screate_simple(rank, dims, NULL), d = H5I_INVALID_HID;
  SF_CHECK(s >= 0, SF_ERR_IO, "cannot create a dataspace for %s", name);
  d = H5Dcreate2(f, name, type, s, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  SF_CHECK(d >= 0, SF_ERR_IO, "cannot create %s", name);
  SF_CHECK(H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0, SF_ERR_IO, "cannot write %s",
           name);
cleanup:
  if (d >= 0) H5Dclose(d);
  if (s >= 0) H5Sclose(s);
  return status;
}

/* Mean endpoint error of (u, v) against the interleaved truth t (h x w x 2), border cropped.
 * NaN when a flow value is not finite. */
static double epe_cropped(const float *u, const float *v, const float *t, size_t h, size_t w) {
  double s = 0;
  size_t n = 0;
  for (size_t y = CROP; y + CROP < h; y++)
    for (size_t x = CROP; x + CROP < w; x++) {
      size_t i = y * w + x;
      double du = (double)u[i] - t[2 * i], dv = (double)v[i] - t[2 * i + 1];
      s += sqrt(du * du + dv * dv);
      n++;
    }
  return n ? s / (double)n : NAN;
}

typedef struct {
  const char *mode, *in, *out, *preset, *csv, *label, *path;
  int frames, reps, min_level; /* min_level: -1 = the preset's */
  double alpha, a_smooth;      /* parity: alpha on both axes, a_smooth */
  double max_epe;
} args_t;

static int parse_args(int argc, char **argv, args_t *a) {
  int status = 0, pos = 0;
  const char *positional[3] = {NULL, NULL, NULL};
  memset(a, 0, sizeof(*a));
  a->reps = 5;
  a->min_level = -1;
  a->max_epe = 1.0;
  a->alpha = 1.5;
  a->a_smooth = 1.0;
  a->label = "slabflow";
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i];
    int has = i + 1 < argc;
    if (!strcmp(s, "--preset") && has)
      a->preset = argv[++i];
    else if (!strcmp(s, "--frames") && has)
      a->frames = atoi(argv[++i]);
    else if (!strcmp(s, "--reps") && has)
      a->reps = atoi(argv[++i]);
    else if (!strcmp(s, "--csv") && has)
      a->csv = argv[++i];
    else if (!strcmp(s, "--label") && has)
      a->label = argv[++i];
    else if (!strcmp(s, "--max-epe") && has)
      a->max_epe = atof(argv[++i]);
    else if (!strcmp(s, "--path") && has)
      a->path = argv[++i];
    else if (!strcmp(s, "--min-level") && has)
      a->min_level = atoi(argv[++i]);
    else if (!strcmp(s, "--alpha") && has)
      a->alpha = atof(argv[++i]);
    else if (!strcmp(s, "--a-smooth") && has)
      a->a_smooth = atof(argv[++i]);
    else {
      SF_CHECK(s[0] != '-' && pos < 3, SF_ERR_USAGE, "unexpected argument '%s'", s);
      positional[pos++] = s;
    }
  }
  a->mode = positional[0];
  a->in = positional[1];
  a->out = positional[2];
  SF_CHECK(a->mode && (!strcmp(a->mode, "parity") || !strcmp(a->mode, "speed")), SF_ERR_USAGE,
           "mode must be 'parity' or 'speed'");
  SF_CHECK(a->in, SF_ERR_USAGE, "missing input file");
  SF_CHECK(strcmp(a->mode, "parity") || a->out, SF_ERR_USAGE, "parity needs an output file");
  SF_CHECK(strcmp(a->mode, "speed") || !a->out, SF_ERR_USAGE, "speed takes one file");
  SF_CHECK(a->preset && preset_min_level(a->preset) >= 0, SF_ERR_USAGE,
           "--preset must be quality, balanced or fast");
  SF_CHECK(a->frames >= 0 && a->reps >= 1, SF_ERR_USAGE, "--frames >= 0, --reps >= 1");
  SF_CHECK(a->alpha > 0.0, SF_ERR_USAGE, "--alpha must be > 0");
  SF_CHECK(a->a_smooth > 0.0 && a->a_smooth <= 1.0, SF_ERR_USAGE, "--a-smooth must be in (0, 1]");
cleanup:
  return status;
}

static int run_parity(const args_t *a) {
  int status = 0;
  hsize_t rd[2], md[3];
  float *ref = NULL, *mov = NULL, *u = NULL, *v = NULL, *w = NULL;
  double *times = NULL;
  sf_flow_plan *plan = NULL;
  sf_flow_ws *ws = NULL;
  hid_t f = H5I_INVALID_HID;
  sf_flow_params p;

  SF_CALL(h5_read(a->in, "/ref", H5T_NATIVE_FLOAT, sizeof(float), 2, 0, rd, (void **)&ref));
  SF_CALL(h5_read(a->in, "/mov", H5T_NATIVE_FLOAT, sizeof(float), 3, (hsize_t)a->frames, md,
                  (void **)&mov));
  SF_CHECK(md[1] == rd[0] && md[2] == rd[1], SF_ERR_INPUT, "/mov and /ref differ in shape");
  size_t h = rd[0], wd = rd[1], hw = h * wd, n = md[0];
  preset_params(&p, a->min_level >= 0 ? a->min_level : preset_min_level(a->preset));
  p.alpha[0] = p.alpha[1] = a->alpha;
  p.a_smooth = a->a_smooth;
  SF_CALL(sf_flow_plan_create(h, wd, 1, &p, &plan));
  SF_CALL(sf_flow_ws_create(plan, &ws));
  SF_CHECK(!a->path || sf_flow_ws_force_path(ws, a->path) == 0, SF_ERR_USAGE,
           "solver path '%s' not available here", a->path);
  SF_CALL(sf_flow_set_reference(plan, ws, ref));
  SF_ALLOC(u, hw);
  SF_ALLOC(v, hw);
  SF_ALLOC(w, n * hw * 2);
  SF_ALLOC(times, n);
  const struct sf_pyramid *pyr = sf_flow_pyramid(plan);
  printf("bench_flow_pair parity: %s, %zu pair(s) of %zux%zu, preset %s (min_level %d of %d),"
         " solver path %s\n",
         a->in, n, h, wd, a->preset, pyr->min_level, pyr->ltop, sf_flow_ws_path(ws));
  for (size_t t = 0; t < n; t++) {
    double t0 = now_s();
    sf_flow_execute(plan, ws, mov + t * hw, NULL, NULL, u, v);
    times[t] = now_s() - t0;
    SF_CHECK(sf_find_nonfinite(u, hw) == hw && sf_find_nonfinite(v, hw) == hw, SF_ERR_INTERNAL,
             "frame %zu: non-finite flow", t);
    for (size_t i = 0; i < hw; i++) {
      w[(t * hw + i) * 2] = u[i];
      w[(t * hw + i) * 2 + 1] = v[i];
    }
    printf("bench_flow_pair parity: %s frame %zu: %.4f s\n", a->preset, t, times[t]);
  }
  f = H5Fcreate(a->out, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  SF_CHECK(f >= 0, SF_ERR_IO, "cannot create %s", a->out);
  hsize_t wdims[4] = {n, h, wd, 2}, tdims[1] = {n};
  SF_CALL(h5_write(f, "/w", H5T_NATIVE_FLOAT, 4, wdims, w));
  SF_CALL(h5_write(f, "/time_s", H5T_NATIVE_DOUBLE, 1, tdims, times));
cleanup:
  if (f >= 0 && H5Fclose(f) < 0 && status == 0)
    status = sf_error_report(SF_ERR_IO, __FILE__, __LINE__, __func__, "cannot close %s", a->out);
  sf_flow_ws_destroy(&ws);
  sf_flow_plan_destroy(&plan);
  free(ref);
  free(mov);
  free(u);
  free(v);
  free(w);
  free(times);
  return status;
}

static int run_speed(const args_t *a) {
  int status = 0;
  hsize_t rd[2], dd[3], td[4];
  float *ref_raw = NULL, *ref_proc = NULL, *truth = NULL, *raw = NULL, *proc = NULL;
  float *u = NULL, *v = NULL, *reg = NULL, *scratch = NULL;
  uint16_t *data = NULL, *out16 = NULL;
  double *fps = NULL, *epe = NULL;
  sf_flow_plan *plan = NULL;
  sf_flow_ws *ws = NULL;
  sf_smooth *sm = NULL;
  FILE *csv = NULL;
  sf_flow_params p;

  SF_CALL(h5_read(a->in, "/truth/clean_mean", H5T_NATIVE_FLOAT, sizeof(float), 2, 0, rd,
                  (void **)&ref_raw));
  SF_CALL(h5_read(a->in, "/data", H5T_NATIVE_UINT16, sizeof(uint16_t), 3, (hsize_t)a->frames, dd,
                  (void **)&data));
  SF_CALL(h5_read(a->in, "/truth/flow", H5T_NATIVE_FLOAT, sizeof(float), 4, dd[0], td,
                  (void **)&truth));
  SF_CHECK(dd[1] == rd[0] && dd[2] == rd[1] && td[1] == rd[0] && td[2] == rd[1] && td[3] == 2,
           SF_ERR_INPUT, "%s: /data, /truth/clean_mean and /truth/flow differ in shape", a->in);
  size_t h = rd[0], wd = rd[1], hw = h * wd, n = dd[0];
  SF_CHECK(n >= 1, SF_ERR_INPUT, "no frames");
  int ml = preset_min_level(a->preset);
  preset_params(&p, ml);

  /* Normalisation range from the raw reference (spec §3 items 44-45). */
  float lo = ref_raw[0], hi = ref_raw[0];
  for (size_t i = 1; i < hw; i++) {
    lo = ref_raw[i] < lo ? ref_raw[i] : lo;
    hi = ref_raw[i] > hi ? ref_raw[i] : hi;
  }
  float inv = (float)(1.0 / ((double)hi - (double)lo + 1e-8));

  /* Setup, once per shape: plan, workspace, smoother, reference (not timed). */
  double setup0 = now_s();
  SF_CALL(sf_flow_plan_create(h, wd, 1, &p, &plan));
  SF_CALL(sf_flow_ws_create(plan, &ws));
  SF_CHECK(!a->path || sf_flow_ws_force_path(ws, a->path) == 0, SF_ERR_USAGE,
           "solver path '%s' not available here", a->path);
  SF_CALL(sf_smooth_create(h, wd, 1.0, 1.0, &sm));
  SF_ALLOC(scratch, sf_smooth_scratch(sm) + 1);
  SF_ALLOC(ref_proc, hw);
  SF_ALLOC(raw, hw);
  SF_ALLOC(proc, hw);
  SF_ALLOC(u, hw);
  SF_ALLOC(v, hw);
  SF_ALLOC(reg, hw);
  SF_ALLOC(out16, n * hw);
  SF_ALLOC(fps, a->reps);
  SF_ALLOC(epe, a->reps);
  sf_normalize_deinterleave(ref_raw, hw, 1, &lo, &inv, ref_proc);
  sf_smooth_execute(sm, ref_proc, ref_proc, scratch);
  SF_CALL(sf_flow_set_reference(plan, ws, ref_proc));
  double setup_s = now_s() - setup0;

  if (a->csv) {
    csv = fopen(a->csv, "a");
    SF_CHECK(csv, SF_ERR_IO, "cannot open %s", a->csv);
    if (ftell(csv) == 0)
      fprintf(csv, "impl,preset,min_level,threads,height,width,frames,rep,frames_per_s,"
                   "s_per_frame,preproc_s,flow_s,warp_s,epe_px\n");
  }
  printf("bench_flow_pair speed: %s, %zu frame(s) of %zux%zu uint16, preset %s (min_level %d),"
         " solver path %s, 1 thread, setup %.4f s (plan + reference, not timed)\n",
         a->in, n, h, wd, a->preset, ml, sf_flow_ws_path(ws), setup_s);

  for (int rep = 0; rep <= a->reps; rep++) { /* rep 0 is the warm-up */
    double tp = 0, tf = 0, tw = 0, esum = 0;
    double t0 = now_s();
    for (size_t t = 0; t < n; t++) {
      double a0 = now_s();
      sf_dtype_to_float(SF_DTYPE_U16, data + t * hw, raw, hw);
      sf_normalize_deinterleave(raw, hw, 1, &lo, &inv, proc);
      sf_smooth_execute(sm, proc, proc, scratch);
      double a1 = now_s();
      sf_flow_execute(plan, ws, proc, NULL, NULL, u, v);
      double a2 = now_s();
      sf_warp_flow(raw, ref_raw, h, wd, 1, u, v, wd, 1.0f, 1.0f, SF_INTERP_CUBIC, reg, NULL);
      sf_dtype_from_float(SF_DTYPE_U16, reg, out16 + t * hw, hw);
      double a3 = now_s();
      tp += a1 - a0;
      tf += a2 - a1;
      tw += a3 - a2;
      /* Validation, outside the timed region. */
      double e = epe_cropped(u, v, truth + t * hw * 2, h, wd);
      SF_CHECK(sf_find_nonfinite(u, hw) == hw && sf_find_nonfinite(v, hw) == hw && e <= a->max_epe,
               SF_ERR_INTERNAL, "rep %d frame %zu: flow not finite or EPE %.4f px > %.4f px", rep,
               t, e, a->max_epe);
      esum += e;
      t0 += now_s() - a3; /* exclude the validation from the rep's wall time */
    }
    double total = now_s() - t0, f = (double)n / total;
    if (rep == 0) {
      printf("bench_flow_pair speed: warm-up %.2f frames/s\n", f);
      continue;
    }
    fps[rep - 1] = f;
    epe[rep - 1] = esum / (double)n;
    printf("bench_flow_pair speed: %s rep %d: %9.2f frames/s (%.5f s/frame: preproc %.5f, flow"
           " %.5f, warp %.5f), EPE %.4f px\n",
           a->preset, rep, f, total / (double)n, tp / (double)n, tf / (double)n, tw / (double)n,
           epe[rep - 1]);
    if (csv)
      fprintf(csv, "%s,%s,%d,1,%zu,%zu,%zu,%d,%.4f,%.6f,%.6f,%.6f,%.6f,%.4f\n", a->label, a->preset,
              ml, h, wd, n, rep, f, total / (double)n, tp / (double)n, tf / (double)n,
              tw / (double)n, epe[rep - 1]);
  }
  double lo_f = fps[0], hi_f = fps[0];
  for (int r = 1; r < a->reps; r++) {
    lo_f = fps[r] < lo_f ? fps[r] : lo_f;
    hi_f = fps[r] > hi_f ? fps[r] : hi_f;
  }
  printf("bench_flow_pair speed: %s median %.2f frames/s (min %.2f, max %.2f) over %d rep(s)\n",
         a->preset, median(fps, a->reps), lo_f, hi_f, a->reps);
cleanup:
  if (csv && fclose(csv) != 0 && status == 0)
    status = sf_error_report(SF_ERR_IO, __FILE__, __LINE__, __func__, "cannot write %s", a->csv);
  sf_smooth_destroy(&sm);
  sf_flow_ws_destroy(&ws);
  sf_flow_plan_destroy(&plan);
  free(ref_raw);
  free(ref_proc);
  free(truth);
  free(raw);
  free(proc);
  free(u);
  free(v);
  free(reg);
  free(scratch);
  free(data);
  free(out16);
  free(fps);
  free(epe);
  return status;
}

int main(int argc, char **argv) {
  args_t a;
  sf_error_set_rank(-1);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* one message of our own per failure */
  int status = parse_args(argc, argv, &a);
  if (status < 0) {
    fprintf(stderr, "usage: bench_flow_pair parity PAIRS.h5 OUT.h5 --preset quality|balanced|fast"
                    " [--frames N] [--path P] [--min-level L] [--alpha A] [--a-smooth S]\n"
                    "       bench_flow_pair speed RAW.h5 --preset P [--frames N] [--reps R]"
                    " [--csv FILE] [--label L] [--max-epe PX] [--path P]\n"
                    "  --path P forces the solver's code path (avx512, avx2, c, gs64)\n"
                    "  --min-level L (parity) overrides the preset's min_level, for diagnosis\n"
                    "  --alpha A, --a-smooth S (parity) replace the defaults 1.5 and 1\n");
    return sf_exit_code(status);
  }
  status = !strcmp(a.mode, "parity") ? run_parity(&a) : run_speed(&a);
  return sf_exit_code(status);
}
