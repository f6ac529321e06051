/* Synthetic two-photon calcium-imaging video with known rigid or nonrigid motion (serial HDF5). */
#include "io/synth_video.h"

#include <fftw3.h>
#include <hdf5.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "io/h5_util.h"
#include "io/tiff_stack.h"
#include "kernels/dtype_convert.h"
#include "io/synth_rng.h"
#include "sf_error.h"

#define SYN_FPS 30.0 /* assumed frame rate: transients, breathing, deformation periods */
#define SYN_OFFSET                                                                                 \
  100.0                /* detector pedestal, ADU (raised at very low SNR so noise is not clipped) */
#define SYN_GAIN 400.0 /* ADU per unit scene brightness (the neuropil averages about 1) */
#define SYN_BURN 150   /* frames of calcium activity simulated before frame 0 */
#define SYN_NBUMP 3
#define SYN_NBASIS (5 + SYN_NBUMP) /* deformation basis: 5 Chebyshev terms + smooth bumps */
#define SYN_MAXC 16
#define SYN_TWO_PI 6.283185307179586
#define SYN_DB_MIN -100.0 /* noise_db is clamped here: beyond, the arithmetic over/underflows */
#define SYN_DB_MAX 300.0
#ifndef M_PI
#define M_PI 3.14159265358979323846
#endif
#ifndef M_SQRT2
#define M_SQRT2 1.41421356237309504880
#endif

enum { ST_TEXTURE = 1, ST_CELLS, ST_CHAN, ST_SPIKE, ST_MOTION, ST_DEFORM, ST_NOISE };
enum { CELL_DISC = 0, CELL_RING = 1, CELL_BLOB = 2 };

typedef struct {
  double cy, cx, cs, sn, ex2, iex2; /* centre, orientation, squared axis ratio and inverse */
  double r, iedge, rn, iedgen,
      kn;             /* radius, 1/(sqrt2 edge), nucleus radius, 1/(sqrt2 edge), depth */
  double cut2, reach; /* profile support (squared, in d), bounding half-size, px */
  int kind;
  double rate, ed, er, spike,
      norm; /* spike prob/frame, decay/rise factors, dF/F per spike, 1/peak */
} syn_cell;

typedef struct {
  size_t H, W, C, ncell;
  uint64_t seed;
  syn_cell *cell;
  double *amp;            /* ncell x C baseline brightness, scene units */
  double ngain[SYN_MAXC]; /* neuropil gain per channel */
  float *grid;            /* neuropil on a 0.5-px periodic grid, padded by 1 before, 2 after */
  long gny, gnx;
  size_t gld;
  double kappa[SYN_MAXC], gscale[SYN_MAXC], sige[SYN_MAXC]; /* photons/unit, ADU/photon, read e- */
  double offset;                                            /* pedestal, ADU */
} syn_scene;

typedef struct {
  double a, pa, fa, b, pb, fb;
} syn_mode; /* a sin(2pi t/pa + fa) + b sin(...) */

typedef struct {
  int nonrigid;
  float *shift;                 /* T x 2 rigid part [u, v], already float32-rounded */
  syn_mode mode[2][SYN_NBASIS]; /* time course of each basis coefficient, for u and v */
  double by[SYN_NBUMP], bx[SYN_NBUMP], bir2[SYN_NBUMP];
  double yc, xc, ihy, ihx, scale, reach;
} syn_motion;

typedef struct {
  double *py, *px;  /* scene position sampled by each moving-frame pixel */
  double *col, *np; /* rigid neuropil rows: grid columns, values */
  float *s, *row;   /* scene values (H,W,C); one output row */
} syn_work;


/* Smallest n' >= n whose prime factors are 2, 3, 5, 7 (fast FFTW sizes). */
static long fft_size(long n) {
  for (;; n++) {
    long m = n;
    for (int p = 2; p <= 7; p++)
      while (m % p == 0)
        m /= p;
    if (m == 1) return n;
  }
}

/* Keys cubic weights (a = -0.75) for taps at offsets -1, 0, 1, 2 from fractional position t. */
static inline void keys_weights(double t, double w[4]) {
  const double a = -0.75;
  double s = 1.0 - t;
  w[0] = a * t * s * s;
  w[1] = ((a + 2.0) * t - (a + 3.0)) * t * t + 1.0;
  w[2] = ((a + 2.0) * s - (a + 3.0)) * s * s + 1.0;
  w[3] = a * t * t * s;
}

/* Grid cell and Keys weights for scene position (y, x): the 0.5-px grid wraps periodically. */
static inline const float *grid_locate(const syn_scene *sc, double y, double x, double wy[4],
                                       double wx[4]) {
  double gy = 2.0 * y, gx = 2.0 * x, fy = floor(gy), fx = floor(gx);
  long iy = (long)fy, ix = (long)fx;
  while (iy < 0)
    iy += sc->gny;
  while (iy >= sc->gny)
    iy -= sc->gny;
  while (ix < 0)
    ix += sc->gnx;
  while (ix >= sc->gnx)
    ix -= sc->gnx;
  keys_weights(gy - fy, wy);
  keys_weights(gx - fx, wx);
  return sc->grid + (size_t)iy * sc->gld + (size_t)ix; /* padded: tap -1 is row iy, column ix */
}

/* Neuropil at scene position (y, x) in pixels: Keys cubic on the periodic 0.5-px grid. */
static inline double neuropil_at(const syn_scene *sc, double y, double x) {
  double wy[4], wx[4], v = 0.0;
  const float *g = grid_locate(sc, y, x, wy, wx);
  for (int i = 0; i < 4; i++, g += sc->gld)
    v += wy[i] * (wx[0] * g[0] + wx[1] * g[1] + wx[2] * g[2] + wx[3] * g[3]);
  return v;
}

