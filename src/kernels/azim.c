/* Azimuthal integration (specs/integrate.md A1, A2). Geometry: units, per-pixel radial
 * position, chi, solid angle and polarisation at pixel centres and corners, computed with the
 * same precision steps as pyFAI 0.21.3 so that bin assignments agree pixel for pixel:
 *  - centres: the in-plane pixel position is float32 (pyFAI builds it from float32 indices:
 *    p = f32(f32(pixel * (i + 0.5)) - poni)), the rotation and the unit in float64;
 *  - corners: float64 positions, the results (radial, chi) stored as float32;
 *  - bbox half-widths: max over the 4 corners of |corner (f32) - centre (f64)|.
 * FMA contraction is off in this file: pyFAI's compiled code does not fuse, and a fused
 * multiply-add moves positions by an ulp, enough to move a pixel across a bin edge. */
#pragma GCC optimize("fp-contract=off")

#include <float.h>
#include <math.h>

#include "kernels/dtype_convert.h"
#include <stdlib.h>
#include <string.h>

#include "kernels/azim.h"
#include "sf_error.h"

typedef struct azim_rot {
  double s1, c1, s2, c2, s3, c3, L, qf;
} azim_rot;

static const char *const unit_names[] = {"2th_deg", "2th_rad", "q_nm^-1", "q_A^-1", "r_mm"};

int sf_azim_unit_parse(const char *name) {
  if (!name) return -1;
  for (int i = 0; i < 5; i++)
    if (strcmp(name, unit_names[i]) == 0) return i;
  return -1;
}

const char *sf_azim_unit_name(sf_azim_unit u) {
  return (unsigned)u < 5 ? unit_names[u] : "?";
}

int sf_azim_split_parse(const char *name) {
  if (!name) return -1;
  if (strcmp(name, "no") == 0) return SF_SPLIT_NO;
  if (strcmp(name, "bbox") == 0) return SF_SPLIT_BBOX;
  if (strcmp(name, "full") == 0 || strcmp(name, "pseudo") == 0) return SF_SPLIT_FULL;
  return -1;
}

/* Scale from the internal unit (rad, nm^-1, m) to the output unit (A1.4). */
static double unit_scale(sf_azim_unit u) {
  switch (u) {
  case SF_UNIT_2TH_DEG: return 180.0 / M_PI;
  case SF_UNIT_Q_A: return 0.1;
  case SF_UNIT_R_MM: return 1000.0;
  default: return 1.0;
  }
}

static int needs_wavelength(sf_azim_unit u) {
  return u == SF_UNIT_Q_NM || u == SF_UNIT_Q_A;
}

static void rot_init(const sf_azim_geom *g, azim_rot *r) {
  r->s1 = sin(g->rot1), r->c1 = cos(g->rot1);
  r->s2 = sin(g->rot2), r->c2 = cos(g->rot2);
  r->s3 = sin(g->rot3), r->c3 = cos(g->rot3);
  r->L = g->dist;
  r->qf = g->wavelength > 0 ? 4.0e-9 * M_PI / g->wavelength : 0.0;
}

/* Lab coordinates of a point at (p1, p2) from the PONI in the detector plane (A1.3). */
static inline void lab(const azim_rot *r, double p1, double p2, double *t1, double *t2,
                       double *t3) {
  double L = r->L;
  *t1 = p1 * r->c2 * r->c3 + p2 * (r->c3 * r->s1 * r->s2 - r->c1 * r->s3) -
        L * (r->c1 * r->c3 * r->s2 + r->s1 * r->s3);
  *t2 = p1 * r->c2 * r->s3 + p2 * (r->c1 * r->c3 + r->s1 * r->s2 * r->s3) -
        L * (r->c1 * r->s2 * r->s3 - r->c3 * r->s1);
  *t3 = p1 * r->s2 - p2 * r->c2 * r->s1 + L * r->c1 * r->c2;
}

/* Radial position in the internal unit (rad, nm^-1, m) and chi (rad) of the point (p1, p2). */
static void point_pos(const azim_rot *r, sf_azim_unit u, double p1, double p2, double *rad,
                   double *chi) {
  double t1, t2, t3;
  lab(r, p1, p2, &t1, &t2, &t3);
  double rr = sqrt(t1 * t1 + t2 * t2);
  switch (u) {
  case SF_UNIT_Q_NM:
  case SF_UNIT_Q_A: *rad = r->qf * sin(atan2(rr, t3) / 2.0); break;
  case SF_UNIT_R_MM: *rad = rr; break;
  default: *rad = atan2(rr, t3); break;
  }
  if (chi) *chi = atan2(t1, t2);
}

/* The in-plane position of a pixel centre relative to the PONI, in float32 as pyFAI has it. */
static inline float centre_pos(double pixel, size_t i, double poni) {
  float p = (float)pixel * ((float)i + 0.5f);
  return p - (float)poni;
}

int sf_azim_pixel_arrays(const sf_azim_geom *g, sf_azim_unit u, double polarization,
                         float *radial, float *chi, float *solid_angle, float *polar) {
  if (needs_wavelength(u) && !(g->wavelength > 0)) return SF_ERR_USAGE;
  azim_rot r;
  rot_init(g, &r);
  double scale = unit_scale(u);
  for (size_t i = 0; i < g->h; i++) {
    double p1 = centre_pos(g->pixel1, i, g->poni1);
    for (size_t j = 0; j < g->w; j++) {
      double p2 = centre_pos(g->pixel2, j, g->poni2);
      size_t k = i * g->w + j;
      double rad, ch;
      point_pos(&r, u, p1, p2, &rad, &ch);
      if (radial) radial[k] = (float)(rad * scale);
      if (chi) chi[k] = (float)ch;
      if (solid_angle) {
        double ca = g->dist / sqrt(g->dist * g->dist + p1 * p1 + p2 * p2);
        solid_angle[k] = (float)(ca * ca * ca);
      }
      if (polar) {
        if (isnan(polarization)) {
          polar[k] = 1.0f;
        } else {
          double tth;
          point_pos(&r, SF_UNIT_2TH_RAD, p1, p2, &tth, NULL);
          double c2 = cos(tth) * cos(tth);
          polar[k] = (float)(0.5 * (1.0 + c2 - polarization * cos(2.0 * ch) * (1.0 - c2)));
        }
      }
    }
  }
  return 0;
}

/* Centre arrays in float64 (radial in the internal unit, chi) and the per-pixel norm for the
 * pixel rows [r0, r1), the corner grid in float32 ((h+1) x (w+1), radial internal and chi) for
 * its rows [gr0, gr1). Any output may be NULL. Rows are independent: ranges of rows may be
 * computed in any order. */
static void geom_arrays(const sf_azim_geom *g, sf_azim_unit u, double polarization,
                         int solid, const float *flat, double *crad, double *cchi,
                         float *grad, float *gchi, float *norm, size_t r0, size_t r1,
                         size_t gr0, size_t gr1) {
  azim_rot r;
  rot_init(g, &r);
  size_t w = g->w;
  if (crad || cchi || norm) {
    for (size_t i = r0; i < r1; i++) {
      double p1 = centre_pos(g->pixel1, i, g->poni1);
      for (size_t j = 0; j < w; j++) {
        double p2 = centre_pos(g->pixel2, j, g->poni2);
        size_t k = i * w + j;
        double rad, ch;
        point_pos(&r, u, p1, p2, &rad, &ch);
        if (crad) crad[k] = rad;
        if (cchi) cchi[k] = ch;
        if (norm) {
          float n = flat ? flat[k] : 1.0f;
          if (solid) {
            double ca = g->dist / sqrt(g->dist * g->dist + p1 * p1 + p2 * p2);
            n *= (float)(ca * ca * ca);
          }
          if (!isnan(polarization)) {
            double tth;
            point_pos(&r, SF_UNIT_2TH_RAD, p1, p2, &tth, NULL);
            double c2 = cos(tth) * cos(tth);
            n *= (float)(0.5 * (1.0 + c2 - polarization * cos(2.0 * ch) * (1.0 - c2)));
          }
          norm[k] = n;
        }
      }
    }
  }
  if (grad || gchi) {
    for (size_t i = gr0; i < gr1; i++) {
      double p1 = g->pixel1 * (double)i - g->poni1;
      for (size_t j = 0; j <= w; j++) {
        double p2 = g->pixel2 * (double)j - g->poni2;
        double rad, ch;
        point_pos(&r, u, p1, p2, &rad, &ch);
        size_t k = i * (w + 1) + j;
        if (grad) grad[k] = (float)rad;
        if (gchi) gchi[k] = (float)ch;
      }
    }
  }
}

/* ---- the table (A2) --------------------------------------------------------------------- */

#define PI32 ((double)(float)M_PI) /* pyFAI clips chi with a float32 pi in 2-D */

/* pyFAI's calc_upper_bound: the top of the range grows by one float32 epsilon (in float64) so
 * that the maximum falls inside the last bin. */
static double upper_bound(double x) {
  const double eps = 1.0 + (double)FLT_EPSILON;
  return x > 0 ? x * eps : x < 0 ? x / eps : (double)FLT_EPSILON;
}

typedef struct ent {
  int32_t row;
  float w;
} ent;

