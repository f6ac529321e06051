/* The device flow pipeline without a device (issue 16): gpu_flow.cu's steps (gpu_flow_seq.h,
 * the same source the device build compiles into kernel launches) run here as host loops over
 * the same grids, each element through gpu_flow_elems.h, on host memory; the result is
 * compared with the CPU kernels composed as register --method flow composes them, with the
 * solver in red-black order (the device's order): normalisation and smoothing
 * (sf_normalize_deinterleave, sf_smooth_execute), temporal smoothing, initial flow and every
 * frame's flow (sf_flow_execute, SF_SWEEP_REDBLACK), the final warp (sf_warp_flow) and the
 * statistics (sf_flow_stats). What differs is float rounding where the CPU kernels contract
 * multiply-adds (smoothing, resampling; about 1e-7 of the data each), which the pyramid can
 * grow (a 1/32-px warp position or a median's rank flips; the CPU itself moves by up to 0.07 px
 * for a 1-ulp change of its input on the quality case): the criteria here are gpu.flow's mean
 * end-point error against the true motion within 0.01 px of the CPU's (measured up to 0.0036),
 * registered frames within 1e-2 relative (L2; measured up to 5.2e-3 on these small noisy
 * frames, more than gpu.flow's 1e-3), a mean flow difference within 0.1 px (measured up to
 * 0.067) and mean |w|, |mean w| within 0.03 px (up to 0.019); measured values, maxima
 * included, are printed. Built as unit.gpu_flow_exact, with the CPU's
 * flow kernels compiled in without contraction (SF_GF_EXACT), every result must be the same
 * bytes: flows, registered frames, statistics, valid masks. Two cases take the a_smooth != 1
 * solver (flow_solver_asmooth.c on the CPU; 0.5 and 2): a_smooth 2 ends at level 2, since at
 * level 0 on these frames the solve is unstable: the CPU kernels built with and without
 * contraction give EPEs of 0.361 and 0.334 px, and this build's host loop flows up to 12 px
 * from the CPU's, beyond any tolerance above (the exact build is still the same bytes there). Two
 * cases take --cc-init (register_flow.c's frame_flow composed from the CPU kernels here): FFTW
 * stands in for cuFFT in the host loop, the shifts found must be within 1e-3 px of the CPU's
 * sf_xcorr_execute (FFT libraries do not share bytes; with this stand-in they measured equal),
 * and the CPU side continues from the steps' shifts, so that every later step is compared as
 * the others are (bytes in the exact build). The device build (-fmad=false)
 * does the exact build's operations. This checks the device pipeline's index arithmetic,
 * buffer layout and order of steps; it cannot check the CUDA launches themselves. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/gpu_flow_elems.h"
#include "kernels/flow_estimate.h"
#include "kernels/flow_preproc.h"
#include "kernels/flow_resample.h"
#include "kernels/flow_warp.h"
#include "kernels/xcorr_rigid.h"
#include "sf_cunit.h"
#include "sf_error.h"

#include <fftw3.h>

#define SF_GF_RUN(name, n, ...)                                                                    \
  do {                                                                                             \
    const size_t n_ = (n);                                                                         \
    for (size_t t_ = 0; t_ < n_; t_++)                                                             \
      sf_gfe_##name(t_, __VA_ARGS__);                                                              \
  } while (0)
#define SF_GF_ZERO(ptr, n) memset((ptr), 0, (n) * sizeof(float))
#define SF_GF_CHECK() ((void)0)

/* --cc-init: FFTW stands in for cuFFT (the same transforms, batched over the frames), and the
 * shifts the steps found are kept for the CPU side (which continues from them, so that every
 * later step can be compared byte for byte). */