/* Neuropil along row y of a rigid frame at x = x0, x0+1, ...: all pixels share the fractional
 * grid offsets, so a vertical pass over the grid columns is followed by a 4-tap horizontal one. */
static void neuropil_row(const syn_scene *sc, double y, double x0, size_t W, double *col,
                         double *out) {
  double wy[4], wx[4];
  const float *g0 = grid_locate(sc, y, x0, wy, wx);
  size_t ld = sc->gld, c = (size_t)((g0 - sc->grid) % (ptrdiff_t)ld), gnx = (size_t)sc->gnx;
  const float *g = g0 - c;
  for (size_t j = 0; j < 2 * W + 3; j++, c = c + 1 == gnx ? 0 : c + 1)
    col[j] = wy[0] * g[c] + wy[1] * g[c + ld] + wy[2] * g[c + 2 * ld] + wy[3] * g[c + 3 * ld];
  for (size_t x = 0; x < W; x++)
    out[x] = wx[0] * col[2 * x] + wx[1] * col[2 * x + 1] + wx[2] * col[2 * x + 2] +
             wx[3] * col[2 * x + 3];
}

/* Spatial profile of a cell at offset (dy, dx) from its centre, in [0, 1]. */
static inline double cell_profile(const syn_cell *c, double dy, double dx) {
  double a = c->cs * dx + c->sn * dy, b = c->cs * dy - c->sn * dx;
  double d2 = a * a * c->iex2 + b * b * c->ex2;
  if (d2 >= c->cut2) return 0.0;
  if (c->kind == CELL_BLOB) return exp(-0.5 * d2 / (c->r * c->r));
  double d = sqrt(d2), p = 0.5 * erfc((d - c->r) * c->iedge); /* disc blurred by a Gaussian */
  if (c->kind == CELL_RING) p *= 1.0 - c->kn * 0.5 * erfc((d - c->rn) * c->iedgen);
  return p;
}

/* Texture spectrum: band-limited (nothing above 0.15 cycles/px), gently pink. f in cycles/px. */
static double env_texture(double f) {
  if (f >= 0.15) return 0.0;
  double taper = f <= 0.09 ? 1.0 : 0.5 * (1.0 + cos(M_PI * (f - 0.09) / 0.06));
  return taper * (1.0 - exp(-(f / 0.02) * (f / 0.02))) / sqrt(f + 0.01);
}

/* Low-frequency 1/f-like shading. */
static double env_lowfreq(double f) {
  return f > 0.0 ? exp(-0.5 * (f / 0.012) * (f / 0.012)) / (f + 0.004) : 0.0;
}

/* Neuropil grid: white noise -> r2c -> two spectral envelopes -> c2r, mixed and kept positive. */
static int neuropil_build(syn_scene *sc) {
  int status = 0;
  long ny = fft_size(2 * ((long)sc->H + (long)sc->H / 4 + 8));
  long nx = fft_size(2 * ((long)sc->W + (long)sc->W / 4 + 8)), nh = nx / 2 + 1;
  size_t nr = (size_t)ny * (size_t)nx, nc = (size_t)ny * (size_t)nh;
  float *white = fftwf_malloc(nr * sizeof(float)), *out = fftwf_malloc(nr * sizeof(float));
  fftwf_complex *spec = fftwf_malloc(nc * sizeof(fftwf_complex));
  fftwf_complex *work = fftwf_malloc(nc * sizeof(fftwf_complex));
  fftwf_plan fwd = NULL, inv = NULL;
  double *mix = NULL;
  SF_CHECK(white && out && spec && work, SF_ERR_NOMEM,
           "synth video: out of memory for a %ldx%ld neuropil grid", ny, nx);
  SF_ALLOC(mix, nr);
  /* FFTW has no message of its own; an FFTW_ESTIMATE plan of a valid size fails only when
   * FFTW runs out of memory (as SF_FFTW, reported here: io/ reports at the origin). */
  fwd = fftwf_plan_dft_r2c_2d((int)ny, (int)nx, white, spec, FFTW_ESTIMATE);
  SF_CHECK(fwd, SF_ERR_NOMEM,
           "synth video: FFTW could not plan the %ldx%ld forward transform (out of memory)", ny,
           nx);
  inv = fftwf_plan_dft_c2r_2d((int)ny, (int)nx, work, out, FFTW_ESTIMATE);
  SF_CHECK(inv, SF_ERR_NOMEM,
           "synth video: FFTW could not plan the %ldx%ld inverse transform (out of memory)", ny,
           nx);
  syn_rng r = {rng_key(sc->seed, ST_TEXTURE, 0, 0)};
  for (size_t i = 0; i < nr; i++)
    white[i] = (float)rng_normal(&r);
  fftwf_execute(fwd);
  for (int pass = 0; pass < 2; pass++) {
    for (long ky = 0; ky < ny; ky++) {
      double fy = 2.0 * (double)(ky <= ny / 2 ? ky : ky - ny) / (double)ny; /* grid step 0.5 px */
      for (long kx = 0; kx < nh; kx++) {
        double fx = 2.0 * (double)kx / (double)nx, f = sqrt(fy * fy + fx * fx);
        float e = (float)(pass == 0 ? env_texture(f) : env_lowfreq(f));
        size_t i = (size_t)ky * (size_t)nh + (size_t)kx;
        work[i][0] = spec[i][0] * e;
        work[i][1] = spec[i][1] * e;
      }
    }
    fftwf_execute(inv);
    double s1 = 0.0, s2 = 0.0;
    for (size_t i = 0; i < nr; i++)
      s1 += out[i];
    s1 /= (double)nr;
    for (size_t i = 0; i < nr; i++)
      s2 += (out[i] - s1) * (out[i] - s1);
    double k = (pass == 0 ? 0.25 : 0.2) / sqrt(s2 / (double)nr + 1e-30);
    for (size_t i = 0; i < nr; i++)
      mix[i] = (pass == 0 ? 1.0 : mix[i]) + k * (out[i] - s1);
  }
  double lo = mix[0];
  for (size_t i = 1; i < nr; i++)
    lo = mix[i] < lo ? mix[i] : lo;
  double c = lo < 0.3 ? 0.7 / (1.0 - lo) : 1.0; /* linear rescale keeps the band limit */
  sc->gny = ny;
  sc->gnx = nx;
  sc->gld = (size_t)nx + 3;
  SF_ALLOC(sc->grid, (size_t)(ny + 3) * sc->gld);
  for (long y = -1; y <= ny + 1; y++)
    for (long x = -1; x <= nx + 1; x++) {
      size_t s = (size_t)((y + ny) % ny) * (size_t)nx + (size_t)((x + nx) % nx);
      sc->grid[(size_t)(y + 1) * sc->gld + (size_t)(x + 1)] = (float)(1.0 + c * (mix[s] - 1.0));
    }
cleanup:
  if (fwd) fftwf_destroy_plan(fwd);
  if (inv) fftwf_destroy_plan(inv);
  fftwf_free(white);
  fftwf_free(out);
  fftwf_free(spec);
  fftwf_free(work);
  free(mix);
  return status;
}