typedef struct build_ctx {
  const sf_azim_geom *g;
  const sf_azim_opts *o;
  const uint8_t *mask;
  size_t h, w, nbins, nazim;
  int twod;
  double *crad, *cchi, *drad, *dchi; /* centres and bbox half-widths (npix) */
  float *grad, *gchi;                /* corner grid (h+1) x (w+1) */
  double pos0_min, pos0_maxin, pos0_max, delta0;
  double pos1_min, pos1_maxin, pos1_max, delta1;
  int check_pos1;
  float fpos0_min, fdelta0, fpos1_min, fdelta1; /* 2-D without splitting bins in float32 */
  float *buf;                                   /* nbins, full splitting in 1-D */
  ent *e;                                       /* one pixel's entries */
  size_t ne, cap;
} build_ctx;

/* One range of pixel rows of a phased build: its extent, its entries pixel-major, and per
 * table row its entry count, then its first slot in the CSR. */
typedef struct azim_range {
  size_t r0, r1;
  int have;
  double lo0, hi0, lo1, hi1;
  build_ctx c;     /* the shared fields and the range's own scratch (buf, e) */
  ent *all;
  size_t nnz, cap;
  size_t *pfirst;  /* (r1 - r0) * w + 1 offsets into all */
  int32_t *rows;   /* nrows */
  size_t base;     /* the range's first pixel-major entry */
  int compact;     /* its pixels cover consecutive rows */
  size_t nov;      /* its entries past a pixel's second, and their lists */
  int32_t *ov_pix, *ov_row;
  float *ov_w;
} azim_range;

static int push(build_ctx *c, size_t row, double w) {
  if (c->ne == c->cap) {
    size_t ncap = c->cap ? 2 * c->cap : 64;
    ent *ne = realloc(c->e, ncap * sizeof *ne);
    if (!ne) return SF_ERR_NOMEM;
    c->e = ne, c->cap = ncap;
  }
  c->e[c->ne].row = (int32_t)row;
  c->e[c->ne].w = (float)w;
  c->ne++;
  return 0;
}

/* The 4 corners A(i,j) B(i+1,j) C(i+1,j+1) D(i,j+1) of a pixel in (radial, chi), chi moved by
 * 2 pi for a pixel across the chi discontinuity at pi. */
static void corners(const build_ctx *c, size_t idx, double r[4], double x[4]) {
  size_t i = idx / c->w, j = idx % c->w, W = c->w + 1;
  size_t k[4] = {i * W + j, (i + 1) * W + j, (i + 1) * W + j + 1, i * W + j + 1};
  double mn = INFINITY, mx = -INFINITY;
  for (int q = 0; q < 4; q++) {
    r[q] = c->grad[k[q]], x[q] = c->gchi[k[q]];
    mn = fmin(mn, x[q]), mx = fmax(mx, x[q]);
  }
  if (mx - mn > M_PI)
    for (int q = 0; q < 4; q++)
      if (x[q] < 0) x[q] += 2.0 * M_PI;
}

/* 1-D, no splitting or bounding box (A2.13-14). Bins are truncated toward zero as pyFAI's
 * integer casts do. */
static int emit_1d_bbox(build_ctx *c, size_t idx, int split) {
  double c0 = c->crad[idx], d0 = split ? c->drad[idx] : 0.0;
  if (c->check_pos1) {
    double c1 = c->cchi[idx], d1 = split ? c->dchi[idx] : 0.0;
    if (c1 + d1 < c->pos1_min || c1 - d1 > c->pos1_maxin) return 0;
  }
  double min0 = c0 - d0, max0 = c0 + d0;
  double fa = (min0 - c->pos0_min) / c->delta0, fb = (max0 - c->pos0_min) / c->delta0;
  long nb = (long)c->nbins;
  if (!(fb > -1.0) || !(fa < (double)nb)) return 0; /* (long) truncation below */
  long ka = (long)fa, kb = (long)fb;
  if (kb < 0 || ka >= nb) return 0;
  if (kb >= nb) kb = nb - 1;
  if (ka < 0) ka = 0;
  if (ka == kb) return push(c, (size_t)ka, 1.0);
  double inv = 1.0 / (fb - fa);
  int st = push(c, (size_t)ka, inv * ((double)(ka + 1) - fa));
  for (long k = ka + 1; !st && k < kb; k++) st = push(c, (size_t)k, inv);
  if (!st) st = push(c, (size_t)kb, inv * (fb - (double)kb));
  return st;
}

/* Area under the line y = slope x + intercept from x = a to x = b (signed by b - a). */
static inline double line_area(double a, double b, double slope, double icpt) {
  return 0.5 * (b - a) * (slope * (b + a) + 2 * icpt);
}

/* Adds to buf[0, n) the signed integral of the straight edge (x0,y0)->(x1,y1) over each unit
 * bin of x (A2.15). The buffer is float32 and each bin gets one rounded addition per edge, in
 * the order pyFAI uses: the partial areas of one pixel nearly cancel, so this rounding is what
 * the table's weights carry (relative 1e-6..1e-5). */
static void edge_integral(float *buf, long n, double x0, double y0, double x1, double y1) {
  if (x0 == x1) return;
  long i0 = (long)floor(x0), i1 = (long)floor(x1);
  double slope = (y1 - y0) / (x1 - x0), icpt = y0 - slope * x0;
  if (i0 == i1 && i0 >= 0 && i0 < n) {
    buf[i0] = (float)(buf[i0] + line_area(x0, x1, slope, icpt));
    return;
  }
  if (x0 < x1) {
    if (x0 >= 0 && x0 < (double)n) buf[i0] = (float)(buf[i0] + line_area(x0, floor(x0 + 1), slope, icpt));
    for (long i = i0 + 1 > 0 ? i0 + 1 : 0; i < (i1 < n ? i1 : n); i++)
      buf[i] = (float)(buf[i] + line_area((double)i, (double)(i + 1), slope, icpt));
    if (x1 >= 0 && x1 < (double)n) buf[i1] = (float)(buf[i1] + line_area((double)i1, x1, slope, icpt));
  } else {
    if (x0 >= 0 && x0 < (double)n) buf[i0] = (float)(buf[i0] + line_area(x0, (double)i0, slope, icpt));
    long stop = i1 > -1 ? i1 : -1;
    for (long i = (i0 < n ? i0 : n) - 1; i > stop; i--)
      buf[i] = (float)(buf[i] + line_area((double)(i + 1), (double)i, slope, icpt));
    if (x1 >= 0 && x1 < (double)n) buf[i1] = (float)(buf[i1] + line_area(floor(x1 + 1), x1, slope, icpt));
  }
}

/* 1-D, full splitting: the pixel quadrilateral in (fractional bin, chi), its area per bin over
 * the bins inside the range, normalised to the area inside (A2.15). */
static int emit_1d_full(build_ctx *c, size_t idx) {
  double r[4], x[4], f[4];
  corners(c, idx, r, x);
  double min0 = INFINITY, max0 = -INFINITY;
  for (int q = 0; q < 4; q++) {
    f[q] = (r[q] - c->pos0_min) / c->delta0;
    min0 = fmin(min0, f[q]), max0 = fmax(max0, f[q]);
  }
  long nb = (long)c->nbins;
  if (max0 < 0 || min0 >= (double)nb) return 0;
  if (c->check_pos1) {
    double min1 = fmin(fmin(x[0], x[1]), fmin(x[2], x[3]));
    double max1 = fmax(fmax(x[0], x[1]), fmax(x[2], x[3]));
    if (max1 < c->pos1_min || min1 >= c->pos1_max) return 0;
  }
  long ka = (long)floor(min0), kb = (long)floor(max0);
  if (ka == kb) return push(c, (size_t)ka, 1.0);
  long lo = ka < 0 ? 0 : ka, hi = kb + 1 > nb ? nb : kb + 1;
  for (int q = 0; q < 4; q++) {
    int n = (q + 1) & 3;
    edge_integral(c->buf, nb, f[q], x[q], f[n], x[n]);
  }
  double sum = 0.0;
  for (long k = lo; k < hi; k++) sum += c->buf[k];
  int st = 0;
  if (sum != 0.0) {
    double inv = 1.0 / sum;
    for (long k = lo; !st && k < hi; k++) st = push(c, (size_t)k, c->buf[k] * inv);
  }
  for (long k = lo; k < hi; k++) c->buf[k] = 0.0f;
  return st;
}

/* 2-D rows are azimuthal bin major: row = chi_bin * nbins + radial_bin. */
static inline size_t row2(const build_ctx *c, long b0, long b1) {
  return (size_t)b1 * c->nbins + (size_t)b0;
}

/* 2-D without splitting (pyFAI's HistoBBox2d without deltas: positions, origin and bin width
 * rounded to float32, the bin number in float64). */
static int emit_2d_no(build_ctx *c, size_t idx) {
  float c0 = (float)c->crad[idx], c1 = (float)c->cchi[idx];
  double f0 = ((double)c0 - c->fpos0_min) / c->fdelta0, f1 = ((double)c1 - c->fpos1_min) / c->fdelta1;
  if (!(f0 > -1.0) || !(f1 > -1.0) || !(f0 < (double)c->nbins) || !(f1 < (double)c->nazim))
    return 0;
  long b0 = (long)f0, b1 = (long)f1;
  if (b0 < 0 || b0 >= (long)c->nbins || b1 < 0 || b1 >= (long)c->nazim) return 0;
  return push(c, row2(c, b0, b1), 1.0);
}

/* 2-D bounding box: the pixel's rectangle [c0 +- d0] x [chi +- dchi] (radial clipped at 0)
 * shared by area over the bin cells, with the edge cells taking what is outside. */
