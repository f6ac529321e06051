/* The per-element steps of the device flow pipeline (gpu_flow.cu): each is one thread's work
 * of one kernel, element t of a grid over (planes of every frame) x pixels, and returns when t
 * is past the grid. gpu_flow.cu's kernels are these functions behind the thread index; the
 * host test unit.gpu_flow_host runs them over the same grids, in gpu_flow.cu's order, and
 * compares the whole pipeline with the CPU kernels. They call the per-pixel bodies of
 * kernels/flow_hd.h and kernels/flow_solver_hd.h. C and CUDA C++ at once. Layout: padded
 * level planes of (h+2) x (w+2) floats, plane stride P; the flow of frame f is planes 2f (u)
 * and 2f+1 (v), the increments likewise, the coefficients planes 5f .. 5f+4 (b1, b2, a12, r1,
 * r2), the tensors planes 6 nch f + 6k + m. */
#ifndef SF_GPU_FLOW_ELEMS_H
#define SF_GPU_FLOW_ELEMS_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/flow_estimate.h"
#include "kernels/flow_hd.h"
#include "kernels/flow_solver_hd.h"
#include "kernels/xcorr_rigid_hd.h"

/* One axis of a resampler as the kernels read it (sf_resample_axis, device pointers). */
typedef struct sf_gf_axis {
  int ntap;
  size_t in_len, out_len, pad_lo;
  float *wt;
  int32_t *idx, *start, *pad_src;
} sf_gf_axis;

/* One processed level: size, spacing, the resamplers from full resolution (img) and from the
 * next coarser level (up; unused at the top), the reference's nch planes. */
typedef struct sf_gf_level {
  size_t h, w;
  double hy, hx, alpha_scale;
  sf_gf_axis img_y, img_x, up_y, up_x;
  float *ref;
} sf_gf_level;

/* --cc-init (register_flow.c's frame_flow): each frame warped by its initial flow (bilinear,
 * the preprocessed reference as fill), its channels combined, downsampled to an h x w grid,
 * phase-correlated with the reference (upsampled-DFT refinement, kernels/xcorr_rigid_hd.h),
 * the scaled shift added to the flow, the frame warped again; the pyramid then solves the
 * residual from zero and the two are added. */
typedef struct sf_gf_cc {
  int on, up;                    /* prealignment; upsampling factor of the refinement */
  size_t h, w, wc, nsp, n;       /* grid, half-spectrum width and bins, upsampled points per axis */
  sf_gf_axis ay, ax;             /* full resolution -> grid */
  const float *refp, *wch;       /* preprocessed reference (nch planes of H x W); channel weights */
  const float *win, *gain, *ref; /* Hann window, spectral weights, reference spectrum */
  float *flow;                   /* nf x 2 planes of H x W: initial flow + shift */
  float *warped;                 /* nf x nch planes of H x W; also the downsampling's scratch */
  float *gray, *real;            /* nf planes of H x W; nf grids (downsampled, the correlation) */
  float *mean, *shift;           /* nf; 2 nf (u, v per frame, grid px) */
  float *spec, *spec2;           /* nf half spectra (nsp interleaved complex values each) */
  float *exr, *exi, *eyr, *eyi, *s1r, *s1i, *surf; /* upsampled DFT: nf x (wc, h, h, n) x n */
  double *center, *best;                           /* 2 nf */
  int *active, *flat;                              /* nf */
  int fft[2]; /* the device's r2c and c2r plans (cufftHandle); unused on the host */
} sf_gf_cc;

/* The buffers and tables of a pipeline for up to max_count frames (device or host memory). */
typedef struct sf_gf_ws {
  size_t H, W, C, HW, UE;
  int top, lo, linear;
  sf_flow_params p;
  sf_gf_level *lv; /* [n_levels], valid for lo..top */
  void *stream;    /* the device's compute stream (cudaStream_t), or NULL */
  const float *ky, *kx, *lo_n, *inv_n, *fill;
  int ry, rx;
  const int *fy_i, *fx_i; /* final upsampling taps (lo > 0) */
  const float *fy_w, *fx_w;
  float *raw, *proc, *tmp, *mov; /* read frames: raw, preprocessed, scratch; temporal */
  float *out, *full, *ftmp, *flowi, *winit, *uvtop;
  unsigned char *valid;
  const int *tsrc;
  const float *tw;
  float *rt, *f2, *f2w, *uv, *puv, *d, *med, *J, *cuv, *co; /* pyramid workspace */
  sf_gf_cc cc;                                              /* --cc-init (cc.on) */
} sf_gf_ws;