/* Places cells and out-of-focus blobs and draws their brightness and activity parameters. */
static int cells_build(syn_scene *sc) {
  int status = 0;
  /* 30-150 somata in view (~1 per 40x40 px); the same density continues over a margin wider than
   * any allowed shift, so content moving in from the borders has cells too. */
  double H = (double)sc->H, W = (double)sc->W, mg = floor(fmin(H, W) / 4.0) + 8.0;
  double ext = (H + 2.0 * mg) * (W + 2.0 * mg) / (H * W);
  double nview = fmin(150.0, fmax(30.0, floor(H * W / 1600.0 + 0.5)));
  size_t nsoma = (size_t)(nview * ext + 0.5), C = sc->C;
  size_t nblob = (size_t)(fmin(12.0, fmax(3.0, floor(nview / 8.0))) * ext + 0.5);
  sc->ncell = nsoma + nblob;
  SF_ALLOC(sc->cell, sc->ncell);
  SF_ALLOC(sc->amp, sc->ncell * C);
  syn_rng r = {rng_key(sc->seed, ST_CELLS, 0, 0)};
  for (size_t k = 0; k < sc->ncell; k++) {
    syn_cell *c = &sc->cell[k];
    c->kind = k >= nsoma ? CELL_BLOB : (rng_unif(&r) < 0.6 ? CELL_RING : CELL_DISC);
    c->r = c->kind == CELL_BLOB ? rng_range(&r, 5.0, 10.0) : rng_range(&r, 4.0, 8.0);
    for (int tries = 0; tries < 40; tries++) { /* somata rarely overlap much */
      c->cy = rng_range(&r, -mg, H + mg);
      c->cx = rng_range(&r, -mg, W + mg);
      int ok = 1;
      for (size_t j = 0; j < k && ok && c->kind != CELL_BLOB; j++)
        ok = hypot(c->cy - sc->cell[j].cy, c->cx - sc->cell[j].cx) >= 0.8 * (c->r + sc->cell[j].r);
      if (ok) break;
    }
    double th = rng_range(&r, 0.0, M_PI), ex = rng_range(&r, 0.8, 1.25),
           edge = rng_range(&r, 0.8, 1.2);
    c->cs = cos(th);
    c->sn = sin(th);
    c->ex2 = ex * ex;
    c->iex2 = 1.0 / c->ex2;
    c->iedge = 1.0 / (M_SQRT2 * edge);
    c->rn = rng_range(&r, 0.45, 0.6) * c->r;
    c->iedgen = 1.0 / (M_SQRT2 * 0.8 * edge);
    c->kn = rng_range(&r, 0.6, 0.85);
    double dcut = c->kind == CELL_BLOB ? 5.0 * c->r : c->r + 5.0 * edge;
    c->cut2 = dcut * dcut;
    c->reach = dcut * (ex > 1.0 ? ex : 1.0 / ex) + 1.0;
    double td = rng_range(&r, 0.5, 1.0) * SYN_FPS, tr = rng_range(&r, 0.03, 0.08) * SYN_FPS;
    double tpk = log(td / tr) * td * tr / (td - tr);
    c->rate = (c->kind == CELL_BLOB ? rng_range(&r, 0.1, 0.4) : rng_range(&r, 0.2, 0.8)) / SYN_FPS;
    c->spike = rng_range(&r, 0.2, 0.8) * (c->kind == CELL_BLOB ? 0.5 : 1.0);
    c->ed = exp(-1.0 / td);
    c->er = exp(-1.0 / tr);
    c->norm = 1.0 / (exp(-tpk / td) - exp(-tpk / tr));
    sc->amp[k * C] = c->kind == CELL_BLOB ? rng_range(&r, 0.25, 0.5) : rng_range(&r, 0.8, 2.2);
  }
  sc->ngain[0] = 1.0;
  for (size_t ch = 1; ch < C; ch++) { /* structural channels: constant, other cells bright */
    syn_rng rc = {rng_key(sc->seed, ST_CHAN, ch, 0)};
    sc->ngain[ch] = rng_range(&rc, 0.4, 0.8);
    for (size_t k = 0; k < sc->ncell; k++) {
      int bright = rng_unif(&rc) < 0.4;
      sc->amp[k * C + ch] = sc->cell[k].kind == CELL_BLOB ? rng_range(&rc, 0.1, 0.4)
                            : bright                      ? rng_range(&rc, 1.5, 3.0)
                                                          : rng_range(&rc, 0.05, 0.3);
    }
  }
cleanup:
  return status;
}