static int emit_2d_bbox(build_ctx *c, size_t idx) {
  double c0 = c->crad[idx], d0 = c->drad[idx], c1 = c->cchi[idx], d1 = c->dchi[idx];
  double lo0 = c0 - d0, up0 = c0 + d0, lo1 = c1 - d1, up1 = c1 + d1;
  if (lo0 < 0) lo0 = 0;
  double fa0 = (lo0 - c->pos0_min) / c->delta0, fb0 = (up0 - c->pos0_min) / c->delta0;
  double fa1 = (lo1 - c->pos1_min) / c->delta1, fb1 = (up1 - c->pos1_min) / c->delta1;
  long n0 = (long)c->nbins, n1 = (long)c->nazim;
  if (!(fb0 > -1.0) || !(fa0 < (double)n0) || !(fb1 > -1.0) || !(fa1 < (double)n1)) return 0;
  long a0 = (long)fa0, b0 = (long)fb0, a1 = (long)fa1, b1 = (long)fb1;
  if (b0 < 0 || a0 >= n0 || b1 < 0 || a1 >= n1) return 0;
  if (b0 >= n0) b0 = n0 - 1;
  if (a0 < 0) a0 = 0;
  if (b1 >= n1) b1 = n1 - 1;
  if (a1 < 0) a1 = 0;
  int st = 0;
  if (a0 == b0 && a1 == b1) return push(c, row2(c, a0, a1), 1.0);
  if (a0 == b0) {
    double inv = 1.0 / (fb1 - fa1);
    st = push(c, row2(c, a0, a1), inv * ((double)(a1 + 1) - fa1));
    if (!st) st = push(c, row2(c, a0, b1), inv * (fb1 - (double)b1));
    for (long j = a1 + 1; !st && j < b1; j++) st = push(c, row2(c, a0, j), inv);
    return st;
  }
  if (a1 == b1) {
    double inv = 1.0 / (fb0 - fa0);
    st = push(c, row2(c, a0, a1), inv * ((double)(a0 + 1) - fa0));
    if (!st) st = push(c, row2(c, b0, a1), inv * (fb0 - (double)b0));
    for (long i = a0 + 1; !st && i < b0; i++) st = push(c, row2(c, i, a1), inv);
    return st;
  }
  double dl = (double)(a0 + 1) - fa0, dr = fb0 - (double)b0;
  double dd = (double)(a1 + 1) - fa1, du = fb1 - (double)b1;
  double inv = 1.0 / ((fb0 - fa0) * (fb1 - fa1));
  for (long i = a0; !st && i <= b0; i++) {
    double wi = i == a0 ? dl : i == b0 ? dr : 1.0;
    for (long j = a1; !st && j <= b1; j++) {
      double wj = j == a1 ? dd : j == b1 ? du : 1.0;
      st = push(c, row2(c, i, j), inv * wi * wj);
    }
  }
  return st;
}

/* Area of the polygon p (n vertices, x/y interleaved), signed. */
static double poly_area(const double *p, int n) {
  double a = 0.0;
  for (int k = 0; k < n; k++) {
    int m = (k + 1) % n;
    a += p[2 * k] * p[2 * m + 1] - p[2 * m] * p[2 * k + 1];
  }
  return 0.5 * a;
}

/* Clips polygon in (n vertices) to the half-plane sgn * (coord[axis] - v) <= 0. */
static int clip_half(const double *in, int n, double *out, int axis, double v, double sgn) {
  int m = 0;
  for (int k = 0; k < n; k++) {
    const double *p = in + 2 * k, *q = in + 2 * ((k + 1) % n);
    double dp = sgn * (p[axis] - v), dq = sgn * (q[axis] - v);
    if (dp <= 0) out[2 * m] = p[0], out[2 * m + 1] = p[1], m++;
    if ((dp < 0 && dq > 0) || (dp > 0 && dq < 0)) {
      double t = dp / (dp - dq);
      out[2 * m] = p[0] + t * (q[0] - p[0]);
      out[2 * m + 1] = p[1] + t * (q[1] - p[1]);
      m++;
    }
  }
  return m;
}

/* 2-D full splitting: the quadrilateral (corners clipped to the range, as pyFAI) intersected
 * with each bin cell; weight = cell area / quadrilateral area. */
static int emit_2d_full(build_ctx *c, size_t idx) {
  double r[4], x[4], p[8];
  corners(c, idx, r, x);
  double min0 = INFINITY, max0 = -INFINITY, min1 = INFINITY, max1 = -INFINITY;
  for (int q = 0; q < 4; q++) {
    min0 = fmin(min0, r[q]), max0 = fmax(max0, r[q]);
    min1 = fmin(min1, x[q]), max1 = fmax(max1, x[q]);
  }
  if (max0 < c->pos0_min || min0 > c->pos0_maxin || max1 < c->pos1_min || min1 >= c->pos1_max)
    return 0;
  for (int q = 0; q < 4; q++) {
    double a = fmin(fmax(r[q], c->pos0_min), c->pos0_maxin);
    double b = fmin(fmax(x[q], c->pos1_min), c->pos1_maxin);
    p[2 * q] = (a - c->pos0_min) / c->delta0;
    p[2 * q + 1] = (b - c->pos1_min) / c->delta1;
  }
  double area = fabs(poly_area(p, 4));
  if (area == 0.0) return 0;
  double lo0 = INFINITY, hi0 = -INFINITY, lo1 = INFINITY, hi1 = -INFINITY;
  for (int q = 0; q < 4; q++) {
    lo0 = fmin(lo0, p[2 * q]), hi0 = fmax(hi0, p[2 * q]);
    lo1 = fmin(lo1, p[2 * q + 1]), hi1 = fmax(hi1, p[2 * q + 1]);
  }
  long a0 = (long)floor(lo0), b0 = (long)floor(hi0), a1 = (long)floor(lo1), b1 = (long)floor(hi1);
  if (a0 < 0) a0 = 0;
  if (a1 < 0) a1 = 0;
  if (b0 >= (long)c->nbins) b0 = (long)c->nbins - 1;
  if (b1 >= (long)c->nazim) b1 = (long)c->nazim - 1;
  int st = 0;
  double t1[32], t2[32];
  for (long i = a0; !st && i <= b0; i++) {
    for (long j = a1; !st && j <= b1; j++) {
      int n = clip_half(p, 4, t1, 0, (double)i, -1.0);
      n = clip_half(t1, n, t2, 0, (double)(i + 1), 1.0);
      n = clip_half(t2, n, t1, 1, (double)j, -1.0);
      n = clip_half(t1, n, t2, 1, (double)(j + 1), 1.0);
      if (n < 3) continue;
      double a = fabs(poly_area(t2, n));
      if (a > 0) st = push(c, row2(c, i, j), a / area);
    }
  }
  return st;
}

static int emit(build_ctx *c, size_t idx) {
  c->ne = 0;
  if (c->mask && c->mask[idx]) return 0;
  sf_azim_split s = c->o->split;
  if (!c->twod) return s == SF_SPLIT_FULL ? emit_1d_full(c, idx) : emit_1d_bbox(c, idx, s == SF_SPLIT_BBOX);
  return s == SF_SPLIT_FULL ? emit_2d_full(c, idx) : s == SF_SPLIT_BBOX ? emit_2d_bbox(c, idx) : emit_2d_no(c, idx);
}

/* The extent of the pixels of one range of rows (A2.12): radial and chi minima and maxima per
 * split mode, as pyFAI's calc_boundaries (1-D no/bbox) and the full split's corner range, or per
 * pixel clipped as HistoBBox2d (2-D). Each range starts from its first unmasked pixel (1-D
 * no/bbox: its centre, as pyFAI starts from the first valid centre); min and max select, so
 * partial results combined in range order give the serial fold's bytes. */
static void range_extent(const build_ctx *c, size_t p0, size_t p1, azim_range *rg) {
  sf_azim_split s = c->o->split;
  int have = 0;
  double p0lo = 0, p0hi = 0, p1lo = 0, p1hi = 0;
  for (size_t idx = p0; idx < p1; idx++) {
    if (c->mask && c->mask[idx]) continue;
    double lo0, hi0, lo1, hi1;
    if (s == SF_SPLIT_FULL) {
      double r[4], x[4];
      corners(c, idx, r, x);
      lo0 = fmin(fmin(r[0], r[1]), fmin(r[2], r[3]));
      hi0 = fmax(fmax(r[0], r[1]), fmax(r[2], r[3]));
      lo1 = fmin(fmin(x[0], x[1]), fmin(x[2], x[3]));
      hi1 = fmax(fmax(x[0], x[1]), fmax(x[2], x[3]));
      if (c->twod) {
        if (hi1 > PI32) hi1 = PI32;
        if (lo1 < -PI32) lo1 = -PI32;
      }
    } else {
      double d0 = s == SF_SPLIT_BBOX ? c->drad[idx] : 0.0;
      double d1 = s == SF_SPLIT_BBOX && c->dchi ? c->dchi[idx] : 0.0;
      double c1 = c->cchi ? c->cchi[idx] : 0.0;
      lo0 = c->crad[idx] - d0, hi0 = c->crad[idx] + d0;
      lo1 = c1 - d1, hi1 = c1 + d1;
      if (c->twod) {
        if (lo0 < 0) lo0 = 0;
        if (hi1 > PI32) hi1 = PI32;
        if (lo1 < -PI32) lo1 = -PI32;
      }
    }
    if (!have) {
      if (s == SF_SPLIT_FULL || c->twod) p0lo = lo0, p0hi = hi0, p1lo = lo1, p1hi = hi1;
      else p0lo = p0hi = c->crad[idx], p1lo = p1hi = c->cchi ? c->cchi[idx] : 0.0;
    }
    have = 1;
    p0lo = fmin(p0lo, lo0), p0hi = fmax(p0hi, hi0);
    p1lo = fmin(p1lo, lo1), p1hi = fmax(p1hi, hi1);
  }
  rg->have = have;
  rg->lo0 = p0lo, rg->hi0 = p0hi, rg->lo1 = p1lo, rg->hi1 = p1hi;
}

