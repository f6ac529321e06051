/* A small driver of the azimuthal integrator for the pyFAI comparison (tests/tools/azim_pyfai.py)
 * and for timing: geometry and options from argv, a raw float32 frame (or a synthetic one),
 * an optional uint8 mask; writes PREFIX.radial/.azimuthal (float64), .I/.sigma (float32),
 * .signal/.norm/.variance/.count (float64), the table .indptr/.indices (int32) and .data
 * (float32), and with --time N prints the build time and the
 * median time of N integrations (after one untimed), cycling over the first K frames of FILE
 * with --frames K (default 1; the outputs are those of the first frame).
 *   sf_azim_run --shape H W --dist m --poni1 m --poni2 m [--rot1 rad ...] --pixel1 m --pixel2 m
 *     [--wavelength m] --unit U --split S --nbins N [--azim M] [--pol f] [--no-solid]
 *     [--radial lo hi] [--azimuth lo hi] [--dummy d] [--delta-dummy dd]
 *     (--frame FILE | --synth) [--frames K] [--mask FILE] [--out PREFIX] [--time N] */
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels/azim.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int read_file(const char *path, void *buf, size_t n) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  size_t got = fread(buf, 1, n, f);
  fclose(f);
  return got == n ? 0 : -1;
}

static int write_file(const char *prefix, const char *ext, const void *buf, size_t n) {
  char path[4096];
  snprintf(path, sizeof path, "%s.%s", prefix, ext);
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t put = fwrite(buf, 1, n, f);
  return fclose(f) == 0 && put == n ? 0 : -1;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  sf_azim_geom g = {.dist = 0.1, .pixel1 = 1e-4, .pixel2 = 1e-4};
  sf_azim_opts o = {.unit = SF_UNIT_Q_NM, .split = SF_SPLIT_BBOX, .nbins = 100,
                    .radial_lo = NAN, .radial_hi = NAN, .azimuth_lo = NAN, .azimuth_hi = NAN,
                    .polarization = NAN, .solid_angle = 1};
  const char *frame_path = NULL, *mask_path = NULL, *out = NULL;
  double dummy = NAN, delta_dummy = NAN;
  int synth = 0, reps = 0, nframes = 1;
  enum { O_SHAPE = 256, O_DIST, O_P1, O_P2, O_R1, O_R2, O_R3, O_PX1, O_PX2, O_WL, O_UNIT, O_SPLIT,
         O_NBINS, O_AZIM, O_POL, O_NOSOLID, O_RADIAL, O_AZRANGE, O_DUMMY, O_DDUMMY, O_FRAME,
         O_SYNTH, O_MASK, O_OUT, O_TIME, O_FRAMES };
  static const struct option opts[] = {
      {"shape", 1, 0, O_SHAPE}, {"dist", 1, 0, O_DIST}, {"poni1", 1, 0, O_P1},
      {"poni2", 1, 0, O_P2}, {"rot1", 1, 0, O_R1}, {"rot2", 1, 0, O_R2}, {"rot3", 1, 0, O_R3},
      {"pixel1", 1, 0, O_PX1}, {"pixel2", 1, 0, O_PX2}, {"wavelength", 1, 0, O_WL},
      {"unit", 1, 0, O_UNIT}, {"split", 1, 0, O_SPLIT}, {"nbins", 1, 0, O_NBINS},
      {"azim", 1, 0, O_AZIM}, {"pol", 1, 0, O_POL}, {"no-solid", 0, 0, O_NOSOLID},
      {"radial", 1, 0, O_RADIAL}, {"azimuth", 1, 0, O_AZRANGE}, {"dummy", 1, 0, O_DUMMY},
      {"delta-dummy", 1, 0, O_DDUMMY}, {"frame", 1, 0, O_FRAME}, {"synth", 0, 0, O_SYNTH},
      {"mask", 1, 0, O_MASK}, {"out", 1, 0, O_OUT}, {"time", 1, 0, O_TIME}, {"frames", 1, 0, O_FRAMES}, {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case O_SHAPE:
      g.h = strtoul(optarg, NULL, 10);
      if (optind >= argc) goto usage;
      g.w = strtoul(argv[optind++], NULL, 10);
      break;
    case O_DIST: g.dist = atof(optarg); break;
    case O_P1: g.poni1 = atof(optarg); break;
    case O_P2: g.poni2 = atof(optarg); break;
    case O_R1: g.rot1 = atof(optarg); break;
    case O_R2: g.rot2 = atof(optarg); break;
    case O_R3: g.rot3 = atof(optarg); break;
    case O_PX1: g.pixel1 = atof(optarg); break;
    case O_PX2: g.pixel2 = atof(optarg); break;
    case O_WL: g.wavelength = atof(optarg); break;
    case O_UNIT:
      if (sf_azim_unit_parse(optarg) < 0) goto usage;
      o.unit = (sf_azim_unit)sf_azim_unit_parse(optarg);
      break;
    case O_SPLIT:
      if (sf_azim_split_parse(optarg) < 0) goto usage;
      o.split = (sf_azim_split)sf_azim_split_parse(optarg);
      break;
    case O_NBINS: o.nbins = strtoul(optarg, NULL, 10); break;
    case O_AZIM: o.azimuth_bins = strtoul(optarg, NULL, 10); break;
    case O_POL: o.polarization = atof(optarg); break;
    case O_NOSOLID: o.solid_angle = 0; break;
    case O_RADIAL:
      o.radial_lo = atof(optarg);
      if (optind >= argc) goto usage;
      o.radial_hi = atof(argv[optind++]);
      break;
    case O_AZRANGE:
      o.azimuth_lo = atof(optarg);
      if (optind >= argc) goto usage;
      o.azimuth_hi = atof(argv[optind++]);
      break;
    case O_DUMMY: dummy = atof(optarg); break;
    case O_DDUMMY: delta_dummy = atof(optarg); break;
    case O_FRAME: frame_path = optarg; break;
    case O_SYNTH: synth = 1; break;
    case O_MASK: mask_path = optarg; break;
    case O_OUT: out = optarg; break;
    case O_TIME: reps = atoi(optarg); break;
    case O_FRAMES: nframes = atoi(optarg); break;
    default: goto usage;
    }
  }
  if (!g.h || !g.w || (!frame_path && !synth) || nframes < 1 || (synth && nframes != 1)) goto usage;

  size_t npix = g.h * g.w;
  float *frame = malloc((size_t)nframes * npix * sizeof(float));
  uint8_t *mask = mask_path ? malloc(npix) : NULL;
  if (!frame || (mask_path && !mask)) return 4;
  if (frame_path && read_file(frame_path, frame, (size_t)nframes * npix * sizeof(float))) {
    fprintf(stderr, "sf_azim_run: cannot read %s\n", frame_path);
    return 3;
  }
  if (synth) { /* counts around a smooth ring profile; deterministic */
    uint64_t s = 12345;
    for (size_t k = 0; k < npix; k++) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      frame[k] = (float)((k / g.w + k % g.w) % 97) + (float)(s >> 60);
    }
  }
  if (mask_path && read_file(mask_path, mask, npix)) {
    fprintf(stderr, "sf_azim_run: cannot read %s\n", mask_path);
    return 3;
  }

  sf_azim a;
  const char *why = NULL;
  double t0 = now();
  int st = sf_azim_build(&g, &o, mask, NULL, &a, &why);
  double tb = now() - t0;
  if (st) {
    fprintf(stderr, "sf_azim_run: build failed (%d): %s\n", st, why ? why : "?");
    return 2;
  }
  sf_azim_sums sums;
  sums.signal = malloc(a.nrows * sizeof(double));
  sums.norm = malloc(a.nrows * sizeof(double));
  sums.variance = malloc(a.nrows * sizeof(double));
  sums.count = malloc(a.nrows * sizeof(double));
  float *I = malloc(a.nrows * sizeof(float)), *sig = malloc(a.nrows * sizeof(float));
  if (!sums.signal || !sums.norm || !sums.variance || !sums.count || !I || !sig) return 4;
  sf_azim_integrate(&a, frame, NULL, dummy, delta_dummy, &sums);
  sf_azim_result(&a, &sums, I, sig);
  if (reps > 0) {
    double *t = malloc((size_t)reps * sizeof(double));
    if (!t) return 4;
    for (int r = 0; r < reps; r++) {
      double s0 = now();
      sf_azim_integrate(&a, frame + (size_t)(r % nframes) * npix, NULL, dummy, delta_dummy, &sums);
      t[r] = now() - s0;
    }
    qsort(t, (size_t)reps, sizeof(double), cmp_double);
    printf("timing: %zux%zu %s split=%d bins=%zu nnz=%zu build %.1f ms; integrate median %.2f ms "
           "(min %.2f, max %.2f) over %d frames (%d distinct), 1 thread\n",
           g.h, g.w, sf_azim_unit_name(o.unit), (int)o.split, a.nrows, a.nnz, 1e3 * tb,
           1e3 * t[reps / 2], 1e3 * t[0], 1e3 * t[reps - 1], reps, nframes);
    free(t);
  }
  if (out) {
    int e = 0;
    e |= write_file(out, "radial", a.radial, a.nbins * sizeof(double));
    if (a.nazim) e |= write_file(out, "azimuthal", a.azimuthal, a.nazim * sizeof(double));
    e |= write_file(out, "I", I, a.nrows * sizeof(float));
    e |= write_file(out, "sigma", sig, a.nrows * sizeof(float));
    e |= write_file(out, "signal", sums.signal, a.nrows * sizeof(double));
    e |= write_file(out, "norm", sums.norm, a.nrows * sizeof(double));
    e |= write_file(out, "variance", sums.variance, a.nrows * sizeof(double));
    e |= write_file(out, "count", sums.count, a.nrows * sizeof(double));
    e |= write_file(out, "indptr", a.indptr, (a.nrows + 1) * sizeof(int32_t));
    e |= write_file(out, "indices", a.indices, a.nnz * sizeof(int32_t));
    e |= write_file(out, "data", a.data, a.nnz * sizeof(float));
    if (e) {
      fprintf(stderr, "sf_azim_run: cannot write %s.*\n", out);
      return 3;
    }
  }
  sf_azim_free(&a);
  free(sums.signal), free(sums.norm), free(sums.variance), free(sums.count);
  free(I), free(sig), free(frame), free(mask);
  return 0;
usage:
  fprintf(stderr, "usage: see the comment at the top of tests/tools/sf_azim_run.c\n");
  return 2;
}