/* Advances cell k's calcium state to frame t (t >= -SYN_BURN) and returns dF/F there. */
static inline double spike_step(const syn_cell *c, uint64_t seed, size_t k, long t, double st[2]) {
  syn_rng r = {rng_key(seed, ST_SPIKE, k, (uint64_t)(t + SYN_BURN))};
  double inc = rng_unif(&r) < c->rate ? c->spike * rng_range(&r, 0.7, 1.3) : 0.0;
  st[0] = st[0] * c->ed + inc;
  st[1] = st[1] * c->er + inc;
  return (st[0] - st[1]) * c->norm;
}

/* Rigid trace of one component: drift + AR(1) jitter + breathing + rare jumps; peak frac*budget. */
static void rigid_trace(uint64_t seed, int comp, size_t T, double budget, double *out) {
  syn_rng r = {rng_key(seed, ST_MOTION, (uint64_t)comp, 0)}, rb = {rng_key(seed, ST_MOTION, 9, 0)};
  double te = T > 300 ? (double)T : 300.0, frac = rng_range(&r, 0.7, 0.95);
  double p1 = te * rng_range(&r, 1.5, 3.0), f1 = rng_range(&r, 0, SYN_TWO_PI),
         a1 = rng_range(&r, 0.6, 1);
  double p2 = te * rng_range(&r, 0.4, 1.0), f2 = rng_range(&r, 0, SYN_TWO_PI),
         a2 = rng_range(&r, 0.2, 0.5);
  double pb = SYN_FPS / rng_range(&rb, 0.25, 0.45), fb = rng_range(&r, 0, SYN_TWO_PI);
  double ab = comp == 1 ? 0.6 : 0.25, phi = 0.9, j = rng_normal(&r), jump = 0.0, peak = 0.0;
  for (size_t t = 0; t < T; t++) {
    j = phi * j + sqrt(1.0 - phi * phi) * rng_normal(&r);
    jump *= exp(-1.0 / (10.0 * SYN_FPS));
    if (rng_unif(&r) < 1.0 / 600.0)
      jump += (rng_unif(&r) < 0.5 ? -1.0 : 1.0) * rng_range(&r, 0.6, 1.2);
    double tt = (double)t;
    out[2 * t] = a1 * sin(SYN_TWO_PI * tt / p1 + f1) + a2 * sin(SYN_TWO_PI * tt / p2 + f2) +
                 0.25 * j + ab * sin(SYN_TWO_PI * tt / pb + fb) + 0.8 * jump;
    peak = fmax(peak, fabs(out[2 * t]));
  }
  for (size_t t = 0; t < T; t++)
    out[2 * t] = peak > 0.0 ? out[2 * t] * frac * budget / peak : 0.0;
}

/* Deformation basis coefficients of frame t (times the scale), for u and v. */
static void deform_coeffs(const syn_motion *m, double t, double c[2][SYN_NBASIS]) {
  for (int k = 0; k < 2; k++)
    for (int j = 0; j < SYN_NBASIS; j++) {
      const syn_mode *d = &m->mode[k][j];
      c[k][j] = m->scale == 0.0 ? 0.0
                                : m->scale * (d->a * sin(SYN_TWO_PI * t / d->pa + d->fa) +
                                              d->b * sin(SYN_TWO_PI * t / d->pb + d->fb));
    }
}

/* Smooth deformation at (y, x): Chebyshev terms up to degree 2 plus C2 bumps (1 - r^2/R^2)^3. */
static inline void deform_at(const syn_motion *m, const double c[2][SYN_NBASIS], double y, double x,
                             double *du, double *dv) {
  double xt = (x - m->xc) * m->ihx, yt = (y - m->yc) * m->ihy, b[SYN_NBASIS];
  b[0] = xt;
  b[1] = yt;
  b[2] = 2.0 * xt * xt - 1.0;
  b[3] = xt * yt;
  b[4] = 2.0 * yt * yt - 1.0;
  for (int i = 0; i < SYN_NBUMP; i++) {
    double s = ((y - m->by[i]) * (y - m->by[i]) + (x - m->bx[i]) * (x - m->bx[i])) * m->bir2[i];
    b[5 + i] = s < 1.0 ? (1.0 - s) * (1.0 - s) * (1.0 - s) : 0.0;
  }
  double u = 0.0, v = 0.0;
  for (int j = 0; j < SYN_NBASIS; j++) {
    u += c[0][j] * b[j];
    v += c[1][j] * b[j];
  }
  *du = u;
  *dv = v;
}