/* The bin range from the ranges' extents, combined in range order, and the user's ranges
 * (A2.12); 2-D no/bbox start from pixel 0 (HistoBBox2d's initial value). */
static int boundaries(build_ctx *c, const azim_range *rgs, size_t nr, const char **why) {
  const sf_azim_opts *o = c->o;
  int have = 0;
  double p0lo = 0, p0hi = 0, p1lo = 0, p1hi = 0;
  sf_azim_split s = o->split;
  int init0 = c->twod && s != SF_SPLIT_FULL;
  if (init0) {
    p0lo = p0hi = c->crad[0] < 0 ? 0.0 : c->crad[0];
    p1lo = p1hi = c->cchi[0];
  }
  for (size_t k = 0; k < nr; k++) {
    const azim_range *rg = rgs + k;
    if (!rg->have) continue;
    if (!have && !init0) {
      p0lo = rg->lo0, p0hi = rg->hi0, p1lo = rg->lo1, p1hi = rg->hi1;
    } else {
      p0lo = fmin(p0lo, rg->lo0), p0hi = fmax(p0hi, rg->hi0);
      p1lo = fmin(p1lo, rg->lo1), p1hi = fmax(p1hi, rg->hi1);
    }
    have = 1;
  }
  if (!have) {
    *why = "every pixel is masked";
    return SF_ERR_USAGE;
  }
  /* 1-D no/bbox clamp the data range before a user range replaces it; the others after. */
  int clamp_after = c->twod || s == SF_SPLIT_FULL;
  if (!clamp_after) p0lo = fmax(0.0, p0lo), p0hi = fmax(0.0, p0hi);
  double scale = unit_scale(o->unit);
  if (!isnan(o->radial_lo) && !isnan(o->radial_hi)) {
    p0lo = fmin(o->radial_lo, o->radial_hi) / scale;
    p0hi = fmax(o->radial_lo, o->radial_hi) / scale;
  }
  c->check_pos1 = 0;
  if (!isnan(o->azimuth_lo) && !isnan(o->azimuth_hi)) {
    double lo = o->azimuth_lo * M_PI / 180.0, hi = o->azimuth_hi * M_PI / 180.0;
    if (hi <= lo) hi += 2.0 * M_PI;
    p1lo = lo, p1hi = hi;
    c->check_pos1 = 1;
  }
  if (clamp_after) {
    p0lo = fmax(0.0, p0lo);
    if (!c->twod) p0hi = fmax(0.0, p0hi);
  }
  if (!(p0hi > p0lo)) {
    *why = "the radial range is empty";
    return SF_ERR_USAGE;
  }
  c->pos0_min = p0lo, c->pos0_maxin = p0hi, c->pos0_max = upper_bound(p0hi);
  c->delta0 = (c->pos0_max - c->pos0_min) / (double)c->nbins;
  c->pos1_min = p1lo, c->pos1_maxin = p1hi, c->pos1_max = upper_bound(p1hi);
  c->delta1 = c->twod ? (c->pos1_max - c->pos1_min) / (double)c->nazim : 0.0;
  c->fpos0_min = (float)c->pos0_min, c->fdelta0 = (float)c->delta0;
  c->fpos1_min = (float)c->pos1_min, c->fdelta1 = (float)c->delta1;
  return 0;
}

void sf_azim_free(sf_azim *a) {
  if (!a) return;
  free(a->indptr), free(a->indices), free(a->data), free(a->norm);
  free(a->radial), free(a->azimuthal);
  free(a->pix_row), free(a->row_norm), free(a->row_count), free(a->px_row), free(a->px_w);
  free(a->ov_pix), free(a->ov_row), free(a->ov_w), free(a->pm_ptr), free(a->pm_row), free(a->pm_w);
  memset(a, 0, sizeof *a);
}

/* ---- the phased build ----------------------------------------------------------------------
 * Pixel rows are cut into ranges; a range's geometry, extent, entries and CSR slots depend only
 * on its rows (and, for the extent, the corner rows below them), and every combination is made
 * in range order, so the table's bytes do not depend on the number of ranges nor on the order
 * in which ranges run. */

static void compact_pixel(sf_azim *a, size_t k, int32_t *ov_pix, int32_t *ov_row, float *ov_w,
                          size_t *nov);
static void row_sums(sf_azim *a, size_t r0, size_t r1);

struct sf_azim_builder {
  build_ctx c;            /* shared: geometry arrays and, after the bounds, the bins */
  const float *flat;
  size_t npix, nrows, nranges;
  azim_range *rg;
  sf_azim a;              /* the table being made */
};

void sf_azim_builder_destroy(sf_azim_builder **bp) {
  if (!bp || !*bp) return;
  sf_azim_builder *b = *bp;
  build_ctx *c = &b->c;
  free(c->crad), free(c->cchi), free(c->drad), free(c->dchi), free(c->grad), free(c->gchi);
  for (size_t k = 0; b->rg && k < b->nranges; k++) {
    azim_range *rg = b->rg + k;
    free(rg->all), free(rg->pfirst), free(rg->rows), free(rg->c.buf), free(rg->c.e);
    free(rg->ov_pix), free(rg->ov_row), free(rg->ov_w);
  }
  free(b->rg);
  sf_azim_free(&b->a);
  free(b);
  *bp = NULL;
}

int sf_azim_builder_create(const sf_azim_geom *g, const sf_azim_opts *o, const uint8_t *mask,
                           const float *flat, size_t nranges, sf_azim_builder **out,
                           const char **why) {
  int status = 0;
  const char *dummy_why = NULL;
  if (!why) why = &dummy_why;
  *why = NULL;
  *out = NULL;
  size_t npix = g->h * g->w, nazim = o->azimuth_bins;
  size_t nrows = nazim ? o->nbins * nazim : o->nbins;
  if ((unsigned)o->unit > SF_UNIT_R_MM || (unsigned)o->split > SF_SPLIT_FULL) {
    *why = "unknown unit or split mode";
    return SF_ERR_USAGE;
  }
  if (needs_wavelength(o->unit) && !(g->wavelength > 0)) {
    *why = "a q unit needs the wavelength";
    return SF_ERR_USAGE;
  }
  if (npix == 0 || o->nbins == 0 || nrows > INT32_MAX || npix > INT32_MAX || !(g->dist > 0) ||
      !(g->pixel1 > 0) || !(g->pixel2 > 0)) {
    *why = "empty frame, no bins, or a bad distance or pixel size";
    return SF_ERR_USAGE;
  }
  sf_azim_builder *b = calloc(1, sizeof *b);
  if (!b) return SF_ERR_NOMEM;
  if (nranges < 1) nranges = 1;
  if (nranges > g->h) nranges = g->h;
  b->c = (build_ctx){.g = g, .o = o, .mask = mask, .h = g->h, .w = g->w, .nbins = o->nbins,
                     .nazim = nazim, .twod = nazim > 0};
  b->flat = flat, b->npix = npix, b->nrows = nrows, b->nranges = nranges;
  b->a.h = g->h, b->a.w = g->w, b->a.npix = npix, b->a.nrows = nrows, b->a.nbins = o->nbins;
  b->a.nazim = nazim;
  build_ctx *c = &b->c;
  int split = o->split;
  size_t ngrid = (g->h + 1) * (g->w + 1);
  b->a.norm = malloc(npix * sizeof(float));
  b->a.indptr = calloc(nrows + 1, sizeof(int32_t));
  c->crad = malloc(npix * sizeof(double));
  c->cchi = malloc(npix * sizeof(double));
  if (split != SF_SPLIT_NO) {
    c->grad = malloc(ngrid * sizeof(float));
    c->gchi = malloc(ngrid * sizeof(float));
  }
  if (split == SF_SPLIT_BBOX) {
    c->drad = malloc(npix * sizeof(double));
    c->dchi = malloc(npix * sizeof(double));
  }
  b->rg = calloc(nranges, sizeof *b->rg);
  if (!b->a.norm || !b->a.indptr || !c->crad || !c->cchi ||
      (split != SF_SPLIT_NO && (!c->grad || !c->gchi)) ||
      (split == SF_SPLIT_BBOX && (!c->drad || !c->dchi)) || !b->rg)
    SF_FAIL_QUIET(SF_ERR_NOMEM);
  for (size_t k = 0; k < nranges; k++) {
    azim_range *rg = b->rg + k;
    rg->r0 = k * g->h / nranges, rg->r1 = (k + 1) * g->h / nranges;
    rg->pfirst = malloc(((rg->r1 - rg->r0) * g->w + 1) * sizeof(size_t));
    rg->rows = calloc(nrows, sizeof(int32_t));
    if (!rg->pfirst || !rg->rows) SF_FAIL_QUIET(SF_ERR_NOMEM);
  }
  *out = b;
cleanup:
  if (status) sf_azim_builder_destroy(&b);
  return status;
}