static void host_fft(const sf_gf_cc *c, float *in, float *out, size_t nf, int inverse) {
  int dims[2] = {(int)c->h, (int)c->w};
  fftwf_plan p =
      inverse ? fftwf_plan_many_dft_c2r(2, dims, (int)nf, (fftwf_complex *)in, NULL, 1, (int)c->nsp,
                                        out, NULL, 1, (int)(c->h * c->w), FFTW_ESTIMATE)
              : fftwf_plan_many_dft_r2c(2, dims, (int)nf, in, NULL, 1, (int)(c->h * c->w),
                                        (fftwf_complex *)out, NULL, 1, (int)c->nsp, FFTW_ESTIMATE);
  CU_ASSERT_FATAL(p != NULL);
  fftwf_execute(p);
  fftwf_destroy_plan(p);
}
enum { MAX_SHIFTS = 64 };
static float dev_shift[2][2 * MAX_SHIFTS]; /* [init][2 f + axis] */
static void host_shifts(const float *sh, size_t nf, int init) {
  CU_ASSERT_FATAL(nf <= MAX_SHIFTS);
  memcpy(dev_shift[init ? 1 : 0], sh, 2 * nf * sizeof(float));
}
#define SF_GF_R2C(in, out, nf) host_fft(&g->cc, (in), (out), (nf), 0)
#define SF_GF_C2R(in, out, nf) host_fft(&g->cc, (in), (out), (nf), 1)
#define SF_GF_CC_SHIFTS(sh, nf, init) host_shifts((sh), (nf), (init))
#include "gpu/gpu_flow_seq.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static double urand(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (double)(rng_state >> 11) * 0x1p-53;
}

static double texture(double x, double y, int k) {
  return 200.0 + 60.0 * sin(0.29 * x + 0.07 * y + k) + 40.0 * cos(0.21 * y - 0.13 * x) +
         25.0 * sin(0.11 * x * y / 40.0 + 0.5 * k);
}

static void axis_of(const sf_resample *r, sf_gf_axis *ay, sf_gf_axis *ax) {
  sf_resample_axis y, x;
  sf_resample_axes(r, &y, &x);
  const sf_resample_axis *s[2] = {&y, &x};
  sf_gf_axis *d[2] = {ay, ax};
  for (int i = 0; i < 2; i++) {
    d[i]->ntap = s[i]->ntap;
    d[i]->in_len = s[i]->in_len;
    d[i]->out_len = s[i]->out_len;
    d[i]->pad_lo = s[i]->pad_lo;
    d[i]->wt = (float *)s[i]->wt;
    d[i]->idx = (int32_t *)s[i]->idx;
    d[i]->start = (int32_t *)s[i]->start;
    d[i]->pad_src = (int32_t *)s[i]->pad_src;
  }
}

static float *fz(size_t n) {
  float *p = calloc(n ? n : 1, sizeof(float));
  CU_ASSERT_FATAL(p != NULL);
  return p;
}

/* The CPU's --cc-init for one frame (register_flow.c's frame_flow, its kernels): the
 * phase-correlation shift of the frame warped by its initial flow (u0, v0 or 0) is computed
 * (sf_xcorr_execute, FFTW) and compared with the device steps' dsh; the frame is then
 * prealigned by dsh, the residual flow solved from zero and added. */
typedef struct cc_cpu {
  sf_resample *down;
  sf_xcorr_plan *xc;
  sf_xcorr_ws *xws;
  size_t ch, cw;
  const float *refp, *wch;
  float *pa, *pb, *small, *scratch, *ru, *rv;
  double maxd;
} cc_cpu;

static void cc_combine(const cc_cpu *c, const float *planes, size_t hw, size_t C, float *gray) {
  for (size_t i = 0; i < hw; i++)
    gray[i] = 0.0f;
  for (size_t k = 0; k < C; k++)
    for (size_t i = 0; i < hw; i++)
      gray[i] += c->wch[k] * planes[k * hw + i];
}