/* Draws the motion: rigid trace (whole budget, or half for nonrigid) and the deformation model. */
static int motion_build(syn_motion *m, const sf_synth_video_opts *o) {
  int status = 0;
  size_t T = o->frames;
  double *tr = NULL, ms = o->max_shift, H = (double)o->height, W = (double)o->width;
  m->nonrigid = o->motion == SF_MOTION_NONRIGID;
  SF_ALLOC(tr, 2 * T);
  SF_ALLOC(m->shift, 2 * T);
  rigid_trace(o->seed, 0, T, m->nonrigid ? 0.5 * ms : ms, tr);
  rigid_trace(o->seed, 1, T, m->nonrigid ? 0.5 * ms : ms, tr + 1);
  for (size_t i = 0; i < 2 * T; i++)
    m->shift[i] = (float)tr[i];
  m->reach = 1.0;
  if (!m->nonrigid || ms <= 0.0) goto cleanup;
  m->yc = 0.5 * (H - 1.0);
  m->xc = 0.5 * (W - 1.0);
  m->ihy = 1.0 / (m->yc + ms + 2.0); /* |Chebyshev argument| <= 1 wherever the scene is sampled */
  m->ihx = 1.0 / (m->xc + ms + 2.0);
  for (int k = 0; k < 2; k++)
    for (int j = 0; j < SYN_NBASIS; j++) {
      syn_rng r = {rng_key(o->seed, ST_DEFORM, (uint64_t)k, (uint64_t)j)};
      double w = j < 2 ? 1.0 : (j < 5 ? 0.6 : 1.0);
      syn_mode *d = &m->mode[k][j];
      d->a = w * rng_normal(&r);
      d->b = 0.5 * w * rng_normal(&r);
      d->pa = rng_range(&r, 60.0, 600.0);
      d->pb = rng_range(&r, 30.0, 200.0);
      d->fa = rng_range(&r, 0.0, SYN_TWO_PI);
      d->fb = rng_range(&r, 0.0, SYN_TWO_PI);
    }
  syn_rng rb = {rng_key(o->seed, ST_DEFORM, 2, 0)};
  for (int i = 0; i < SYN_NBUMP; i++) {
    m->by[i] = rng_range(&rb, 0.0, H);
    m->bx[i] = rng_range(&rb, 0.0, W);
    double R = rng_range(&rb, 0.35, 0.6) * fmin(H, W);
    m->bir2[i] = 1.0 / (R * R);
  }
  /* Scale from the field's peak and steepest slope on a coarse grid over (subsampled) frames:
   * peak = frac * ms/2, and Jacobian row sums <= 0.3 so q = p + w(p) is invertible by iteration. */
  double frac = rng_range(&rb, 0.8, 0.9), peak = 0.0, slope = 0.0, c[2][SYN_NBASIS];
  double step = fmax(2.0, fmin(H, W) / 24.0), h = 0.5;
  size_t tstep = T > 2048 ? (T + 2047) / 2048 : 1;
  m->scale = 1.0;
  for (size_t t = 0; t < T; t += tstep) {
    deform_coeffs(m, (double)t, c);
    for (double y = -ms - 2.0; y <= H + ms + 1.0; y += step)
      for (double x = -ms - 2.0; x <= W + ms + 1.0; x += step) {
        double u0, v0, uy, vy, ux, vx;
        deform_at(m, c, y, x, &u0, &v0);
        deform_at(m, c, y + h, x, &uy, &vy);
        deform_at(m, c, y, x + h, &ux, &vx);
        peak = fmax(peak, fmax(fabs(u0), fabs(v0)));
        slope = fmax(slope, fmax(fabs(ux - u0) + fabs(uy - u0), fabs(vx - v0) + fabs(vy - v0)) / h);
      }
  }
  m->scale = peak > 0.0 ? frac * 0.5 * ms / peak : 0.0;
  if (m->scale * slope > 0.3) m->scale = 0.3 / slope;
  m->reach = 1.2 * m->scale * peak + 2.0;
cleanup:
  free(tr);
  return status;
}

/* Adds every cell of amplitude amp (ncell x C) into s (H,W,C) at scene positions (py, px); the
 * moving pixels a cell can reach lie within its reach of its centre shifted by (u, v). */
static void add_cells(const syn_scene *sc, const double *amp, const double *py, const double *px,
                      double u, double v, double reach, float *s) {
  long H = (long)sc->H, W = (long)sc->W;
  size_t C = sc->C;
  for (size_t k = 0; k < sc->ncell; k++) {
    const syn_cell *c = &sc->cell[k];
    double e = c->reach + reach;
    long y0 = (long)floor(c->cy + v - e), y1 = (long)ceil(c->cy + v + e);
    long x0 = (long)floor(c->cx + u - e), x1 = (long)ceil(c->cx + u + e);
    y0 = y0 < 0 ? 0 : y0;
    x0 = x0 < 0 ? 0 : x0;
    y1 = y1 >= H ? H - 1 : y1;
    x1 = x1 >= W ? W - 1 : x1;
    for (long y = y0; y <= y1; y++)
      for (long x = x0; x <= x1; x++) {
        size_t q = (size_t)y * (size_t)W + (size_t)x;
        double p = cell_profile(c, py[q] - c->cy, px[q] - c->cx);
        if (p != 0.0)
          for (size_t ch = 0; ch < C; ch++)
            s[q * C + ch] += (float)(amp[k * C + ch] * p);
      }
  }
}

/* Poisson sample: Knuth for small means, normal approximation above 30. */
static inline double poisson(syn_rng *r, double lam, double z) {
  if (lam >= 30.0) return lam + sqrt(lam) * z;
  double lim = exp(-lam), p = rng_unif(r);
  int k = 0;
  while (p > lim) {
    p *= rng_unif(r);
    k++;
  }
  return (double)k;
}