size_t sf_azim_builder_ranges(const sf_azim_builder *b) {
  return b->nranges;
}

int sf_azim_builder_geometry(sf_azim_builder *b, size_t k) {
  const azim_range *rg = b->rg + k;
  const build_ctx *c = &b->c;
  const sf_azim_geom *g = c->g;
  const sf_azim_opts *o = c->o;
  size_t gr1 = rg->r1 == g->h ? g->h + 1 : rg->r1;
  geom_arrays(g, o->unit, o->polarization, o->solid_angle, b->flat, c->crad, c->cchi, c->grad,
              c->gchi, b->a.norm, rg->r0, rg->r1, rg->r0, gr1);
  if (c->mask)
    for (size_t p = rg->r0 * g->w; p < rg->r1 * g->w; p++)
      if (c->mask[p]) b->a.norm[p] = 0.0f;
  return 0;
}

int sf_azim_builder_extent(sf_azim_builder *b, size_t k) {
  azim_range *rg = b->rg + k;
  const build_ctx *c = &b->c;
  size_t w = c->w, W = w + 1;
  if (c->o->split == SF_SPLIT_BBOX) {
    /* Half-widths: radial from the float32 corners, chi with the 2 pi wrap (A1.5). */
    for (size_t i = rg->r0; i < rg->r1; i++)
      for (size_t j = 0; j < w; j++) {
        size_t p = i * w + j, q[4] = {i * W + j, (i + 1) * W + j, (i + 1) * W + j + 1, i * W + j + 1};
        double dr = 0.0, dx = 0.0, ce = c->cchi[p];
        for (int m = 0; m < 4; m++) {
          dr = fmax(dr, fabs((double)c->grad[q[m]] - c->crad[p]));
          double co = c->gchi[q[m]];
          double d1 = fmod(co - ce + 2.0 * M_PI, 2.0 * M_PI), d2 = fmod(ce - co + 2.0 * M_PI, 2.0 * M_PI);
          double d = fmin(d1, d2);
          if (d > dx) dx = d;
        }
        c->drad[p] = dr, c->dchi[p] = dx;
      }
  }
  range_extent(c, rg->r0 * w, rg->r1 * w, rg);
  return 0;
}

int sf_azim_builder_bounds(sf_azim_builder *b, const char **why) {
  const char *dummy_why = NULL;
  if (!why) why = &dummy_why;
  *why = NULL;
  return boundaries(&b->c, b->rg, b->nranges, why);
}

int sf_azim_builder_emit(sf_azim_builder *b, size_t k) {
  int status = 0;
  azim_range *rg = b->rg + k;
  build_ctx *c = &rg->c;
  *c = b->c; /* the shared fields; the scratch below is the range's own */
  c->buf = NULL, c->e = NULL, c->ne = c->cap = 0;
  if (c->o->split == SF_SPLIT_FULL && !c->twod) {
    c->buf = calloc(c->nbins + 1, sizeof(float));
    if (!c->buf) return SF_ERR_NOMEM;
  }
  size_t p0 = rg->r0 * c->w, p1 = rg->r1 * c->w, nnz = 0;
  for (size_t idx = p0; idx < p1; idx++) {
    SF_CALL(emit(c, idx));
    rg->pfirst[idx - p0] = nnz;
    if (nnz + c->ne > rg->cap) {
      size_t ncap = rg->cap ? 2 * rg->cap : (p1 - p0) + 64;
      while (ncap < nnz + c->ne) ncap *= 2;
      ent *na = realloc(rg->all, ncap * sizeof *na);
      if (!na) SF_FAIL_QUIET(SF_ERR_NOMEM);
      rg->all = na, rg->cap = ncap;
    }
    for (size_t e = 0; e < c->ne; e++) rg->rows[c->e[e].row]++, rg->all[nnz + e] = c->e[e];
    nnz += c->ne;
  }
  rg->pfirst[p1 - p0] = nnz;
  rg->nnz = nnz;
cleanup:
  free(c->buf), free(c->e);
  c->buf = NULL, c->e = NULL, c->ne = c->cap = 0;
  return status;
}

int sf_azim_builder_layout(sf_azim_builder *b, const char **why) {
  const char *dummy_why = NULL;
  if (!why) why = &dummy_why;
  *why = NULL;
  size_t nrows = b->nrows, nnz = 0;
  int32_t *ip = b->a.indptr;
  for (size_t k = 0; k < b->nranges; k++) nnz += b->rg[k].nnz;
  if (nnz == 0) {
    *why = "the radial or azimuth range selects no pixel";
    return SF_ERR_USAGE;
  }
  if (nnz > INT32_MAX) return SF_ERR_NOMEM;
  /* Row r holds range 0's entries, then range 1's...: each range's count becomes its first
   * slot in the row. */
  ip[0] = 0;
  for (size_t r = 0; r < nrows; r++) {
    int32_t at = ip[r];
    for (size_t k = 0; k < b->nranges; k++) {
      int32_t n = b->rg[k].rows[r];
      b->rg[k].rows[r] = at;
      at += n;
    }
    ip[r + 1] = at;
  }
  sf_azim *a = &b->a;
  a->nnz = nnz;
  a->indices = malloc(nnz * sizeof(int32_t));
  a->data = malloc(nnz * sizeof(float));
  a->radial = malloc(b->c.nbins * sizeof(double));
  if (b->c.twod) a->azimuthal = malloc(b->c.nazim * sizeof(double));
  if (!a->indices || !a->data || !a->radial || (b->c.twod && !a->azimuthal)) return SF_ERR_NOMEM;
  /* the pixel-major forms (sf_azim_index's) */
  size_t npix = b->npix, base = 0;
  for (size_t k = 0; k < b->nranges; k++) b->rg[k].base = base, base += b->rg[k].nnz;
  a->row_norm = malloc(nrows * sizeof(double));
  a->row_count = malloc(nrows * sizeof(double));
  if (!a->row_norm || !a->row_count) return SF_ERR_NOMEM;
  if (b->c.o->split == SF_SPLIT_NO) {
    a->pix_row = malloc(npix * sizeof(int32_t));
    if (!a->pix_row) return SF_ERR_NOMEM;
    if (nrows < 0xFFFF && !(a->px_row = malloc(npix * sizeof(uint16_t)))) return SF_ERR_NOMEM;
    return 0;
  }
  a->pm_ptr = malloc((npix + 1) * sizeof(int32_t));
  a->pm_row = malloc(nnz * sizeof(int32_t));
  a->pm_w = malloc(nnz * sizeof(float));
  if (!a->pm_ptr || !a->pm_row || !a->pm_w) return SF_ERR_NOMEM;
  /* a range's first offset is set here: the last pixel of the range before reads it */
  for (size_t k = 0; k < b->nranges; k++) a->pm_ptr[b->rg[k].r0 * b->c.w] = (int32_t)b->rg[k].base;
  a->pm_ptr[npix] = (int32_t)nnz;
  if (nrows >= 2 && nrows < 0xFFFF) {
    a->px_row = malloc(npix * sizeof(uint16_t));
    a->px_w = malloc(2 * npix * sizeof(float));
    if (!a->px_row || !a->px_w) return SF_ERR_NOMEM;
  }
  return 0;
}

int sf_azim_builder_fill(sf_azim_builder *b, size_t k) {
  azim_range *rg = b->rg + k;
  size_t p0 = rg->r0 * b->c.w, n = (rg->r1 - rg->r0) * b->c.w;
  int32_t *at = rg->rows;
  for (size_t q = 0; q < n; q++)
    for (size_t e = rg->pfirst[q]; e < rg->pfirst[q + 1]; e++) {
      int32_t s = at[rg->all[e].row]++;
      b->a.indices[s] = (int32_t)(p0 + q);
      b->a.data[s] = rg->all[e].w;
    }
  free(rg->rows);
  rg->rows = NULL;
  return 0;
}

int sf_azim_builder_index(sf_azim_builder *b, size_t k) {
  azim_range *rg = b->rg + k;
  sf_azim *a = &b->a;
  size_t nrows = b->nrows, n = b->nranges;
  row_sums(a, k * nrows / n, (k + 1) * nrows / n);
  size_t p0 = rg->r0 * b->c.w, np = (rg->r1 - rg->r0) * b->c.w;
  const ent *all = rg->all;
  const size_t *pf = rg->pfirst;
  if (a->pix_row) { /* no splitting: at most one entry per pixel */
    for (size_t q = 0; q < np; q++) {
      int32_t r = pf[q + 1] > pf[q] ? all[pf[q + 1] - 1].row : -1;
      a->pix_row[p0 + q] = r;
      if (a->px_row) a->px_row[p0 + q] = r < 0 ? 0xFFFF : (uint16_t)r;
    }
  } else {
    /* the pixel's entries by increasing row (distinct rows; a stable sort), as the transpose
     * of the CSR has them */
    rg->compact = 1, rg->nov = 0;
    for (size_t q = 0; q < np; q++) {
      size_t e0 = rg->base + pf[q], m = pf[q + 1] - pf[q];
      int32_t *row = a->pm_row + e0;
      float *wt = a->pm_w + e0;
      if (q) a->pm_ptr[p0 + q] = (int32_t)e0;
      for (size_t i = 0; i < m; i++) {
        ent x = all[pf[q] + i];
        size_t j = i;
        for (; j > 0 && row[j - 1] > x.row; j--) row[j] = row[j - 1], wt[j] = wt[j - 1];
        row[j] = x.row, wt[j] = x.w;
      }
      if (m > 2) rg->nov += m - 2;
      for (size_t i = 1; i < m; i++)
        if (row[i] != row[i - 1] + 1) rg->compact = 0;
    }
    if (a->px_row && rg->compact) {
      rg->ov_pix = malloc((rg->nov ? rg->nov : 1) * sizeof(int32_t));
      rg->ov_row = malloc((rg->nov ? rg->nov : 1) * sizeof(int32_t));
      rg->ov_w = malloc((rg->nov ? rg->nov : 1) * sizeof(float));
      if (!rg->ov_pix || !rg->ov_row || !rg->ov_w) return SF_ERR_NOMEM;
      size_t nov = 0;
      for (size_t q = 0; q < np; q++) compact_pixel(a, p0 + q, rg->ov_pix, rg->ov_row, rg->ov_w, &nov);
    }
  }
  free(rg->all), free(rg->pfirst);
  rg->all = NULL, rg->pfirst = NULL;
  return 0;
}