static void cpu_cc_flow(cc_cpu *c, const sf_flow_plan *plan, sf_flow_ws *fws, const float *mov,
                        size_t H, size_t W, size_t C, const float *u0, const float *v0,
                        const float dsh[2], float *fu, float *fv) {
  const size_t hw = H * W;
  for (size_t i = 0; i < hw; i++) {
    fu[i] = u0 ? u0[i] : 0.0f;
    fv[i] = v0 ? v0[i] : 0.0f;
  }
  for (size_t k = 0; k < C; k++)
    sf_warp_flow(mov + k * hw, c->refp + k * hw, H, W, 1, fu, fv, W, 1.0f, 1.0f, SF_INTERP_LINEAR,
                 c->pa + k * hw, NULL);
  cc_combine(c, c->pa, hw, C, c->pb);
  sf_resample_execute(c->down, c->pb, W, c->small, c->cw, c->scratch);
  float sh[2];
  sf_xcorr_execute(c->xc, c->xws, c->small, sh);
  c->maxd = fmax(c->maxd, fmax(fabs((double)sh[0] - dsh[0]), fabs((double)sh[1] - dsh[1])));
  float dx = dsh[0] * (float)W / (float)c->cw, dy = dsh[1] * (float)H / (float)c->ch;
  for (size_t i = 0; i < hw; i++) {
    fu[i] += dx;
    fv[i] += dy;
  }
  for (size_t k = 0; k < C; k++)
    sf_warp_flow(mov + k * hw, c->refp + k * hw, H, W, 1, fu, fv, W, 1.0f, 1.0f, SF_INTERP_LINEAR,
                 c->pa + k * hw, NULL);
  sf_flow_execute(plan, fws, c->pa, NULL, NULL, c->ru, c->rv);
  for (size_t i = 0; i < hw; i++) {
    fu[i] += c->ru[i];
    fv[i] += c->rv[i];
  }
}

/* One case: R read frames (halo lo/hi), count registered, c channels, the preset's finest
 * level; temporal weights of radius rt; the smoothness exponent a_smooth (1: the red-black
 * solver; else the lagged-nonlinearity solver, flow_solver_asmooth.c). */
