/* Synthetic area-detector stack (serial HDF5): CeO2 Debye-Scherrer rings on an Eiger-like
 * detector in pyFAI's PONI geometry (specs/integrate.md A1), Poisson noise, module gaps. */
#include "io/synth_detector.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "io/h5_util.h"
#include "io/poni.h"
#include "io/synth_rng.h"
#include "kernels/azim.h"
#include "kernels/chunk_decode.h"
#include "sf_error.h"

#define DET_PIXEL 75e-6        /* m, Eiger */
#define DET_WAVELENGTH 1e-10   /* m */
#define DET_TTH_INSCRIBED 30.0 /* deg: 2-theta where the inscribed circle meets the edge */
#define DET_RING_WIDTH 1.5     /* ring sigma, in pixels' worth of q at the PONI */
#define DET_FLUX_SPREAD 0.1    /* per-frame flux factor in 1 +- 0.05 */
#define DET_INVALID 0xFFFFFFFFu
#define DET_MASK_SEED 0x5EEDu /* dead pixels depend on the shape only, not on --seed */
#define DET_GZIP_LEVEL 1
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#define DEG (M_PI / 180.0)

enum { ST_NOISE = 1, ST_FLUX, ST_DEAD };
enum { MASK_GAP = 1, MASK_DEAD = 2 }; /* NeXus/Dectris pixel_mask bits */

/* Eiger 4M: 4 x 2 modules of 514 x 1030 pixels, 37-row and 10-column gaps (A1.9). */
#define E4M_H 2167
#define E4M_W 2070
#define E4M_MOD_H 514
#define E4M_MOD_W 1030
#define E4M_GAP_H 37
#define E4M_GAP_W 10

/* CeO2 (NIST SRM 674b, a = 5.411651 A; pyFAI's calibration/CeO2.D): d-spacings in A, with a
 * peak height in counts chosen to look like a powder pattern (not computed from structure
 * factors). */
static const struct {
  double d, height;
} det_rings[] = {{3.12441816, 900}, {2.70582550, 450}, {1.91330756, 600}, {1.63167417, 500},
                 {1.56220908, 180}, {1.35291275, 150}, {1.24151789, 260}, {1.21008195, 240},
                 {1.10464863, 280}, {1.04147272, 220}};

/* Smooth background in counts, q in nm^-1. */
static inline double det_background(double q) {
  double s = 0.1 * q;
  return 2.0 + 100.0 / (1.0 + s * s);
}

/* ln(k!) for the Poisson sampler's rare exact test. */
static inline double det_log_factorial(double k) { return lgamma(k + 1.0); }

/* A Poisson draw of mean lam: sequential inversion below 10, Hormann's transformed rejection
 * with squeeze (PTRS, 1993) above. */
static inline uint32_t det_poisson(syn_rng *r, double lam) {
  if (lam <= 0.0) return 0;
  if (lam < 10.0) {
    double u = rng_unif(r), p = exp(-lam), f = p;
    uint32_t k = 0;
    while (u > f && k < 1000) {
      k++;
      p *= lam / k;
      f += p;
    }
    return k;
  }
  /* The squeeze accepts about 86 % of draws; the logarithms are for the rest. */
  double b = 0.931 + 2.53 * sqrt(lam), a = -0.059 + 0.02483 * b;
  double vr = 0.9277 - 3.6224 / (b - 2.0);
  for (;;) {
    double u = rng_unif(r) - 0.5, v = rng_unif(r), us = 0.5 - fabs(u);
    double k = floor((2.0 * a / us + b) * u + lam + 0.43);
    if (us >= 0.07 && v <= vr) return (uint32_t)k;
    if (k < 0.0 || (us < 0.013 && v > us)) continue;
    double inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
    if (log(v) + log(inv_alpha) - log(a / (us * us) + b) <=
        -lam + k * log(lam) - det_log_factorial(k))
      return k > 4294967294.0 ? 4294967294u : (uint32_t)k;
  }
}