/* Renders frame t: truth flow (clean grid), scene positions, scene, noise -> uint16 (H,W,C). */
static void render_frame(const syn_scene *sc, const syn_motion *m, size_t t, const double *amp,
                         syn_work *wk, uint16_t *out, float *flow, float *mean_w) {
  size_t H = sc->H, W = sc->W, C = sc->C, n = H * W;
  double u = m->shift[2 * t], v = m->shift[2 * t + 1], c[2][SYN_NBASIS], su = 0.0, sv = 0.0;
  if (!flow) {
    for (size_t y = 0; y < H; y++)
      for (size_t x = 0; x < W; x++) {
        wk->py[y * W + x] = (double)y - v;
        wk->px[y * W + x] = (double)x - u;
      }
    mean_w[0] = (float)u;
    mean_w[1] = (float)v;
  } else {
    deform_coeffs(m, (double)t, c);
    for (size_t y = 0; y < H; y++) /* truth at clean pixel p: w(p) = rigid + deformation */
      for (size_t x = 0; x < W; x++) {
        double du, dv;
        deform_at(m, c, (double)y, (double)x, &du, &dv);
        flow[2 * (y * W + x)] = (float)(u + du);
        flow[2 * (y * W + x) + 1] = (float)(v + dv);
        su += u + du;
        sv += v + dv;
      }
    mean_w[0] = (float)(su / (double)n);
    mean_w[1] = (float)(sv / (double)n);
    for (size_t y = 0; y < H; y++) /* moving pixel q: solve p + w(p) = q by p <- q - w(p) */
      for (size_t x = 0; x < W; x++) {
        size_t q = y * W + x;
        double qy = (double)y - v, qx = (double)x - u, py, px;
        if (x >= 2) { /* p - q is smooth: extrapolate it from the two previous pixels */
          py = (double)y + 2.0 * (wk->py[q - 1] - (double)y) - (wk->py[q - 2] - (double)y);
          px = (double)x + 2.0 * (wk->px[q - 1] - (double)(x - 1)) -
               (wk->px[q - 2] - (double)(x - 2));
        } else {
          py = (double)y - flow[2 * q + 1];
          px = (double)x - flow[2 * q];
        }
        for (int it = 0; it < 20; it++) {
          double du, dv;
          deform_at(m, c, py, px, &du, &dv);
          double ny = qy - dv, nx = qx - du, d = fabs(ny - py) + fabs(nx - px);
          py = ny;
          px = nx;
          if (d < 1e-5) break; /* then |p - p*| < 1e-5 rho / (1 - rho), rho <= 0.3 */
        }
        wk->py[q] = py;
        wk->px[q] = px;
      }
  }
  for (size_t y = 0; y < H; y++) {
    double *np = wk->np;
    if (flow)
      for (size_t x = 0; x < W; x++)
        np[x] = neuropil_at(sc, wk->py[y * W + x], wk->px[y * W + x]);
    else
      neuropil_row(sc, (double)y - v, -u, W, wk->col, np);
    for (size_t x = 0; x < W; x++)
      for (size_t ch = 0; ch < C; ch++)
        wk->s[(y * W + x) * C + ch] = (float)(sc->ngain[ch] * np[x]);
  }
  add_cells(sc, amp, wk->py, wk->px, u, v, m->reach, wk->s);
  for (size_t y = 0; y < H; y++) { /* one random stream per (frame, row): thread-independent */
    syn_rng r = {rng_key(sc->seed, ST_NOISE, t, y)};
    for (size_t i = 0; i < W * C; i++) {
      size_t ch = i % C;
      double z0, z1, lam = fmax(0.0, sc->kappa[ch] * wk->s[y * W * C + i]);
      rng_normal2(&r, &z0, &z1);
      double cnt = poisson(&r, lam, z0);
      wk->row[i] = (float)(sc->offset + sc->gscale[ch] * (cnt + sc->sige[ch] * z1));
    }
    sf_dtype_from_float(SF_DTYPE_U16, wk->row, out + y * W * C, W * C);
  }
}

/* Mean clean unmoved frame (output units) and the noise model from its per-channel power. */
static int clean_stats(syn_scene *sc, size_t T, double noise_db, float *clean_mean) {
  int status = 0;
  size_t H = sc->H, W = sc->W, C = sc->C, n = H * W, K = sc->ncell;
  double *abar = NULL, *avar = NULL, *py = NULL, *px = NULL, st[2];
  float *s = NULL, *vs = NULL;
  SF_ALLOC(abar, K * C);
  SF_ALLOC(avar, K);
  SF_ALLOC(py, n);
  SF_ALLOC(px, n);
  SF_ALLOC(s, n * C);
  SF_ALLOC(vs, n);
  for (size_t k = 0; k < K; k++) {
    double m1 = 0.0, m2 = 0.0, f0 = sc->amp[k * C];
    st[0] = st[1] = 0.0;
    for (long t = -SYN_BURN; t < (long)T; t++) {
      double d = spike_step(&sc->cell[k], sc->seed, k, t, st);
      if (t >= 0) m1 += d, m2 += d * d;
    }
    m1 /= (double)T;
    abar[k * C] = f0 * (1.0 + m1);
    avar[k] = f0 * f0 * fmax(0.0, m2 / (double)T - m1 * m1);
    for (size_t ch = 1; ch < C; ch++)
      abar[k * C + ch] = sc->amp[k * C + ch];
  }
  for (size_t q = 0; q < n; q++) {
    py[q] = (double)(q / W);
    px[q] = (double)(q % W);
    double np = neuropil_at(sc, py[q], px[q]);
    for (size_t ch = 0; ch < C; ch++)
      s[q * C + ch] = (float)(sc->ngain[ch] * np);
  }
  add_cells(sc, abar, py, px, 0.0, 0.0, 1.0, s);
  for (size_t k = 0; k < K; k++) { /* temporal variance of channel 0, cross-cell terms ignored */
    const syn_cell *c = &sc->cell[k];
    long y0 = (long)floor(c->cy - c->reach), y1 = (long)ceil(c->cy + c->reach);
    long x0 = (long)floor(c->cx - c->reach), x1 = (long)ceil(c->cx + c->reach);
    for (long y = y0 < 0 ? 0 : y0; y <= y1 && y < (long)H; y++)
      for (long x = x0 < 0 ? 0 : x0; x <= x1 && x < (long)W; x++) {
        double p = cell_profile(c, (double)y - c->cy, (double)x - c->cx);
        vs[(size_t)y * W + (size_t)x] += (float)(avar[k] * p * p);
      }
  }
  sc->offset = SYN_OFFSET;
  for (size_t ch = 0; ch < C; ch++) {
    double m1 = 0.0, m2 = 0.0;
    for (size_t q = 0; q < n; q++) {
      double x = s[q * C + ch];
      m1 += x;
      m2 += x * x + (ch == 0 ? vs[q] : 0.0);
    }
    m1 /= (double)n;
    m2 /= (double)n;
    /* SNR_dB = 10 log10(mean(signal^2) / noise variance), signal = gain * scene (offset excluded).
     * Half the variance is Poisson at the mean signal level, half Gaussian read noise. */
    double db =
        noise_db < SYN_DB_MIN ? SYN_DB_MIN : (noise_db > SYN_DB_MAX ? SYN_DB_MAX : noise_db);
    double var = SYN_GAIN * SYN_GAIN * m2 / pow(10.0, db / 10.0);
    sc->kappa[ch] = 2.0 * SYN_GAIN * SYN_GAIN * m1 / var;
    sc->gscale[ch] = SYN_GAIN / sc->kappa[ch];
    sc->sige[ch] = sc->kappa[ch] * sqrt(0.5 * var) / SYN_GAIN;
    sc->offset = fmax(sc->offset, ceil(3.0 * sqrt(0.5 * var))); /* >= 3 read-noise sigmas */
  }
  for (size_t i = 0; i < n * C; i++)
    clean_mean[i] = (float)(sc->offset + SYN_GAIN * s[i]);
cleanup:
  free(abar);
  free(avar);
  free(py);
  free(px);
  free(s);
  free(vs);
  return status;
}