static void run_case(size_t H, size_t W, size_t C, int min_level, size_t halo, size_t count, int rt,
                     int linear, int gray, double a_smooth, size_t cc_hw) {
  const size_t R = count + 2 * halo, HW = H * W, UE = HW * C, fe = C * HW;
  const size_t n_init = count < 22 ? count : 22;
  /* raw frames: a texture moved by a smooth per-frame flow, plus noise */
  float *raw = fz(R * UE), *fill = fz(UE);
  for (size_t f = 0; f < R; f++)
    for (size_t y = 0; y < H; y++)
      for (size_t x = 0; x < W; x++) {
        double u = 1.5 * sin(0.5 * (double)f + 2.0 * SF_HD_PI * (double)y / (double)H);
        double v = 1.0 * cos(0.3 * (double)f + 2.0 * SF_HD_PI * (double)x / (double)W);
        for (size_t k = 0; k < C; k++)
          raw[f * UE + (y * W + x) * C + k] =
              (float)(texture((double)x + u, (double)y + v, (int)k) + 3.0 * (urand() - 0.5));
      }
  for (size_t y = 0; y < H; y++)
    for (size_t x = 0; x < W; x++)
      for (size_t k = 0; k < C; k++)
        fill[(y * W + x) * C + k] = (float)texture((double)x, (double)y, (int)k);
  float lo[SF_FLOW_MAX_CH], inv[SF_FLOW_MAX_CH];
  for (size_t k = 0; k < C; k++) {
    lo[k] = 50.0f;
    inv[k] = 1.0f / 320.0f;
  }
  /* temporal taps: weights of radius rt, sources reflected into the read frames */
  double gd[2 * SF_GAUSS_MAX_RADIUS + 1];
  int r2 = sf_gauss_weights(rt > 0 ? 0.3 * rt : 0.0, gd);
  int ntap = r2 > 0 ? 2 * r2 + 1 : 0, nt = ntap > 0 ? ntap : 1;
  float tw[2 * SF_GAUSS_MAX_RADIUS + 1];
  int *tsrc = calloc(count * (size_t)nt, sizeof(int));
  CU_ASSERT_FATAL(tsrc != NULL);
  for (int t = 0; t < ntap; t++)
    tw[t] = (float)gd[t];
  for (size_t k = 0; k < count; k++)
    for (int t = 0; t < nt; t++) {
      long s = (long)(k + halo) + (ntap ? t - r2 : 0);
      s = s < 0 ? -s - 1 : s >= (long)R ? 2 * (long)R - 1 - s : s;
      tsrc[k * (size_t)nt + (size_t)t] = (int)s;
    }
  /* the plan (red-black order, the device's), the reference pyramid from the preprocessed fill */
  sf_flow_params p;
  sf_flow_params_default(&p, (int)C);
  p.min_level = min_level;
  p.order = SF_SWEEP_REDBLACK;
  p.constancy = gray ? SF_CONST_GRAY : SF_CONST_GC;
  p.a_smooth = a_smooth;
  sf_flow_plan *plan = NULL;
  sf_flow_ws *fws = NULL;
  sf_smooth *sm = NULL;
  CU_ASSERT_FATAL(sf_flow_plan_create(H, W, (int)C, &p, &plan) == 0);
  CU_ASSERT_FATAL(sf_flow_ws_create(plan, &fws) == 0);
  CU_ASSERT_FATAL(sf_smooth_create(H, W, 1.0, 1.0, &sm) == 0);
  float *scratch = fz(sf_smooth_scratch(sm)), *refp = fz(fe);
  sf_normalize_deinterleave(fill, HW, C, lo, inv, refp);
  for (size_t k = 0; k < C; k++)
    sf_smooth_execute(sm, refp + k * HW, refp + k * HW, scratch);
  CU_ASSERT_FATAL(sf_flow_set_reference(plan, fws, refp) == 0);

  /* --cc-init: the CPU's correlation plan with the reference set as register sets it, and its
   * tables for the device steps */
  cc_cpu cc;
  memset(&cc, 0, sizeof cc);
  float wch[SF_FLOW_MAX_CH];
  for (size_t k = 0; k < C; k++)
    wch[k] = 1.0f / (float)C;
  if (cc_hw) {
    cc.ch = H < cc_hw ? H : cc_hw;
    cc.cw = W < cc_hw ? W : cc_hw;
    cc.refp = refp, cc.wch = wch;
    CU_ASSERT_FATAL(sf_resample_create(H, W, cc.ch, cc.cw, &cc.down) == 0);
    CU_ASSERT_FATAL(sf_xcorr_plan_create(cc.ch, cc.cw, 20, 1.5f, &cc.xc) == 0);
    CU_ASSERT_FATAL(sf_xcorr_ws_create(cc.xc, &cc.xws) == 0);
    cc.pa = fz(fe), cc.pb = fz(2 * HW), cc.small = fz(cc.ch * cc.cw), cc.ru = fz(HW),
    cc.rv = fz(HW);
    cc.scratch = fz(sf_resample_scratch(cc.down) + 1);
    cc_combine(&cc, refp, HW, C, cc.pb);
    sf_resample_execute(cc.down, cc.pb, W, cc.small, cc.cw, cc.scratch);
    CU_ASSERT_FATAL(sf_xcorr_set_reference(cc.xc, cc.xws, cc.small) == 0);
  }

  /* ---- the device pipeline's steps on the host ---- */
  sf_gf_ws g;
  memset(&g, 0, sizeof g);
  const sf_pyramid *pyr = sf_flow_pyramid(plan);
  g.H = H, g.W = W, g.C = C, g.HW = HW, g.UE = UE;
  g.top = pyr->ltop;
  g.lo = pyr->min_level;
  g.linear = linear;
  g.p = *sf_flow_plan_params(plan);
  sf_gf_level *lv = calloc((size_t)pyr->n_levels, sizeof *lv);
  CU_ASSERT_FATAL(lv != NULL);
  size_t max_h = 0, max_w = 0, rtn = 0;
  for (int i = g.lo; i <= g.top; i++) {
    const sf_pyramid_level *pl = &pyr->lv[i];
    lv[i].h = pl->h, lv[i].w = pl->w, lv[i].hy = pl->hy, lv[i].hx = pl->hx,
    lv[i].alpha_scale = pl->alpha_scale;
    axis_of(sf_flow_plan_resampler(plan, i, 0), &lv[i].img_y, &lv[i].img_x);
    if (i < g.top) axis_of(sf_flow_plan_resampler(plan, i, 1), &lv[i].up_y, &lv[i].up_x);
    lv[i].ref = (float *)sf_flow_plan_reference(plan, i);
    max_h = pl->h > max_h ? pl->h : max_h;
    max_w = pl->w > max_w ? pl->w : max_w;
    rtn = pl->h * W > rtn ? pl->h * W : rtn;
  }
  g.lv = lv;
  const float *ky, *kx;
  sf_smooth_taps(sm, &ky, &g.ry, &kx, &g.rx);
  g.ky = ky, g.kx = kx, g.lo_n = lo, g.inv_n = inv, g.fill = fill;
  sf_flow_plan_final_taps(plan, &g.fy_i, &g.fy_w, &g.fx_i, &g.fx_w);
  const size_t P = (max_h + 2) * (max_w + 2), L = max_h * max_w, F = count;
  g.raw = raw;
  g.proc = fz(R * fe), g.tmp = fz(R * fe), g.mov = fz(F * fe), g.out = fz(F * UE),
  g.full = fz(F * 2 * HW);
  g.ftmp = fz(F * 2 * pyr->lv[g.lo].h * W), g.flowi = fz(F * 2 * HW), g.winit = fz(2 * HW),
  g.uvtop = fz(2 * P);
  g.valid = calloc(F * HW, 1);
  g.tsrc = tsrc, g.tw = tw;
  g.rt = fz(F * (C > 2 ? C : 2) * rtn), g.f2 = fz(F * C * L), g.f2w = fz(F * C * L),
  g.uv = fz(F * 2 * P);
  g.puv = fz(F * 2 * P), g.d = fz(F * 2 * P), g.med = fz(F * 2 * P), g.J = fz(F * 6 * C * P);
  g.cuv = fz(F * 2 * P), g.co = fz(F * 5 * P);
  CU_ASSERT_FATAL(g.valid != NULL);
  if (cc_hw) {
    sf_gf_cc *c = &g.cc;
    c->on = 1;
    c->h = cc.ch, c->w = cc.cw, c->wc = cc.cw / 2 + 1, c->nsp = c->h * c->wc;
    sf_xcorr_plan_tables(cc.xc, &c->win, &c->gain, &c->ref, &c->up);
    c->n = sf_hd_updft_points(c->up);
    axis_of(cc.down, &c->ay, &c->ax);
    c->refp = refp, c->wch = wch;
    const size_t N = c->n;
    c->flow = fz(F * 2 * HW), c->warped = fz(F * fe), c->gray = fz(F * HW),
    c->real = fz(F * c->h * c->w);
    c->mean = fz(F), c->shift = fz(2 * F), c->spec = fz(F * 2 * c->nsp),
    c->spec2 = fz(F * 2 * c->nsp);
    c->exr = fz(F * c->wc * N), c->exi = fz(F * c->wc * N), c->eyr = fz(F * c->h * N),
    c->eyi = fz(F * c->h * N);
    c->s1r = fz(F * c->h * N), c->s1i = fz(F * c->h * N), c->surf = fz(F * N * N);
    c->center = calloc(2 * F, sizeof(double)), c->best = calloc(2 * F, sizeof(double));
    c->active = calloc(F, sizeof(int)), c->flat = calloc(F, sizeof(int));
    CU_ASSERT_FATAL(c->center && c->best && c->active && c->flat);
  }
  float *uv0 = g.uv, *puv0 = g.puv;
  CU_ASSERT_EQUAL(sf_gf_preprocess(&g, 0, R / 2), 0); /* in two chunks, as the device's upload */
  CU_ASSERT_EQUAL(sf_gf_preprocess(&g, R / 2, R - R / 2), 0);
  CU_ASSERT_EQUAL(sf_gf_register(&g, count, halo, n_init, ntap), 0);

  /* ---- the CPU kernels (after the device steps: --cc-init continues from their shifts) ---- */
  float *proc = fz(R * fe), *mov = fz(count * fe), *cflow = fz(count * 2 * HW),
        *cout = fz(count * UE);
  float *winit = fz(2 * HW), *cstats = fz(4 * count);
  unsigned char *cvalid = calloc(count * HW, 1);
  CU_ASSERT_FATAL(cvalid != NULL);
  for (size_t f = 0; f < R; f++) {
    sf_normalize_deinterleave(raw + f * UE, HW, C, lo, inv, proc + f * fe);
    for (size_t k = 0; k < C; k++)
      sf_smooth_execute(sm, proc + f * fe + k * HW, proc + f * fe + k * HW, scratch);
  }
  for (size_t k = 0; k < count; k++) {
    float *dst = mov + k * fe;
    if (ntap == 0) {
      memcpy(dst, proc + (size_t)tsrc[k] * fe, fe * sizeof(float));
      continue;
    }
    for (size_t i = 0; i < fe; i++)
      dst[i] = 0.0f;
    for (int t = 0; t < ntap; t++)
      for (size_t i = 0; i < fe; i++)
        dst[i] += tw[t] * proc[(size_t)tsrc[k * (size_t)nt + (size_t)t] * fe + i];
  }
  for (size_t k = 0; k < n_init; k++)
    if (cc_hw)
      cpu_cc_flow(&cc, plan, fws, mov + k * fe, H, W, C, NULL, NULL, dev_shift[0] + 2 * k,
                  cflow + k * 2 * HW, cflow + k * 2 * HW + HW);
    else
      sf_flow_execute(plan, fws, mov + k * fe, NULL, NULL, cflow + k * 2 * HW,
                      cflow + k * 2 * HW + HW);
  for (size_t i = 0; i < 2 * HW; i++) {
    double s = 0.0;
    for (size_t k = 0; k < n_init; k++)
      s += cflow[k * 2 * HW + i];
    winit[i] = (float)(s / (double)n_init);
  }
  for (size_t k = 0; k < count; k++) {
    float *u = cflow + k * 2 * HW, *v = u + HW;
    if (cc_hw)
      cpu_cc_flow(&cc, plan, fws, mov + k * fe, H, W, C, winit, winit + HW, dev_shift[1] + 2 * k, u,
                  v);
    else
      sf_flow_execute(plan, fws, mov + k * fe, winit, winit + HW, u, v);
    sf_warp_flow(raw + (halo + k) * UE, fill, H, W, C, u, v, W, 1.0f, 1.0f,
                 linear ? SF_INTERP_LINEAR : SF_INTERP_CUBIC, cout + k * UE, cvalid + k * HW);
    float st[4];
    sf_flow_stats(u, v, H, W, st);
    for (int q = 0; q < 4; q++)
      cstats[(size_t)q * count + k] = st[q];
  }

  /* ---- compare: the same algorithm, its result sensitive to the last bits of its input ----
   * (an ulp of the resampled images can move a 1/32-px warp position or a median's rank and
   * grow through the levels), so the flows are compared by their mean difference and their
   * end-point error against the motion that made the frames, as gpu.flow compares the device
   * with the CPU; the largest differences are printed. */
  double sflow = 0.0, mflow = 0.0, sout = 0.0, mout = 0.0, dstat = 0.0, dstat_all = 0.0,
         dproc = 0.0, epe_c = 0.0, epe_g = 0.0;
  size_t dvalid = 0;
  for (size_t i = 0; i < R * fe; i++)
    dproc = fmax(dproc, fabs((double)g.proc[i] - (double)proc[i]));
  for (size_t k = 0; k < count; k++) {
    const double f = (double)(halo + k);
    const float *gu = g.full + k * 2 * HW, *cu = cflow + k * 2 * HW;
    for (size_t i = 0; i < 2 * HW; i++) {
      double e = fabs((double)gu[i] - (double)cu[i]);
      sflow += e;
      mflow = fmax(mflow, e);
    }
    for (size_t y = 0; y < H; y++)
      for (size_t x = 0; x < W; x++) {
        size_t i = y * W + x;
        double tu = -1.5 * sin(0.5 * f + 2.0 * SF_HD_PI * (double)y / (double)H);
        double tv = -1.0 * cos(0.3 * f + 2.0 * SF_HD_PI * (double)x / (double)W);
        epe_c += hypot((double)cu[i] - tu, (double)cu[HW + i] - tv);
        epe_g += hypot((double)gu[i] - tu, (double)gu[HW + i] - tv);
        CU_ASSERT_EQUAL(g.flowi[(k * HW + i) * 2], gu[i]);
        CU_ASSERT_EQUAL(g.flowi[(k * HW + i) * 2 + 1], gu[HW + i]);
      }
    float st[4];
    sf_flow_stats(gu, gu + HW, H, W, st);
    /* mean |w| and |mean w| (px); the max and the divergence are printed with them */
    for (int q = 0; q < 4; q++) {
      double e = fabs((double)st[q] - (double)cstats[(size_t)q * count + k]);
      if (q == 0 || q == 3) dstat = fmax(dstat, e);
      dstat_all = fmax(dstat_all, e);
    }
  }
  double n2 = 0.0, d2 = 0.0;
  for (size_t i = 0; i < count * UE; i++) {
    double e = fabs((double)g.out[i] - (double)cout[i]);
    d2 += e * e;
    n2 += (double)cout[i] * (double)cout[i];
    mout = fmax(mout, e / 320.0);
  }
  sout = sqrt(d2 / n2);
  for (size_t i = 0; i < count * HW; i++)
    dvalid += g.valid[i] != cvalid[i];
  const double nfl = (double)(count * 2 * HW), npx = (double)(count * HW);
  sflow /= nfl;
  epe_c /= npx;
  epe_g /= npx;
  fprintf(stderr,
          "%zux%zux%zu min_level %d, %zu+%zu frames, temporal taps %d, %s, %s, a_smooth %g, "
          "cc-init %zu (shifts within %.3g px of the CPU's): "
          "preprocessing max "
          "%.3g; flow mean "
          "%.3g px (max %.3g); EPE %.4f px vs the CPU's %.4f; registered %.3g relative (max %.3g "
          "of the "
          "range); statistics %.3g px (all four %.3g); valid masks %zu differ\n",
          H, W, C, pyr->min_level, count, 2 * halo, ntap, linear ? "linear" : "cubic",
          gray ? "gray" : "gc", a_smooth, cc_hw, cc.maxd, dproc, sflow, mflow, epe_g, epe_c, sout,
          mout, dstat, dstat_all, dvalid);
#ifdef SF_GF_EXACT
  /* CPU kernels built without contraction: the same operations in the same order, so the same
   * bytes everywhere */
  CU_ASSERT_EQUAL(dproc, 0.0);
  CU_ASSERT_EQUAL(mflow, 0.0);
  CU_ASSERT_EQUAL(mout, 0.0);
  CU_ASSERT_EQUAL(dstat_all, 0.0);
  CU_ASSERT_EQUAL(dvalid, 0);
  CU_ASSERT(cc.maxd <= 1e-3); /* cuFFT's stand-in (FFTW, batched) and direct twiddles */
#else
  CU_ASSERT(cc.maxd <= 1e-3);
  CU_ASSERT(dproc <= 1e-6);               /* float rounding of the smoothing */
  CU_ASSERT(fabs(epe_g - epe_c) <= 0.01); /* gpu.flow's: mean EPE within 0.01 px */
  CU_ASSERT(sout <= 1e-2);                /* registered frames, relative (L2) */
  CU_ASSERT(sflow <= 0.1);                /* mean flow difference */
  CU_ASSERT(dstat <= 0.03);               /* mean |w| and |mean w|, px */
  CU_ASSERT(dvalid <= count * HW / 100);
#endif

  free(g.proc), free(g.tmp), free(g.mov), free(g.out), free(g.full), free(g.ftmp), free(g.flowi);
  free(g.winit), free(g.uvtop), free(g.valid), free(g.rt), free(g.f2), free(g.f2w), free(uv0),
      free(puv0);
  free(g.d), free(g.med), free(g.J), free(g.cuv), free(g.co), free(lv);
  free(raw), free(fill), free(tsrc), free(scratch), free(refp), free(proc), free(mov), free(cflow),
      free(cout);
  free(winit), free(cstats), free(cvalid);
  if (cc_hw) {
    sf_gf_cc *c = &g.cc;
    free(c->flow), free(c->warped), free(c->gray), free(c->real), free(c->mean), free(c->shift);
    free(c->spec), free(c->spec2), free(c->exr), free(c->exi), free(c->eyr), free(c->eyi);
    free(c->s1r), free(c->s1i), free(c->surf), free(c->center), free(c->best), free(c->active),
        free(c->flat);
    free(cc.pa), free(cc.pb), free(cc.small), free(cc.ru), free(cc.rv), free(cc.scratch);
    sf_xcorr_ws_destroy(&cc.xws);
    sf_xcorr_plan_destroy(&cc.xc);
    sf_resample_destroy(&cc.down);
  }
  sf_smooth_destroy(&sm);
  sf_flow_ws_destroy(&fws);
  sf_flow_plan_destroy(&plan);
}