/* ---- preprocessing --------------------------------------------------------------- */

/* proc[f][k][i] = normalised channel k of raw frame f (planar), frames f0 .. f0+nf-1. */
static inline SF_HD void sf_gfe_normalize(size_t t, const float *raw, float *proc, size_t f0,
                                          size_t nf, size_t hw, size_t c, const float *lo,
                                          const float *inv) {
  if (t >= nf * c * hw) return;
  size_t f = f0 + t / (c * hw), r = t % (c * hw), k = r / hw, i = r % hw;
  proc[f * c * hw + k * hw + i] = sf_hd_normalize(raw[f * hw * c + i * c + k], lo[k], inv[k]);
}

/* Vertical Gaussian pass over np planes of h x w (first plane p0). */
static inline SF_HD void sf_gfe_smooth_v(size_t t, const float *in, float *out, size_t p0,
                                         size_t np, long h, long w, const float *ky, int ry) {
  size_t n = (size_t)(h * w);
  if (t >= np * n) return;
  size_t pl = p0 + t / n, i = t % n;
  out[pl * n + i] = sf_hd_smooth_v_px(in + pl * n, h, w, ky, ry, (long)i / w, (long)i % w);
}

static inline SF_HD void sf_gfe_smooth_h(size_t t, const float *mid, float *out, size_t p0,
                                         size_t np, long h, long w, const float *kx, int rx) {
  size_t n = (size_t)(h * w);
  if (t >= np * n) return;
  size_t pl = p0 + t / n, i = t % n;
  out[pl * n + i] = sf_hd_smooth_h_px(mid + pl * n, w, kx, rx, (long)i / w, (long)i % w);
}

/* mov[k] = temporal smoothing of the read frames (fe floats each) for k < count. */
static inline SF_HD void sf_gfe_temporal(size_t t, const float *proc, float *mov, size_t count,
                                         size_t fe, const int *tsrc, const float *tw, int ntap) {
  if (t >= count * fe) return;
  size_t k = t / fe, i = t % fe;
  mov[t] = sf_hd_temporal_px(proc, fe, tsrc + k * (size_t)(ntap > 0 ? ntap : 1), tw, ntap, i);
}

/* ---- resampling ------------------------------------------------------------------ */

/* Vertical pass of np planes: in planes (in_h rows of in_w, row stride in_stride, plane stride
 * in_plane) -> tmp planes (out_h x in_w, contiguous). */
static inline SF_HD void sf_gfe_resample_v(size_t t, const float *in, size_t in_stride,
                                           size_t in_plane, float *tmp, size_t np, size_t out_h,
                                           size_t in_w, sf_gf_axis a) {
  size_t n = out_h * in_w;
  if (t >= np * n) return;
  size_t pl = t / n, r = t % n;
  tmp[t] =
      sf_hd_resample_v_px(in + pl * in_plane, in_stride, a.idx, a.wt, a.ntap, r / in_w, r % in_w);
}

/* Horizontal pass: tmp planes (out_h x in_w) -> out planes (out_h x out_w, row stride
 * out_stride, plane stride out_plane). */
static inline SF_HD void sf_gfe_resample_h(size_t t, const float *tmp, size_t in_w, float *out,
                                           size_t out_stride, size_t out_plane, size_t np,
                                           size_t out_h, size_t out_w, sf_gf_axis a) {
  size_t n = out_h * out_w;
  if (t >= np * n) return;
  size_t pl = t / n, r = t % n, y = r / out_w, x = r % out_w;
  const float *row = tmp + pl * out_h * in_w + y * in_w;
  out[pl * out_plane + y * out_stride + x] =
      sf_hd_resample_h_px(row, in_w, a.pad_lo, a.pad_src, a.start, a.wt, a.ntap, x);
}