int sf_azim_builder_finish(sf_azim_builder *b, sf_azim *out) {
  int status = 0;
  const build_ctx *c = &b->c;
  sf_azim *a = &b->a;
  double scale = unit_scale(c->o->unit);
  for (size_t k = 0; k < c->nbins; k++)
    a->radial[k] = (c->pos0_min + ((double)k + 0.5) * c->delta0) * scale;
  for (size_t k = 0; k < c->nazim; k++)
    a->azimuthal[k] = (c->pos1_min + ((double)k + 0.5) * c->delta1) * (180.0 / M_PI);
  if (a->pm_ptr) { /* split tables: the compact form when every range has it */
    int compact = a->px_row != NULL;
    size_t nov = 0;
    for (size_t k = 0; k < b->nranges; k++) compact &= b->rg[k].compact, nov += b->rg[k].nov;
    if (compact) {
      a->ov_pix = malloc((nov ? nov : 1) * sizeof(int32_t));
      a->ov_row = malloc((nov ? nov : 1) * sizeof(int32_t));
      a->ov_w = malloc((nov ? nov : 1) * sizeof(float));
      if (!a->ov_pix || !a->ov_row || !a->ov_w) SF_FAIL_QUIET(SF_ERR_NOMEM);
      for (size_t k = 0; k < b->nranges; k++) {
        azim_range *rg = b->rg + k;
        memcpy(a->ov_pix + a->nov, rg->ov_pix, rg->nov * sizeof(int32_t));
        memcpy(a->ov_row + a->nov, rg->ov_row, rg->nov * sizeof(int32_t));
        memcpy(a->ov_w + a->nov, rg->ov_w, rg->nov * sizeof(float));
        a->nov += rg->nov;
      }
      free(a->pm_ptr), free(a->pm_row), free(a->pm_w);
      a->pm_ptr = a->pm_row = NULL, a->pm_w = NULL;
    } else {
      free(a->px_row), free(a->px_w);
      a->px_row = NULL, a->px_w = NULL;
    }
  }
  *out = *a;
  memset(a, 0, sizeof *a);
cleanup:
  return status;
}

int sf_azim_build(const sf_azim_geom *g, const sf_azim_opts *o, const uint8_t *mask,
                  const float *flat, sf_azim *out, const char **why) {
  int status = 0;
  sf_azim_builder *b = NULL;
  memset(out, 0, sizeof *out);
  SF_CALL(sf_azim_builder_create(g, o, mask, flat, 1, &b, why));
  SF_CALL(sf_azim_builder_geometry(b, 0));
  SF_CALL(sf_azim_builder_extent(b, 0));
  SF_CALL(sf_azim_builder_bounds(b, why));
  SF_CALL(sf_azim_builder_emit(b, 0));
  SF_CALL(sf_azim_builder_layout(b, why));
  SF_CALL(sf_azim_builder_fill(b, 0));
  SF_CALL(sf_azim_builder_index(b, 0));
  SF_CALL(sf_azim_builder_finish(b, out));
cleanup:
  sf_azim_builder_destroy(&b);
  return status;
}

/* The compact form of pixel k from its pixel-major entries; its entries past the second go to
 * the overflow lists at *nov. */
static void compact_pixel(sf_azim *a, size_t k, int32_t *ov_pix, int32_t *ov_row, float *ov_w,
                          size_t *nov) {
  int32_t e0 = a->pm_ptr[k], e1 = a->pm_ptr[k + 1];
  float *w = a->px_w + 2 * k;
  w[0] = w[1] = 0.0f;
  a->px_row[k] = 0xFFFF;
  if (e1 == e0) return;
  int32_t r0 = a->pm_row[e0];
  if (e1 - e0 == 1 && (size_t)r0 == a->nrows - 1) { /* the second slot stays inside the table */
    a->px_row[k] = (uint16_t)(r0 - 1), w[1] = a->pm_w[e0];
    return;
  }
  a->px_row[k] = (uint16_t)r0;
  w[0] = a->pm_w[e0];
  if (e1 - e0 > 1) w[1] = a->pm_w[e0 + 1];
  for (int32_t e = e0 + 2; e < e1; e++, (*nov)++)
    ov_pix[*nov] = (int32_t)k, ov_row[*nov] = a->pm_row[e], ov_w[*nov] = a->pm_w[e];
}

/* The per-row sums of the normalisation and the weights, rows [r0, r1), in entry order. */
static void row_sums(sf_azim *a, size_t r0, size_t r1) {
  for (size_t r = r0; r < r1; r++) {
    double n = 0.0, c = 0.0;
    for (int32_t e = a->indptr[r]; e < a->indptr[r + 1]; e++) {
      float wt = a->data[e], wn = wt * a->norm[a->indices[e]];
      n += wn, c += wt;
    }
    a->row_norm[r] = n, a->row_count[r] = c;
  }
}

/* The pixel-major forms of a table, made from its CSR (A2.17): the per-row sums of the
 * normalisation and the weights (they depend on the frame only through its skipped pixels, and
 * are summed here in the row's entry order, increasing pixel), and either the compact form
 * (first row and two weights per pixel, the rare further entries in a list; for tables whose
 * pixels cover consecutive rows: all 1-D tables) or the general one (offsets, rows, weights).
 * The entries of a pixel go to distinct rows, so their order does not change any sum. */
int sf_azim_index(sf_azim *a, int pixel_rows) {
  int status = 0;
  size_t npix = a->npix, nnz = a->nnz, nrows = a->nrows;
  int32_t *fill = NULL;
  a->row_norm = malloc((nrows ? nrows : 1) * sizeof(double));
  a->row_count = malloc((nrows ? nrows : 1) * sizeof(double));
  if (!a->row_norm || !a->row_count) SF_FAIL_QUIET(SF_ERR_NOMEM);
  row_sums(a, 0, nrows);
  if (pixel_rows) {
    if (!a->pix_row) {
      a->pix_row = malloc((npix ? npix : 1) * sizeof(int32_t));
      if (!a->pix_row) SF_FAIL_QUIET(SF_ERR_NOMEM);
      for (size_t k = 0; k < npix; k++) a->pix_row[k] = -1;
      for (size_t r = 0; r < nrows; r++)
        for (int32_t e = a->indptr[r]; e < a->indptr[r + 1]; e++) a->pix_row[a->indices[e]] = (int32_t)r;
    }
    if (nrows < 0xFFFF) {
      a->px_row = malloc((npix ? npix : 1) * sizeof(uint16_t));
      if (!a->px_row) SF_FAIL_QUIET(SF_ERR_NOMEM);
      for (size_t k = 0; k < npix; k++)
        a->px_row[k] = a->pix_row[k] < 0 ? 0xFFFF : (uint16_t)a->pix_row[k];
    }
    goto cleanup;
  }
  /* The transpose, entries of a pixel by increasing row. */
  a->pm_ptr = calloc(npix + 1, sizeof(int32_t));
  a->pm_row = malloc((nnz ? nnz : 1) * sizeof(int32_t));
  a->pm_w = malloc((nnz ? nnz : 1) * sizeof(float));
  fill = malloc((npix ? npix : 1) * sizeof(int32_t));
  if (!a->pm_ptr || !a->pm_row || !a->pm_w || !fill) SF_FAIL_QUIET(SF_ERR_NOMEM);
  for (size_t e = 0; e < nnz; e++) a->pm_ptr[a->indices[e] + 1]++;
  for (size_t k = 0; k < npix; k++) a->pm_ptr[k + 1] += a->pm_ptr[k];
  memcpy(fill, a->pm_ptr, npix * sizeof(int32_t));
  for (size_t r = 0; r < nrows; r++)
    for (int32_t e = a->indptr[r]; e < a->indptr[r + 1]; e++) {
      int32_t at = fill[a->indices[e]]++;
      a->pm_row[at] = (int32_t)r;
      a->pm_w[at] = a->data[e];
    }
  int compact = nrows >= 2 && nrows < 0xFFFF;
  size_t nov = 0;
  for (size_t k = 0; compact && k < npix; k++) {
    int32_t e0 = a->pm_ptr[k], e1 = a->pm_ptr[k + 1];
    if (e1 - e0 > 2) nov += (size_t)(e1 - e0 - 2);
    for (int32_t e = e0 + 1; compact && e < e1; e++)
      if (a->pm_row[e] != a->pm_row[e - 1] + 1) compact = 0;
  }
  if (!compact) goto cleanup;
  a->px_row = malloc((npix ? npix : 1) * sizeof(uint16_t));
  a->px_w = malloc((npix ? 2 * npix : 1) * sizeof(float));
  a->ov_pix = malloc((nov ? nov : 1) * sizeof(int32_t));
  a->ov_row = malloc((nov ? nov : 1) * sizeof(int32_t));
  a->ov_w = malloc((nov ? nov : 1) * sizeof(float));
  if (!a->px_row || !a->px_w || !a->ov_pix || !a->ov_row || !a->ov_w) SF_FAIL_QUIET(SF_ERR_NOMEM);
  a->nov = 0;
  for (size_t k = 0; k < npix; k++)
    compact_pixel(a, k, a->ov_pix, a->ov_row, a->ov_w, &a->nov);
  free(a->pm_ptr), free(a->pm_row), free(a->pm_w);
  a->pm_ptr = a->pm_row = NULL, a->pm_w = NULL;
cleanup:
  free(fill);
  return status;
}