/* Module gaps (full Eiger 4M) or a cross through the middle (other sizes), plus dead pixels. */
static void det_mask(uint32_t *mask, size_t H, size_t W, int full) {
  size_t gh0, gh1, gw0, gw1;
  memset(mask, 0, H * W * sizeof *mask);
  if (full) {
    for (size_t y = 0; y < H; y++)
      for (size_t x = 0; x < W; x++)
        if (y % (E4M_MOD_H + E4M_GAP_H) >= E4M_MOD_H || x % (E4M_MOD_W + E4M_GAP_W) >= E4M_MOD_W)
          mask[y * W + x] = MASK_GAP;
  } else { /* Eiger's proportions: gaps about 3 % of the height, 1 % of the width */
    size_t gh = (size_t)fmax(2.0, round(0.03 * (double)H)),
           gw = (size_t)fmax(1.0, round(0.01 * (double)W));
    gh0 = (H - gh) / 2, gh1 = gh0 + gh, gw0 = (W - gw) / 2, gw1 = gw0 + gw;
    for (size_t y = 0; y < H; y++)
      for (size_t x = 0; x < W; x++)
        if ((y >= gh0 && y < gh1) || (x >= gw0 && x < gw1)) mask[y * W + x] = MASK_GAP;
  }
  size_t ndead = H * W / 20000 < 3 ? 3 : H * W / 20000;
  for (uint64_t k = 0, placed = 0; placed < ndead && k < 100 * ndead; k++) {
    size_t i = (size_t)(rng_key(DET_MASK_SEED, ST_DEAD, k, 0) % (H * W));
    if (mask[i]) continue;
    mask[i] = MASK_DEAD;
    placed++;
  }
}

/* The geometry: PONI at the centre (or off-centre and tilted), distance such that the circle
 * inscribed in the frame reaches 2-theta = 30 deg, so rings fill any frame size. */
static void det_geometry(size_t H, size_t W, int full, int tilt, sf_poni *p) {
  memset(p, 0, sizeof *p);
  p->version = 2;
  snprintf(p->detector, sizeof p->detector, "%s", full ? "Eiger4M" : "Detector");
  p->pixel1 = p->pixel2 = DET_PIXEL;
  p->shape[0] = H;
  p->shape[1] = W;
  double rin = 0.5 * (double)(H < W ? H : W) * DET_PIXEL;
  p->dist = rin / tan(DET_TTH_INSCRIBED * DEG);
  p->poni1 = (tilt ? 0.42 : 0.5) * (double)H * DET_PIXEL;
  p->poni2 = (tilt ? 0.57 : 0.5) * (double)W * DET_PIXEL;
  if (tilt) {
    p->rot1 = 2.0 * DEG;
    p->rot2 = -1.5 * DEG;
    p->rot3 = 3.0 * DEG;
  }
  p->wavelength = DET_WAVELENGTH;
}

/* Noise-free counts per pixel at flux 1: (rings + background) x relative solid angle. */
static int det_expected(const sf_poni *p, const uint32_t *mask, float *lam) {
  int status = 0;
  size_t H = p->shape[0], W = p->shape[1], n = H * W;
  float *q = NULL, *omega = NULL;
  SF_ALLOC(q, n);
  SF_ALLOC(omega, n);
  sf_azim_geom g = {p->dist,       p->poni1,  p->poni2,  p->rot1, p->rot2, p->rot3,
                    p->wavelength, p->pixel1, p->pixel2, H,       W};
  SF_CHECK(sf_azim_pixel_arrays(&g, SF_UNIT_Q_NM, NAN, q, NULL, omega, NULL) == 0, SF_ERR_INTERNAL,
           "synth detector: the pixel geometry cannot be computed");
  /* sigma of every ring: DET_RING_WIDTH pixels' worth of q next to the PONI (q in nm^-1). */
  double qpix = 4.0 * M_PI / (p->wavelength * 1e9) * sin(0.5 * atan(p->pixel1 / p->dist));
  double sig = DET_RING_WIDTH * qpix, inv2s2 = 1.0 / (2.0 * sig * sig), reach = 6.0 * sig;
  size_t nr = sizeof det_rings / sizeof det_rings[0];
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < n; i++) {
    double qi = q[i], v = det_background(qi);
    for (size_t k = 0; k < nr; k++) {
      double dq = qi - 20.0 * M_PI / det_rings[k].d; /* 2 pi / d, d in A -> nm^-1 */
      if (fabs(dq) < reach) v += det_rings[k].height * exp(-dq * dq * inv2s2);
    }
    lam[i] = mask[i] ? 0.0f : (float)(v * omega[i]);
  }