/* Edge replication into the frame of np padded h x w planes (plane stride P). */
static inline SF_HD void sf_gfe_pad_edge(size_t t, float *a, size_t np, size_t h, size_t w,
                                         size_t P) {
  size_t S = w + 2, n = (h + 2) * S;
  if (t >= np * n) return;
  size_t pl = t / n, r = (t % n) / S, j = (t % n) % S;
  if (r >= 1 && r <= h && j >= 1 && j <= w) return;
  a[pl * P + r * S + j] = a[pl * P + sf_hd_pad_edge_src(r, j, h, w)];
}

/* uv planes 2f, 2f+1 of every frame = the padded top-level initial flow (2 planes, stride P). */
static inline SF_HD void sf_gfe_broadcast_uv(size_t t, const float *top, float *uv, size_t nf,
                                             size_t P) {
  if (t >= nf * 2 * P) return;
  uv[t] = top[t % (2 * P)];
}

/* ---- one level ------------------------------------------------------------------- */

/* f2w = f2 warped by the level's flow (cubic, 1/32 px when quant), the level's reference as
 * fill: planes f * nch + k. */
static inline SF_HD void sf_gfe_warp_level(size_t t, const float *f2, float *f2w, const float *ref,
                                           const float *uv, size_t nf, int nch, long h, long w,
                                           size_t P, float sx, float sy, int quant) {
  size_t n = (size_t)(h * w);
  if (t >= nf * (size_t)nch * n) return;
  size_t pl = t / n, f = pl / (size_t)nch, k = pl % (size_t)nch, i = t % n;
  long y = (long)i / w, x = (long)i % w;
  size_t q = (size_t)(y + 1) * (size_t)(w + 2) + (size_t)(x + 1);
  float u = uv[(2 * f) * P + q], v = uv[(2 * f + 1) * P + q];
  f2w[t] =
      sf_hd_warp_flow_px(f2 + pl * n, ref + k * n, h, w, 1, 0, y, x, u, v, sx, sy, 1, quant, NULL);
}

/* The tensors of every (frame, channel) over the padded grid: interior from the body, frame 0. */
static inline SF_HD void sf_gfe_tensor(size_t t, const float *f1, const float *f2w, float *J,
                                       size_t nf, int nch, long h, long w, size_t P, int gray,
                                       float k0, float k1, float k2, float k3, float k4, float k5) {
  size_t S = (size_t)w + 2;
  size_t n = (size_t)(h * w), pn = ((size_t)h + 2) * S;
  if (t >= nf * (size_t)nch * pn) return;
  size_t pl = t / pn, f = pl / (size_t)nch, k = pl % (size_t)nch, r = (t % pn) / S,
         j = (t % pn) % S;
  float *Jk = J + (f * 6 * (size_t)nch + 6 * k) * P + r * S + j;
  if (r < 1 || r > (size_t)h || j < 1 || j > (size_t)w) {
    for (int m = 0; m < 6; m++)
      Jk[(size_t)m * P] = 0.0f;
    return;
  }
  const float kk[6] = {k0, k1, k2, k3, k4, k5};
  float o[6];
  sf_hd_tensor_px(gray, f1 + k * n, f2w + pl * n, h, w, (long)r - 1, (long)j - 1, kk, o);
  for (int m = 0; m < 6; m++)
    Jk[(size_t)m * P] = o[m];
}

/* Constant smoothness parts cu, cv (planes 2f, 2f+1) of the interior from the flow uv. */
static inline SF_HD void sf_gfe_sor_prep(size_t t, const float *uv, float *cuv, size_t nf, size_t h,
                                         size_t w, size_t P, float wx, float wy) {
  size_t S = w + 2, n = h * w;
  if (t >= nf * 2 * n) return;
  size_t pl = t / n, i = t % n, q = (i / w + 1) * S + i % w + 1;
  cuv[pl * P + q] = sf_hd_smooth_part(uv + pl * P + q, S, wx, wy);
}