/* ---- per frame (A2.17) -------------------------------------------------------------------- */

/* Tables of up to AZIM_SV_ROWS rows are integrated in 2 interleaved copies of their sums on the
 * stack (at most 128 KiB); larger ones in the caller's arrays. */
#define AZIM_SV_ROWS 2048
#define AZIM_SV_DOUBLES (2 * 4 * AZIM_SV_ROWS)
#if defined(__AVX2__)
#include <immintrin.h>
#endif

#if defined(__GNUC__)
#define AZIM_INLINE static inline __attribute__((always_inline))
#else
#define AZIM_INLINE static inline
#endif

typedef struct azim_skip {
  int dodummy;
  float fd, fdd;
  sf_dtype dt;             /* the frame's type (read by AT_ANY) */
} azim_skip;

/* The frame's element type: the per-frame code is compiled for each type with a fast path and
 * once for the others (AT_ANY: a switch on the type per read). A pixel's value is (float)x, as
 * sf_dtype_to_float converts it, so every type gives the bytes of its float frame. */
enum { AT_F32 = 0, AT_U32, AT_U16, AT_I32, AT_ANY };

/* Pixel i of the frame raw of type T as float. */
AZIM_INLINE float px(const void *raw, size_t i, int T, const azim_skip *k) {
  switch (T) {
  case AT_F32: return ((const float *)raw)[i];
  case AT_U32: return (float)((const uint32_t *)raw)[i];
  case AT_U16: return (float)((const uint16_t *)raw)[i];
  case AT_I32: return (float)((const int32_t *)raw)[i];
  default: return sf_dtype_load_float(raw, i, k->dt);
  }
}

AZIM_INLINE int skip_pixel(float x, const azim_skip *k) {
  if (!isfinite(x)) return 1;
  if (k->dodummy) return k->fdd != 0.0f ? fabsf(x - k->fd) <= k->fdd : x == k->fd;
  return 0;
}

/* Frame rows [y0, y1) of a compact table, NS rows at a time: row y0 + k of each group sums into
 * copy k (S[k], V[k]), so the sums of neighbouring pixels, which mostly share a bin, form NS
 * independent chains. SPLIT: two weights per pixel (a zero weight adds +0.0). Returns the number
 * of skipped pixels. */
AZIM_INLINE size_t rows_compact(const sf_azim *a, size_t y0, size_t y1, int NS, int SPLIT,
                                const void *raw, int T, const float *dark, double *const *S,
                                double *const *V, const azim_skip *sk) {
  size_t w = a->w, nskip = 0;
  const uint16_t *pr = a->px_row;
  const float *pw = a->px_w;
  for (size_t y = y0; y < y1; y += (size_t)NS)
    for (size_t j = 0; j < w; j++)
      for (int k = 0; k < NS; k++) {
        size_t i = (y + (size_t)k) * w + j;
        unsigned r = pr[i];
        if (r == 0xFFFF) continue;
        float x = px(raw, i, T, sk);
        if (skip_pixel(x, sk)) {
          nskip++;
          continue;
        }
        float dk = dark ? dark[i] : 0.0f;
        if (SPLIT) {
          double sig = x - dk, var = (x > 1.0f ? x : 1.0f) + dk;
          float w0 = pw[2 * i], w1 = pw[2 * i + 1], q0 = w0 * w0, q1 = w1 * w1;
          S[k][r] += w0 * sig;
          S[k][r + 1] += w1 * sig;
          V[k][r] += q0 * var;
          V[k][r + 1] += q1 * var;
        } else {
          float sig = x - dk, var = (x > 1.0f ? x : 1.0f) + dk;
          S[k][r] += sig;
          V[k][r] += var;
        }
      }
  return nskip;
}

/* Compact tables: the frame in NS streams, the overflow entries, then the copies added in a
 * fixed order. */
AZIM_INLINE size_t integrate_compact(const sf_azim *a, int NS, const void *raw, int T, const float *dark,
                                     double *const *S, double *const *V, const azim_skip *sk) {
  size_t h = a->h, ym = h - h % (size_t)NS, nskip;
  if (a->px_w) {
    nskip = rows_compact(a, 0, ym, NS, 1, raw, T, dark, S, V, sk);
    nskip += rows_compact(a, ym, h, 1, 1, raw, T, dark, S, V, sk);
    for (size_t o = 0; o < a->nov; o++) {
      int32_t i = a->ov_pix[o];
      float x = px(raw, i, T, sk);
      if (skip_pixel(x, sk)) continue;
      float dk = dark ? dark[i] : 0.0f, wt = a->ov_w[o], q = wt * wt;
      double sig = x - dk, var = (x > 1.0f ? x : 1.0f) + dk;
      S[0][a->ov_row[o]] += wt * sig;
      V[0][a->ov_row[o]] += q * var;
    }
  } else {
    nskip = rows_compact(a, 0, ym, NS, 0, raw, T, dark, S, V, sk);
    nskip += rows_compact(a, ym, h, 1, 0, raw, T, dark, S, V, sk);
  }
  for (int k = 1; k < NS; k++)
    for (size_t r = 0; r < a->nrows; r++) S[0][r] += S[k][r], V[0][r] += V[k][r];
  return nskip;
}

/* The interleaved form for tables of up to AZIM_SV_ROWS rows. Without splitting, copy k of the
 * sums holds SV[k][2 r] = signal and SV[k][2 r + 1] = variance of row r (16-byte blocks); with
 * two weights per pixel, a 32-byte block per first row r, (signal, variance) of rows r and
 * r + 1, so a pixel adds to one aligned block with one 2- or 4-double add (AVX2), or the same
 * element-wise adds in portable code (same bytes). Frame rows [y0, y1), NS at a time, row
 * y0 + k of a group into copy k. Returns the number of skipped pixels. */
AZIM_INLINE size_t rows_sv(const sf_azim *a, size_t y0, size_t y1, int NS, int SPLIT,
                           const void *raw, int T, const float *dark, double *const *SV,
                           const azim_skip *sk) {
  size_t w = a->w, nskip = 0;
  const uint16_t *pr = a->px_row;
  const float *pw = a->px_w;
  for (size_t y = y0; y < y1; y += (size_t)NS)
    for (size_t j = 0; j < w; j++)
      for (int k = 0; k < NS; k++) {
        size_t i = (y + (size_t)k) * w + j;
        unsigned r = pr[i];
        if (r == 0xFFFF) continue;
        float x = px(raw, i, T, sk);
        if (skip_pixel(x, sk)) {
          nskip++;
          continue;
        }
        float dk = dark ? dark[i] : 0.0f;
        float sig = x - dk, var = (x > 1.0f ? x : 1.0f) + dk;
        double *p = SV[k] + (SPLIT ? 4 : 2) * (size_t)r;
#if defined(__AVX2__)
        __m128d sv = _mm_cvtps_pd(_mm_setr_ps(sig, var, 0.0f, 0.0f));
        if (SPLIT) {
          __m128 wv = _mm_castpd_ps(_mm_load_sd((const double *)(pw + 2 * i)));
          __m256d wq = _mm256_cvtps_pd(_mm_unpacklo_ps(wv, _mm_mul_ps(wv, wv)));
          __m256d t = _mm256_mul_pd(wq, _mm256_set_m128d(sv, sv));
          _mm256_store_pd(p, _mm256_add_pd(_mm256_load_pd(p), t));
        } else {
          _mm_store_pd(p, _mm_add_pd(_mm_load_pd(p), sv));
        }
#else
        double ds = sig, dv = var;
        if (SPLIT) {
          float w0 = pw[2 * i], w1 = pw[2 * i + 1], q0 = w0 * w0, q1 = w1 * w1;
          p[0] += w0 * ds, p[1] += q0 * dv, p[2] += w1 * ds, p[3] += q1 * dv;
        } else {
          p[0] += ds, p[1] += dv;
        }
#endif
      }
  return nskip;
}