/* HDF5 failure: report with HDF5's own innermost message appended (needs char why[256]). */
#define SYN_H5(cond, fmt, ...)                                                                     \
  SF_CHECK((cond), SF_ERR_IO, fmt ": %s", __VA_ARGS__, sf_h5_error_text(why, sizeof why))

/* Writes the video: validate, build scene and motion, then render and store batches of frames. */
int sf_synth_video_write(const char *path, const sf_synth_video_opts *opts) {
  int status = 0;
  syn_scene sc = {0};
  syn_motion mo = {0};
  syn_work *wk = NULL;
  sf_tiff_writer *tw = NULL;
  uint16_t *batch = NULL;
  float *flow = NULL, *mean_w = NULL, *clean_mean = NULL;
  double *amp = NULL, *st = NULL;
  hid_t file = -1, gcpl = -1, truth = -1, dd = -1, df = -1, ds = -1, dm = -1;
  int nwork = 1, made_tiff = 0;
  char why[256] = "";
  SF_CHECK(path && opts, SF_ERR_USAGE, "synth video: no output path or options");
  size_t T = opts->frames, H = opts->height, W = opts->width, C = opts->channels;
  double ms = opts->max_shift, minhw = (double)(H < W ? H : W);
  SF_CHECK(T >= 1, SF_ERR_USAGE, "synth video: frames must be at least 1");
  SF_CHECK(H >= 16 && W >= 16 && H <= 32768 && W <= 32768, SF_ERR_USAGE,
           "synth video: height and width must be 16..32768 (got %zux%zu)", H, W);
  SF_CHECK(C >= 1 && C <= SYN_MAXC, SF_ERR_USAGE, "synth video: channels must be 1..%d (got %zu)",
           SYN_MAXC, C);
  SF_CHECK(isfinite(ms) && ms >= 0.0 && ms < minhw / 4.0, SF_ERR_USAGE,
           "synth video: max shift must be >= 0 and < min(height, width)/4 = %g (got %g)",
           minhw / 4.0, ms);
  SF_CHECK(isfinite(opts->noise_db), SF_ERR_USAGE, "synth video: noise dB must be finite");
  SF_CHECK(opts->motion == SF_MOTION_RIGID || opts->motion == SF_MOTION_NONRIGID, SF_ERR_USAGE,
           "synth video: unknown motion kind %d", (int)opts->motion);
  SF_CHECK((double)H * (double)W * (double)(C > 4 ? C : 4) * 2.0 < 4294967295.0, SF_ERR_USAGE,
           "synth video: a %zux%zux%zu frame is too large for one HDF5 chunk", H, W, C);
  sf_h5_quiet();
  int nonrigid = opts->motion == SF_MOTION_NONRIGID;
  sc.H = H, sc.W = W, sc.C = C, sc.seed = opts->seed;
  SF_CALL(neuropil_build(&sc));
  SF_CALL(cells_build(&sc));
  SF_CALL(motion_build(&mo, opts));
  SF_ALLOC(clean_mean, H * W * C);
  SF_CALL(clean_stats(&sc, T, opts->noise_db, clean_mean));

  /* Batches keep memory bounded: at most 32 frames and about 64 MiB of frames + flow. */
  size_t fbytes = H * W * C * sizeof(uint16_t) + (nonrigid ? H * W * 2 * sizeof(float) : 0);
  size_t nb = (64u << 20) / fbytes, K = sc.ncell;
  nb = nb < 1 ? 1 : (nb > 32 ? 32 : nb);
  nb = nb > T ? T : nb;
#ifdef _OPENMP
  nwork = omp_get_max_threads();
#endif
  SF_ALLOC(wk, (size_t)nwork);
  for (int i = 0; i < nwork; i++) {
    SF_ALLOC(wk[i].py, H * W);
    SF_ALLOC(wk[i].px, H * W);
    SF_ALLOC(wk[i].s, H * W * C);
    SF_ALLOC(wk[i].row, W * C);
    SF_ALLOC(wk[i].col, 2 * W + 3);
    SF_ALLOC(wk[i].np, W);
  }
  SF_ALLOC(batch, nb * H * W * C);
  if (nonrigid) SF_ALLOC(flow, nb * H * W * 2);
  SF_ALLOC(mean_w, 2 * T);
  SF_ALLOC(amp, nb * K * C);
  SF_ALLOC(st, 2 * K);

  hsize_t ddims[4] = {T, H, W, C}, dchunk[4] = {1, H, W, C}, fdims[4] = {T, H, W, 2};
  hsize_t fchunk[4] = {1, H, W, 2}, sdims[2] = {T, 2}, mdims[3] = {H, W, C};
  int drank = C > 1 ? 4 : 3;
  if (opts->tiff_path) {
    SF_CALL(sf_tiff_writer_open(opts->tiff_path, H, W, C, SF_DTYPE_U16, &tw));
    made_tiff = 1;
  }
  file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  SYN_H5(file >= 0, "%s: cannot create the HDF5 file", path);
  gcpl = H5Pcreate(H5P_GROUP_CREATE);
  SYN_H5(gcpl >= 0 && H5Pset_obj_track_times(gcpl, 0) >= 0, "%s: cannot set group properties",
         path);
  truth = H5Gcreate2(file, "truth", H5P_DEFAULT, gcpl, H5P_DEFAULT);
  SYN_H5(truth >= 0, "%s: cannot create /truth", path);
  dd = sf_h5_dataset_create(file, "data", H5T_STD_U16LE, drank, ddims, dchunk);
  SYN_H5(dd >= 0, "%s: cannot create /data", path);
  ds = sf_h5_dataset_create(truth, "shifts", H5T_IEEE_F32LE, 2, sdims, NULL);
  SYN_H5(ds >= 0, "%s: cannot create /truth/shifts", path);
  if (nonrigid) {
    df = sf_h5_dataset_create(truth, "flow", H5T_IEEE_F32LE, 4, fdims, fchunk);
    SYN_H5(df >= 0, "%s: cannot create /truth/flow", path);
  }
  dm = sf_h5_dataset_create(truth, "clean_mean", H5T_IEEE_F32LE, C > 1 ? 3 : 2, mdims, NULL);
  SYN_H5(dm >= 0, "%s: cannot create /truth/clean_mean", path);

  for (long t = -SYN_BURN; t < 0; t++) /* calcium activity settles before the first frame */
    for (size_t k = 0; k < K; k++)
      spike_step(&sc.cell[k], sc.seed, k, t, st + 2 * k);
  for (size_t t0 = 0; t0 < T; t0 += nb) {
    size_t cnt = T - t0 < nb ? T - t0 : nb;
    for (size_t i = 0; i < cnt; i++) /* per-frame cell brightness, sequential in time */
      for (size_t k = 0; k < K; k++) {
        double dff = spike_step(&sc.cell[k], sc.seed, k, (long)(t0 + i), st + 2 * k);
        for (size_t ch = 0; ch < C; ch++)
          amp[(i * K + k) * C + ch] = sc.amp[k * C + ch] * (ch == 0 ? 1.0 + dff : 1.0);
      }
#pragma omp parallel for schedule(dynamic, 1)
    for (long i = 0; i < (long)cnt; i++) {
      int tid = 0;
#ifdef _OPENMP
      tid = omp_get_thread_num();
#endif
      render_frame(&sc, &mo, t0 + (size_t)i, amp + (size_t)i * K * C, &wk[tid],
                   batch + (size_t)i * H * W * C, flow ? flow + (size_t)i * H * W * 2 : NULL,
                   mean_w + 2 * (t0 + (size_t)i));
    }
    SYN_H5(sf_h5_write_slices(dd, H5T_NATIVE_UINT16, drank, ddims, t0, cnt, batch) >= 0,
           "%s: cannot write /data frames %zu..%zu", path, t0, t0 + cnt - 1);
    if (df >= 0)
      SYN_H5(sf_h5_write_slices(df, H5T_NATIVE_FLOAT, 4, fdims, t0, cnt, flow) >= 0,
             "%s: cannot write /truth/flow frames %zu..%zu", path, t0, t0 + cnt - 1);
    if (tw) SF_CALL(sf_tiff_writer_append(tw, batch, cnt));
  }
  SYN_H5(H5Dwrite(ds, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, mean_w) >= 0,
         "%s: cannot write /truth/shifts", path);
  SYN_H5(H5Dwrite(dm, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, clean_mean) >= 0,
         "%s: cannot write /truth/clean_mean", path);
  uint64_t u64[5] = {opts->seed, T, H, W, C};
  const char *u64name[5] = {"seed", "frames", "height", "width", "channels"};
  int e = sf_h5_attr_string(file, "generator", "slabflow synth video");
  e |= sf_h5_attr_string(file, "motion", nonrigid ? "nonrigid" : "rigid");
  e |= sf_h5_attr_double(file, "max_shift", ms);
  e |= sf_h5_attr_double(file, "noise_db", opts->noise_db);
  for (int i = 0; i < 5; i++)
    e |= sf_h5_attr_uint64(file, u64name[i], u64[i]);
  e |= sf_h5_attr_double(file, "offset", sc.offset);
  e |= sf_h5_attr_double(file, "gain", SYN_GAIN);
  SYN_H5(e >= 0, "%s: cannot write the attributes of /", path);
  if (tw) SF_CALL(sf_tiff_writer_close(&tw));

cleanup:
  if (tw) sf_tiff_writer_close(&tw);
  if (dm >= 0) H5Dclose(dm);
  if (ds >= 0) H5Dclose(ds);
  if (df >= 0) H5Dclose(df);
  if (dd >= 0) H5Dclose(dd);
  if (truth >= 0) H5Gclose(truth);
  if (gcpl >= 0) H5Pclose(gcpl);
  if (file >= 0 && H5Fclose(file) < 0 && status == 0)
    status =
        sf_error_report(SF_ERR_IO, __FILE__, __LINE__, __func__, "%s: cannot close the file: %s",
                        path, sf_h5_error_text(why, sizeof why));
  if (status < 0 && file >= 0) remove(path); /* no half-written outputs */
  if (status < 0 && made_tiff) remove(opts->tiff_path);
  for (int i = 0; wk && i < nwork; i++) {
    free(wk[i].py);
    free(wk[i].px);
    free(wk[i].s);
    free(wk[i].row);
    free(wk[i].col);
    free(wk[i].np);
  }
  free(wk);
  free(batch);
  free(flow);
  free(mean_w);
  free(clean_mean);
  free(amp);
  free(st);
  free(sc.cell);
  free(sc.amp);
  free(sc.grid);
  free(mo.shift);
  return status;
}