/* Refresh of every interior pixel's coefficients (b1, b2, a12, r1, r2: planes 5f .. 5f+4). */
static inline SF_HD void sf_gfe_sor_coef(size_t t, const float *J, const float *d, const float *cuv,
                                         float *co, size_t nf, size_t h, size_t w, size_t P,
                                         sf_hd_sor_consts c) {
  size_t S = w + 2, n = h * w;
  if (t >= nf * n) return;
  size_t f = t / n, i = t % n, q = (i / w + 1) * S + i % w + 1;
  float *o = co + 5 * f * P + q;
  sf_hd_sor_coef_px(&c, J + f * 6 * (size_t)c.nch * P, P, q, d[2 * f * P + q],
                    d[(2 * f + 1) * P + q], cuv[2 * f * P + q], cuv[(2 * f + 1) * P + q], o, o + P,
                    o + 2 * P, o + 3 * P, o + 4 * P);
}

/* Neumann frame of the increments du, dv (planes 2f, 2f+1): each frame pixel copies its
 * interior neighbour (corners untouched, never read). */
static inline SF_HD void sf_gfe_sor_frame(size_t t, float *d, size_t np, size_t h, size_t w,
                                          size_t P) {
  size_t S = w + 2, nfr = 2 * S + 2 * h;
  if (t >= np * nfr) return;
  size_t pl = t / nfr, e = t % nfr, r, j;
  if (e < S)
    r = 0, j = e;
  else if (e < 2 * S)
    r = h + 1, j = e - S;
  else if (e < 2 * S + h)
    r = e - 2 * S + 1, j = 0;
  else
    r = e - 2 * S - h + 1, j = w + 1;
  float *a = d + pl * P;
  a[r * S + j] = a[sf_hd_neumann_src(r, j, h, w)];
}

/* Element t of a half-sweep over nf frames of h x w interior pixels (padded stride w + 2):
 * the frame *f and padded index *q of the t-th pixel (r, j) with r + j = colour (mod 2), or 0
 * when t is past them. */
static inline SF_HD int sf_gfe_rb_pixel(size_t t, size_t nf, size_t h, size_t w, int colour,
                                        size_t *f, size_t *q) {
  size_t half = (w + 1) / 2, n = h * half;
  if (t >= nf * n) return 0;
  size_t e = t % n, r = e / half + 1;
  size_t j = 2 * (e % half) + 1 + (size_t)(((size_t)colour + r + 1) & 1);
  if (j > w) return 0;
  *f = t / n;
  *q = r * (w + 2) + j;
  return 1;
}

/* One colour's half-sweep: the interior pixels (r, j) with r + j = colour (mod 2). */
static inline SF_HD void sf_gfe_sor_sweep(size_t t, float *d, const float *co, size_t nf, size_t h,
                                          size_t w, size_t P, int colour, float wx, float wy,
                                          float c1) {
  size_t S = w + 2, f, q;
  if (!sf_gfe_rb_pixel(t, nf, h, w, colour, &f, &q)) return;
  const float *o = co + 5 * f * P + q;
  sf_hd_sweep_at(d + 2 * f * P, d + (2 * f + 1) * P, S, q, o[0], o[P], o[2 * P], o[3 * P], o[4 * P],
                 wx, wy, c1);
}

/* ---- the level solver for a_smooth != 1 (flow_solver_asmooth.c, red-black) ------------ *
 * Its coefficient planes 5f .. 5f+4 hold the data sums A11, A22, A12, A13, A23 and plane f of
 * cuv (which this path does not otherwise use) the smoothness weights psi_s of frame f over the
 * whole padded grid; the Neumann frame of the increments, corners included, is
 * sf_gfe_pad_edge's. */

/* a[i] = val for i < n. */
static inline SF_HD void sf_gfe_fill(size_t t, float *a, size_t n, float val) {
  if (t >= n) return;
  a[t] = val;
}

/* Data sums of every interior pixel from its increments (planes 5f .. 5f+4 of co). */
static inline SF_HD void sf_gfe_asm_coef(size_t t, const float *J, const float *d, float *co,
                                         size_t nf, size_t h, size_t w, size_t P,
                                         sf_hd_sor_consts c) {
  size_t S = w + 2, n = h * w;
  if (t >= nf * n) return;
  size_t f = t / n, i = t % n, q = (i / w + 1) * S + i % w + 1;
  float A[5];
  sf_hd_data_sums_px(&c, J + f * 6 * (size_t)c.nch * P, P, q, d[2 * f * P + q],
                     d[(2 * f + 1) * P + q], A);
  for (int m = 0; m < 5; m++)
    co[(5 * f + (size_t)m) * P + q] = A[m];
}