AZIM_INLINE size_t integrate_sv(const sf_azim *a, int NS, const void *raw, int T, const float *dark,
                                double *S, double *V, const azim_skip *sk) {
  _Alignas(64) double buf[AZIM_SV_DOUBLES];
  int split = a->px_w != NULL;
  size_t h = a->h, ym = h - h % (size_t)NS, nskip, nrows = a->nrows;
  size_t n2 = ((split ? 4 : 2) * nrows + 7) & ~(size_t)7;
  double *SV[2];
  for (int k = 0; k < NS; k++) SV[k] = buf + (size_t)k * n2;
  memset(buf, 0, (size_t)NS * n2 * sizeof(double));
  if (split) {
    nskip = rows_sv(a, 0, ym, NS, 1, raw, T, dark, SV, sk);
    nskip += rows_sv(a, ym, h, 1, 1, raw, T, dark, SV, sk);
    for (size_t r = 0; r < nrows; r++) {
      double s = 0.0, v = 0.0;
      for (int k = 0; k < NS; k++) {
        s += SV[k][4 * r], v += SV[k][4 * r + 1];
        if (r) s += SV[k][4 * r - 2], v += SV[k][4 * r - 1];
      }
      S[r] = s, V[r] = v;
    }
  } else {
    nskip = rows_sv(a, 0, ym, NS, 0, raw, T, dark, SV, sk);
    nskip += rows_sv(a, ym, h, 1, 0, raw, T, dark, SV, sk);
    for (size_t r = 0; r < nrows; r++) {
      double s = 0.0, v = 0.0;
      for (int k = 0; k < NS; k++) s += SV[k][2 * r], v += SV[k][2 * r + 1];
      S[r] = s, V[r] = v;
    }
  }
  for (size_t o = 0; split && o < a->nov; o++) {
    int32_t i = a->ov_pix[o];
    float x = px(raw, i, T, sk);
    if (skip_pixel(x, sk)) continue;
    float dk = dark ? dark[i] : 0.0f, wt = a->ov_w[o], q = wt * wt;
    double sig = x - dk, var = (x > 1.0f ? x : 1.0f) + dk;
    S[a->ov_row[o]] += wt * sig;
    V[a->ov_row[o]] += q * var;
  }
  return nskip;
}

/* The normalisation and weight of the skipped pixels of a compact table, into N and C. */
AZIM_INLINE void skipped_compact(const sf_azim *a, const void *raw, int T, double *N, double *C,
                            const azim_skip *sk) {
  const uint16_t *pr = a->px_row;
  const float *nm = a->norm;
  for (size_t i = 0; i < a->npix; i++) {
    unsigned r = pr[i];
    if (r == 0xFFFF || !skip_pixel(px(raw, (size_t)i, T, sk), sk)) continue;
    if (!a->px_w) {
      N[r] += nm[i], C[r] += 1.0;
      continue;
    }
    for (unsigned e = 0; e < 2; e++) {
      float wt = a->px_w[2 * i + e], wn = wt * nm[i];
      N[r + e] += wn, C[r + e] += wt;
    }
  }
  for (size_t o = 0; a->px_w && o < a->nov; o++) {
    int32_t i = a->ov_pix[o];
    if (!skip_pixel(px(raw, (size_t)i, T, sk), sk)) continue;
    float wt = a->ov_w[o], wn = wt * nm[i];
    N[a->ov_row[o]] += wn, C[a->ov_row[o]] += wt;
  }
}

/* N and C from the per-row sums of the table. With skipped pixels, N and C hold what those
 * pixels would have added: it is subtracted, or, where it is half the row's weight or more
 * (where subtracting would lose precision), the row is summed again over its valid pixels. */
AZIM_INLINE void norm_count(const sf_azim *a, const void *raw, int T, size_t nskip, double *N, double *C,
                       const azim_skip *sk) {
  size_t nrows = a->nrows;
  if (!nskip) {
    memcpy(N, a->row_norm, nrows * sizeof(double));
    memcpy(C, a->row_count, nrows * sizeof(double));
    return;
  }
  for (size_t r = 0; r < nrows; r++) {
    double ns = N[r], cs = C[r];
    if (ns == 0.0 && cs == 0.0) {
      N[r] = a->row_norm[r], C[r] = a->row_count[r];
    } else if (2.0 * cs >= a->row_count[r]) {
      double n = 0.0, c = 0.0;
      for (int32_t e = a->indptr[r]; e < a->indptr[r + 1]; e++) {
        int32_t k = a->indices[e];
        if (skip_pixel(px(raw, (size_t)k, T, sk), sk)) continue;
        float wt = a->data[e], wn = wt * a->norm[k];
        n += wn, c += wt;
      }
      N[r] = n, C[r] = c;
    } else {
      N[r] = a->row_norm[r] - ns, C[r] = a->row_count[r] - cs;
    }
  }
}

/* One frame of type T (sf_azim_integrate_typed). */
AZIM_INLINE void integrate_frame(const sf_azim *a, const void *raw, int T, const float *dark,
                                 const azim_skip *sk, sf_azim_sums *s) {
  size_t nrows = a->nrows, npix = a->npix, nskip = 0;
  double *S = s->signal, *N = s->norm, *V = s->variance, *C = s->count;
  memset(S, 0, nrows * sizeof(double));
  memset(V, 0, nrows * sizeof(double));
  memset(N, 0, nrows * sizeof(double));
  memset(C, 0, nrows * sizeof(double));
  if (a->px_row && nrows <= AZIM_SV_ROWS) {
    nskip = dark ? integrate_sv(a, 2, raw, T, dark, S, V, sk) : integrate_sv(a, 2, raw, T, NULL, S, V, sk);
    if (nskip) skipped_compact(a, raw, T, N, C, sk);
  } else if (a->px_row) {
    /* N and C are the second copy of S and V until the skipped pixels are counted. */
    double *Sc[2] = {S, N}, *Vc[2] = {V, C};
    nskip = dark ? integrate_compact(a, 2, raw, T, dark, Sc, Vc, sk)
                 : integrate_compact(a, 2, raw, T, NULL, Sc, Vc, sk);
    memset(N, 0, nrows * sizeof(double));
    memset(C, 0, nrows * sizeof(double));
    if (nskip) skipped_compact(a, raw, T, N, C, sk);
  } else if (a->pix_row) {
    /* Weight 1, one row per pixel: neighbouring pixels mostly share a row, so the sums of a
     * run stay in registers and go to memory when the row changes. */
    const int32_t *pr = a->pix_row;
    int32_t cur = -1;
    double ss = 0, sv = 0;
    for (size_t i = 0; i < npix; i++) {
      int32_t r = pr[i];
      if (r < 0) continue;
      float x = px(raw, i, T, sk);
      if (skip_pixel(x, sk)) {
        N[r] += a->norm[i], C[r] += 1.0, nskip++;
        continue;
      }
      float dk = dark ? dark[i] : 0.0f;
      float sig = x - dk, var = (x > 1.0f ? x : 1.0f) + dk;
      if (r != cur) {
        if (cur >= 0) S[cur] += ss, V[cur] += sv;
        cur = r, ss = sv = 0.0;
      }
      ss += sig, sv += var;
    }
    if (cur >= 0) S[cur] += ss, V[cur] += sv;
  } else {
    const int32_t *ptr = a->pm_ptr, *row = a->pm_row;
    const float *w = a->pm_w;
    for (size_t i = 0; i < npix; i++) {
      int32_t e0 = ptr[i], e1 = ptr[i + 1];
      if (e0 == e1) continue;
      float x = px(raw, i, T, sk);
      if (skip_pixel(x, sk)) {
        for (int32_t e = e0; e < e1; e++) {
          float wn = w[e] * a->norm[i];
          N[row[e]] += wn, C[row[e]] += w[e];
        }
        nskip++;
        continue;
      }
      float dk = dark ? dark[i] : 0.0f;
      double sig = x - dk, var = (x > 1.0f ? x : 1.0f) + dk;
      for (int32_t e = e0; e < e1; e++) {
        float w2 = w[e] * w[e];
        S[row[e]] += w[e] * sig;
        V[row[e]] += w2 * var;
      }
    }
  }
  norm_count(a, raw, T, nskip, N, C, sk);
}

void sf_azim_integrate_typed(const sf_azim *a, const void *raw, sf_dtype t, const float *dark,
                             double dummy, double delta_dummy, sf_azim_sums *s) {
  azim_skip sk = {!isnan(dummy), (float)dummy, isnan(delta_dummy) ? 0.0f : (float)delta_dummy, t};
  switch (t) {
  case SF_DTYPE_F32: integrate_frame(a, raw, AT_F32, dark, &sk, s); break;
  case SF_DTYPE_U32: integrate_frame(a, raw, AT_U32, dark, &sk, s); break;
  case SF_DTYPE_U16: integrate_frame(a, raw, AT_U16, dark, &sk, s); break;
  case SF_DTYPE_I32: integrate_frame(a, raw, AT_I32, dark, &sk, s); break;
  default: integrate_frame(a, raw, AT_ANY, dark, &sk, s); break;
  }
}

int sf_azim_dtype_direct(sf_dtype t) {
  return t == SF_DTYPE_F32 || t == SF_DTYPE_U32 || t == SF_DTYPE_U16 || t == SF_DTYPE_I32;
}

void sf_azim_integrate(const sf_azim *a, const float *raw, const float *dark, double dummy,
                       double delta_dummy, sf_azim_sums *s) {
  sf_azim_integrate_typed(a, raw, SF_DTYPE_F32, dark, dummy, delta_dummy, s);
}

void sf_azim_result(const sf_azim *a, const sf_azim_sums *s, float *intensity, float *sigma) {
  for (size_t r = 0; r < a->nrows; r++) {
    double n = s->norm[r];
    int empty = n == 0.0 || s->count[r] == 0.0;
    if (intensity) intensity[r] = empty ? 0.0f : (float)(s->signal[r] / n);
    if (sigma) sigma[r] = empty ? 0.0f : (float)(sqrt(s->variance[r]) / n);
  }
}