static void test_fast(void) { run_case(48, 64, 1, 6, 1, 5, 1, 0, 0, 1.0, 0); }
static void test_balanced(void) { run_case(48, 64, 1, 4, 1, 4, 2, 1, 0, 1.0, 0); }
static void test_quality(void) { run_case(40, 56, 1, 0, 0, 3, 0, 0, 0, 1.0, 0); }
static void test_two_channels(void) { run_case(40, 48, 2, 4, 2, 3, 3, 0, 0, 1.0, 0); }
static void test_gray(void) { run_case(40, 48, 1, 2, 1, 3, 1, 0, 1, 1.0, 0); }
static void test_asmooth_half(void) { run_case(48, 64, 1, 2, 1, 4, 1, 0, 0, 0.5, 0); }
static void test_ccinit(void) { run_case(48, 64, 1, 4, 1, 4, 1, 0, 0, 1.0, 32); }
static void test_ccinit_two(void) { run_case(40, 56, 2, 2, 1, 3, 2, 1, 0, 0.5, 24); }
static void test_asmooth_two(void) { run_case(40, 48, 2, 2, 1, 3, 2, 1, 0, 2.0, 0); }

int main(void) {
  static const sf_test tests[] = {
      {"device pipeline on the host = CPU kernels (fast preset, finest level 6)", test_fast},
      {"device pipeline on the host = CPU kernels (balanced, linear final warp)", test_balanced},
      {"device pipeline on the host = CPU kernels (quality, finest level 0)", test_quality},
      {"device pipeline on the host = CPU kernels (2 channels, wide temporal taps)",
       test_two_channels},
      {"device pipeline on the host = CPU kernels (brightness constancy)", test_gray},
      {"device pipeline on the host = CPU kernels (a_smooth 0.5, the lagged solver)",
       test_asmooth_half},
      {"device pipeline on the host = CPU kernels (a_smooth 2, 2 channels, linear)",
       test_asmooth_two},
      {"device pipeline on the host = CPU kernels (--cc-init on a 32x32 grid)", test_ccinit},
      {"device pipeline on the host = CPU kernels (--cc-init, 2 channels, a_smooth 0.5)",
       test_ccinit_two},
      {NULL, NULL}};
  return sf_cunit_run("device flow pipeline run on the host", tests);
}