/* psi_s of every padded pixel of every frame (plane f of ps) from the flow uv and the
 * increments d (planes 2f, 2f+1), frames as they are. */
static inline SF_HD void sf_gfe_asm_psi(size_t t, const float *uv, const float *d, float *ps,
                                        size_t nf, size_t h, size_t w, size_t P, float as, float es,
                                        float ihx, float ihy) {
  size_t S = w + 2, pn = (h + 2) * S;
  if (t >= nf * pn) return;
  size_t f = t / pn, e = t % pn;
  ps[f * P + e] = sf_hd_asm_psi_px(uv + 2 * f * P, uv + (2 * f + 1) * P, d + 2 * f * P,
                                   d + (2 * f + 1) * P, e / S, e % S, h + 2, S, as, es, ihx, ihy);
}

/* One colour's half-sweep of the a_smooth != 1 solver: the interior pixels (r, j) with r + j =
 * colour (mod 2), each reading only pixels of the other colour besides its own. */
static inline SF_HD void sf_gfe_asm_sweep(size_t t, float *d, const float *uv, const float *ps,
                                          const float *co, size_t nf, size_t h, size_t w, size_t P,
                                          int colour, float ax, float ay, float om, float c1) {
  size_t S = w + 2, f, q;
  if (!sf_gfe_rb_pixel(t, nf, h, w, colour, &f, &q)) return;
  const float *o = co + 5 * f * P + q;
  sf_hd_asm_sweep_at(d + 2 * f * P, d + (2 * f + 1) * P, uv + 2 * f * P, uv + (2 * f + 1) * P,
                     ps + f * P, S, q, o[0], o[P], o[2 * P], o[3 * P], o[4 * P], ax, ay, om, c1);
}

/* 5x5 median of the increments (np planes, interior) into med. */
static inline SF_HD void sf_gfe_median(size_t t, const float *d, float *med, size_t np, long h,
                                       long w, size_t P) {
  size_t S = (size_t)w + 2, n = (size_t)(h * w);
  if (t >= np * n) return;
  size_t pl = t / n, i = t % n;
  long y = (long)i / w, x = (long)i % w;
  med[pl * P + (size_t)(y + 1) * S + (size_t)x + 1] =
      sf_hd_median5_px(d + pl * P + S + 1, S, h, w, y, x);
}

/* uv += d over the interior of np planes. */
static inline SF_HD void sf_gfe_accumulate(size_t t, float *uv, const float *d, size_t np, size_t h,
                                           size_t w, size_t P) {
  size_t S = w + 2, n = h * w;
  if (t >= np * n) return;
  size_t pl = t / n, i = t % n, q = pl * P + (i / w + 1) * S + i % w + 1;
  uv[q] += d[q];
}

/* ---- full resolution ------------------------------------------------------------- */

/* Final upsampling, across: np planes of the finest level (ph rows, padded stride ps, plane
 * stride P) -> ftmp (np planes of ph x W). */
static inline SF_HD void sf_gfe_up_h(size_t t, const float *puv, float *ftmp, size_t np, size_t ph,
                                     size_t ps, size_t P, size_t W, const int *fx_i,
                                     const float *fx_w) {
  size_t n = ph * W;
  if (t >= np * n) return;
  size_t pl = t / n, r = (t % n) / W, x = t % W;
  ftmp[t] = sf_hd_upsample_h_px(puv + pl * P + (r + 1) * ps + 1, fx_i, fx_w, x);
}

/* ... and down: ftmp -> full (np planes of H x W). */
static inline SF_HD void sf_gfe_up_v(size_t t, const float *ftmp, float *full, size_t np, size_t ph,
                                     size_t H, size_t W, const int *fy_i, const float *fy_w) {
  size_t n = H * W;
  if (t >= np * n) return;
  size_t pl = t / n, y = (t % n) / W, x = t % W;
  full[t] = sf_hd_upsample_v_px(ftmp + pl * ph * W, W, fy_i, fy_w, y, x);
}