cleanup:
  free(q);
  free(omega);
  return status;
}

/* Frame t's row y: Poisson counts of lam x flux from the row's own random stream (so the
 * values depend on neither thread count nor compression). */
static void det_row(const float *lam, const uint32_t *mask, size_t W, uint64_t seed, size_t t,
                    size_t y, double flux, uint32_t *out) {
  syn_rng r = {rng_key(seed, ST_NOISE, t, y)};
  for (size_t x = 0; x < W; x++)
    out[x] = mask[x] ? DET_INVALID : det_poisson(&r, flux * lam[x]);
}

/* HDF5 failure: report with HDF5's own innermost message appended (needs char why[256]). */
#define DET_H5(cond, fmt, ...)                                                                     \
  SF_CHECK((cond), SF_ERR_IO, fmt ": %s", __VA_ARGS__, sf_h5_error_text(why, sizeof why))

/* A group with its NX_class, without modification times. */
static hid_t det_group(hid_t loc, const char *name, const char *nx_class, hid_t gcpl) {
  hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
  if (g >= 0 && sf_h5_attr_string(g, "NX_class", nx_class) < 0) {
    H5Gclose(g);
    return H5I_INVALID_HID;
  }
  return g;
}

int sf_synth_detector_write(const char *path, const char *poni_path,
                            const sf_synth_detector_opts *opts) {
  int status = 0, nthreads = 1, made_h5 = 0, made_poni = 0;
  uint32_t *mask = NULL, *frames = NULL;
  float *lam = NULL;
  unsigned char *enc = NULL;
  size_t *enc_len = NULL;
  double *flux = NULL;
  hid_t file = -1, gcpl = -1, dcpl = -1, space = -1, dd = -1, dm = -1;
  hid_t g_entry = -1, g_data = -1, g_inst = -1, g_det = -1;
  char why[256] = "";
  sf_poni p;
  SF_CHECK(path && poni_path && opts, SF_ERR_USAGE, "synth detector: no output path or options");
  int full = opts->height == 0 && opts->width == 0;
  size_t T = opts->frames, H = full ? E4M_H : opts->height, W = full ? E4M_W : opts->width;
  SF_CHECK(T >= 1, SF_ERR_USAGE, "synth detector: frames must be at least 1");
  SF_CHECK(H >= 16 && W >= 16 && H <= 8192 && W <= 8192, SF_ERR_USAGE,
           "synth detector: height and width must be 16..8192 (got %zux%zu)", H, W);
  SF_CHECK(opts->compression >= SF_SYNTH_COMP_NONE && opts->compression <= SF_SYNTH_COMP_BSLZ4,
           SF_ERR_USAGE, "synth detector: unknown compression %d", (int)opts->compression);
  sf_h5_quiet();
  size_t n = H * W, fbytes = n * sizeof(uint32_t);

  det_geometry(H, W, full, opts->tilt, &p);
  SF_ALLOC(mask, n);
  SF_ALLOC(lam, n);
  det_mask(mask, H, W, full);
  SF_CALL(det_expected(&p, mask, lam));
  SF_ALLOC(flux, T);
  for (size_t t = 0; t < T; t++)
    flux[t] =
        1.0 + DET_FLUX_SPREAD * (rng_unif(&(syn_rng){rng_key(opts->seed, ST_FLUX, t, 0)}) - 0.5);

    /* Batches of one frame per thread: rows drawn in parallel, frames encoded in parallel,
     * chunks written in order by this thread. */
#ifdef _OPENMP
  nthreads = omp_get_max_threads();
#endif
  size_t nb = (size_t)(nthreads < 1 ? 1 : nthreads > 16 ? 16 : nthreads);
  nb = nb > T ? T : nb;
  size_t cap = opts->compression == SF_SYNTH_COMP_BSLZ4  ? sf_bslz4_bound(n, 4, 0)
               : opts->compression == SF_SYNTH_COMP_GZIP ? (size_t)compressBound((uLong)fbytes)
                                                         : 0;
  SF_ALLOC(frames, nb * n);
  if (cap) {
    SF_ALLOC(enc, nb * cap);
    SF_ALLOC(enc_len, nb);
  }

  file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  DET_H5(file >= 0, "%s: cannot create the HDF5 file", path);
  made_h5 = 1;
  gcpl = H5Pcreate(H5P_GROUP_CREATE);
  DET_H5(gcpl >= 0 && H5Pset_obj_track_times(gcpl, 0) >= 0, "%s: cannot set group properties",
         path);
  g_entry = det_group(file, "entry", "NXentry", gcpl);
  DET_H5(g_entry >= 0, "%s: cannot create /entry", path);
  g_data = det_group(g_entry, "data", "NXdata", gcpl);
  DET_H5(g_data >= 0 && sf_h5_attr_string(g_data, "signal", "data") >= 0,
         "%s: cannot create /entry/data", path);
  g_inst = det_group(g_entry, "instrument", "NXinstrument", gcpl);
  DET_H5(g_inst >= 0, "%s: cannot create /entry/instrument", path);
  g_det = det_group(g_inst, "detector", "NXdetector", gcpl);
  DET_H5(g_det >= 0, "%s: cannot create /entry/instrument/detector", path);

  hsize_t dims[3] = {T, H, W}, chunk[3] = {1, H, W}, mdims[2] = {H, W};
  dcpl = H5Pcreate(H5P_DATASET_CREATE);
  DET_H5(dcpl >= 0 && H5Pset_obj_track_times(dcpl, 0) >= 0 && H5Pset_chunk(dcpl, 3, chunk) >= 0,
         "%s: cannot set the properties of /entry/data/data", path);
  if (opts->compression == SF_SYNTH_COMP_GZIP) {
    DET_H5(H5Pset_deflate(dcpl, DET_GZIP_LEVEL) >= 0, "%s: cannot set the deflate filter", path);
  } else if (opts->compression == SF_SYNTH_COMP_BSLZ4) {
    /* The file must hold what bitshuffle's set_local stores: its version (0, 3), the element
     * size 4, then the user's block size 0 (default) and compression 2 (LZ4). Where the plugin
     * loads here, its set_local runs at H5Dcreate and prepends the first three itself; where
     * it does not, they are given. Optional, so that HDF5 accepts it without the plugin. */
    static const unsigned cd_full[5] = {0, 3, 4, 0, 2}, cd_user[2] = {0, 2};
    htri_t avail = H5Zfilter_avail(SF_FILTER_BITSHUFFLE);
    if (avail < 0) sf_h5_error_text(why, sizeof why); /* treated as absent; stack cleared */
    DET_H5(H5Pset_filter(dcpl, SF_FILTER_BITSHUFFLE, H5Z_FLAG_OPTIONAL, avail > 0 ? 2 : 5,
                         avail > 0 ? cd_user : cd_full) >= 0,
           "%s: cannot set the bitshuffle filter", path);
  }
  space = H5Screate_simple(3, dims, NULL);
  DET_H5(space >= 0, "%s: cannot make the dataspace of /entry/data/data", path);
  dd = H5Dcreate2(g_data, "data", H5T_STD_U32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  DET_H5(dd >= 0, "%s: cannot create /entry/data/data", path);
  dm = sf_h5_dataset_create(g_det, "pixel_mask", H5T_STD_U32LE, 2, mdims, NULL);
  DET_H5(dm >= 0, "%s: cannot create /entry/instrument/detector/pixel_mask", path);
  DET_H5(H5Dwrite(dm, H5T_NATIVE_UINT32, H5S_ALL, H5S_ALL, H5P_DEFAULT, mask) >= 0,
         "%s: cannot write /entry/instrument/detector/pixel_mask", path);

  for (size_t t0 = 0; t0 < T; t0 += nb) {
    size_t cnt = T - t0 < nb ? T - t0 : nb;
    int bad = 0;
#pragma omp parallel for schedule(dynamic, 16)
    for (size_t r = 0; r < cnt * H; r++) {
      size_t i = r / H, y = r % H;
      det_row(lam + y * W, mask + y * W, W, opts->seed, t0 + i, y, flux[t0 + i],
              frames + i * n + y * W);
    }
    if (cap) {
#pragma omp parallel for schedule(dynamic, 1) reduction(| : bad)
      for (size_t i = 0; i < cnt; i++) {
        const unsigned char *src = (const unsigned char *)(frames + i * n);
        unsigned char *dst = enc + i * cap;
        if (opts->compression == SF_SYNTH_COMP_BSLZ4) {
          enc_len[i] = sf_bslz4_encode(src, n, 4, 0, dst, cap);
        } else {
          uLongf len = (uLongf)cap;
          enc_len[i] = compress2(dst, &len, src, (uLong)fbytes, DET_GZIP_LEVEL) == Z_OK ? len : 0;
        }
        bad |= enc_len[i] == 0;
      }
    }
    SF_CHECK(!bad, SF_ERR_INTERNAL, "%s: a frame of %zu bytes did not fit its encoder's bound",
             path, fbytes);
    for (size_t i = 0; i < cnt; i++) {
      hsize_t off[3] = {t0 + i, 0, 0};
      /* A chunk that compression would not shrink is stored as it is, its filter marked as
       * skipped, as HDF5's optional filters do. */
      int raw = !cap || enc_len[i] >= fbytes;
      DET_H5(H5Dwrite_chunk(dd, H5P_DEFAULT, raw && cap ? 1u : 0u, off, raw ? fbytes : enc_len[i],
                            raw ? (const void *)(frames + i * n) : (const void *)(enc + i * cap)) >=
                 0,
             "%s: cannot write frame %zu of /entry/data/data", path, t0 + i);
    }
  }

  static const char *const comp_names[] = {"none", "gzip", "bslz4"};
  const char *base = strrchr(poni_path, '/');
  int e = sf_h5_attr_string(file, "generator", "slabflow synth detector");
  e |= sf_h5_attr_string(file, "calibrant", "CeO2");
  e |= sf_h5_attr_string(file, "compression", comp_names[opts->compression]);
  e |= sf_h5_attr_string(file, "poni_file", base ? base + 1 : poni_path);
  e |= sf_h5_attr_uint64(file, "seed", opts->seed);
  e |= sf_h5_attr_uint64(file, "frames", T);
  e |= sf_h5_attr_int(file, "tilt", opts->tilt ? 1 : 0);
  e |= sf_h5_attr_double(file, "wavelength", p.wavelength);
  e |= sf_h5_attr_double(g_det, "distance", p.dist);
  e |= sf_h5_attr_double(g_det, "x_pixel_size", p.pixel2);
  e |= sf_h5_attr_double(g_det, "y_pixel_size", p.pixel1);
  DET_H5(e >= 0, "%s: cannot write the attributes", path);
  SF_CALL(sf_poni_write(poni_path, &p));
  made_poni = 1;

cleanup:
  if (dm >= 0) H5Dclose(dm);
  if (dd >= 0) H5Dclose(dd);
  if (space >= 0) H5Sclose(space);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (g_det >= 0) H5Gclose(g_det);
  if (g_inst >= 0) H5Gclose(g_inst);
  if (g_data >= 0) H5Gclose(g_data);
  if (g_entry >= 0) H5Gclose(g_entry);
  if (gcpl >= 0) H5Pclose(gcpl);
  if (file >= 0 && H5Fclose(file) < 0 && status == 0)
    status =
        sf_error_report(SF_ERR_IO, __FILE__, __LINE__, __func__, "%s: cannot close the file: %s",
                        path, sf_h5_error_text(why, sizeof why));
  if (status < 0 && made_h5) remove(path); /* no half-written outputs */
  if (status < 0 && made_poni) remove(poni_path);
  free(mask);
  free(lam);
  free(flux);
  free(frames);
  free(enc);
  free(enc_len);
  return status;
}