/* Level 0 is full resolution: the interiors as they are. */
static inline SF_HD void sf_gfe_unpad(size_t t, const float *puv, float *full, size_t np, size_t H,
                                      size_t W, size_t P) {
  size_t n = H * W;
  if (t >= np * n) return;
  size_t pl = t / n, y = (t % n) / W, x = t % W;
  full[t] = puv[pl * P + (y + 1) * (W + 2) + x + 1];
}

/* The segment's initial flow: winit[c][i] = mean over the first n0 frames of plane 2k + c, summed
 * in double in frame order (flow_prepare). */
static inline SF_HD void sf_gfe_winit(size_t t, const float *full, float *winit, size_t n0,
                                      size_t hw) {
  if (t >= 2 * hw) return;
  double s = 0.0;
  for (size_t k = 0; k < n0; k++)
    s += full[k * 2 * hw + t];
  winit[t] = (float)(s / (double)n0);
}

/* The registered frames: raw frame (first_reg + f) warped by its flow, the reference as fill. */
static inline SF_HD void sf_gfe_warp_final(size_t t, const float *raw, const float *fill,
                                           const float *full, float *out, unsigned char *valid,
                                           size_t nf, long H, long W, long C, int cubic) {
  size_t hw = (size_t)(H * W);
  if (t >= nf * hw * (size_t)C) return;
  size_t f = t / (hw * (size_t)C), e = t % (hw * (size_t)C), p = e / (size_t)C;
  long k = (long)(e % (size_t)C), y = (long)(p / (size_t)W), x = (long)(p % (size_t)W);
  const float *fu = full + 2 * f * hw, *fv = fu + hw;
  int inb = 0;
  out[t] = sf_hd_warp_flow_px(raw + f * hw * (size_t)C, fill, H, W, C, k, y, x, fu[p], fv[p], 1.0f,
                              1.0f, cubic, 0, &inb);
  if (valid && k == 0) valid[f * hw + p] = (unsigned char)inb;
}

/* ---- --cc-init: the rigid prealignment (sf_gf_cc) ------------------------------------- */

/* flow planes 2f, 2f+1 = the initial flow winit (2 planes of hw), or 0 without one. */
static inline SF_HD void sf_gfe_cc_start(size_t t, float *flow, const float *winit, size_t nf,
                                         size_t hw) {
  if (t >= nf * 2 * hw) return;
  flow[t] = winit ? winit[t % (2 * hw)] : 0.0f;
}

/* out plane f * nch + k = channel k of frame f of mov warped by flow f, bilinear, channel k of
 * the preprocessed reference as fill (sf_warp_flow with SF_INTERP_LINEAR, one channel). */
static inline SF_HD void sf_gfe_cc_warp(size_t t, const float *mov, const float *refp,
                                        const float *flow, float *out, size_t nf, size_t nch,
                                        long H, long W) {
  size_t hw = (size_t)(H * W);
  if (t >= nf * nch * hw) return;
  size_t pl = t / hw, f = pl / nch, k = pl % nch, i = t % hw;
  const float *fu = flow + 2 * f * hw;
  out[t] = sf_hd_warp_flow_px(mov + pl * hw, refp + k * hw, H, W, 1, 0, (long)i / W, (long)i % W,
                              fu[i], fu[hw + i], 1.0f, 1.0f, 0, 0, NULL);
}

/* gray[f] = sum_k wch[k] warped[f * nch + k], from 0 in channel order (combine_planes). */
static inline SF_HD void sf_gfe_cc_combine(size_t t, const float *warped, float *gray, size_t nf,
                                           size_t nch, size_t hw, const float *wch) {
  if (t >= nf * hw) return;
  size_t f = t / hw, i = t % hw;
  float s = 0.0f;
  for (size_t k = 0; k < nch; k++)
    s += wch[k] * warped[(f * nch + k) * hw + i];
  gray[t] = s;
}

/* One thread per frame: the mean of its n samples, summed in double in order (as the CPU). */
static inline SF_HD void sf_gfe_cc_mean(size_t t, const float *real, float *mean, size_t nf,
                                        size_t n) {
  if (t >= nf) return;
  double s = 0.0;
  for (size_t i = 0; i < n; i++)
    s += real[t * n + i];
  mean[t] = (float)(s / (double)n);
}

static inline SF_HD void sf_gfe_cc_window(size_t t, float *real, const float *mean,
                                          const float *win, size_t nf, size_t n) {
  if (t >= nf * n) return;
  real[t] = sf_hd_xcorr_windowed(real[t], mean[t / n], win[t % n]);
}

/* The smoothed, normalised cross-power spectrum of every frame into spec and spec2 (the copy
 * the inverse transform may destroy). */
static inline SF_HD void sf_gfe_cc_cross(size_t t, float *spec, float *spec2, const float *ref,
                                         const float *gain, size_t nf, size_t nsp) {
  if (t >= nf * nsp) return;
  size_t i = t % nsp;
  float r, im;
  sf_hd_xcorr_cross_power(spec[2 * t], spec[2 * t + 1], ref[2 * i], ref[2 * i + 1], gain[i], &r,
                          &im);
  spec[2 * t] = spec2[2 * t] = r;
  spec[2 * t + 1] = spec2[2 * t + 1] = im;
}

/* One thread per frame: whether its cross-power spectrum is zero everywhere (no contrast). */
static inline SF_HD void sf_gfe_cc_flat(size_t t, const float *spec, int *flat, size_t nf,
                                        size_t nsp) {
  if (t >= nf) return;
  const float *s = spec + 2 * nsp * t;
  size_t i = 0;
  while (i < 2 * nsp && s[i] == 0.0f)
    i++;
  flat[t] = i == 2 * nsp;
}

/* One thread per frame: the correlation's argmax (first in row-major order), its coarse shift. */
static inline SF_HD void sf_gfe_cc_argmax(size_t t, const float *real, double *center, size_t nf,
                                          size_t h, size_t w) {
  if (t >= nf) return;
  const float *c = real + t * h * w;
  size_t best = 0;
  for (size_t i = 1; i < h * w; i++)
    if (c[i] > c[best]) best = i;
  sf_hd_xcorr_coarse(best, h, w, &center[2 * t], &center[2 * t + 1]);
}

static inline SF_HD void sf_gfe_cc_activate(size_t t, int *active, size_t nf) {
  if (t >= nf) return;
  active[t] = 1;
}

/* The upsampled-DFT refinement of --cc-init: the batched steps the rigid pipeline runs too
 * (kernels/xcorr_rigid_hd.h), under this file's step names for SF_GF_RUN. */
#define sf_gfe_cc_twiddle sf_hd_updft_step_twiddle
#define sf_gfe_cc_s1 sf_hd_updft_step_s1
#define sf_gfe_cc_surf sf_hd_updft_step_surf
#define sf_gfe_cc_peak sf_hd_updft_step_peak
#define sf_gfe_cc_final sf_hd_updft_step_final

/* flow += the shift scaled to full resolution: u by W / gw (fw / fgw), v by H / gh. */
static inline SF_HD void sf_gfe_cc_shift(size_t t, float *flow, const float *shift, size_t nf,
                                         size_t hw, float fw, float fgw, float fh, float fgh) {
  if (t >= nf * 2 * hw) return;
  size_t f = t / (2 * hw), c = (t / hw) % 2;
  const float d = c == 0 ? shift[2 * f] * fw / fgw : shift[2 * f + 1] * fh / fgh;
  flow[t] += d;
}

/* full = flow + full (the residual flow added to initial flow + shift) over n floats. */
static inline SF_HD void sf_gfe_cc_add(size_t t, float *full, const float *flow, size_t n) {
  if (t >= n) return;
  full[t] = flow[t] + full[t];
}

/* [u, v] interleaved per pixel (the /flow layout). */
static inline SF_HD void sf_gfe_interleave(size_t t, const float *full, float *flowi, size_t nf,
                                           size_t hw) {
  if (t >= nf * hw) return;
  size_t f = t / hw, i = t % hw;
  flowi[2 * t] = full[2 * f * hw + i];
  flowi[2 * t + 1] = full[(2 * f + 1) * hw + i];
}

#endif
