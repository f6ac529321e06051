// The optical-flow registration of a batch of frames on one device (gpu_flow.h). Every kernel
// is a grid over (planes of all frames) x pixels that calls the per-element bodies the CPU
// kernels and the host tests run (kernels/flow_hd.h, kernels/flow_solver_hd.h); the per-frame
// statistics are one block per frame. The pyramid's structure is sf_flow_execute's, with the
// level solver in red-black order (the CPU's SF_SWEEP_REDBLACK, which unit.flow_hd shows the
// same pixel bodies reproduce byte for byte on the host). This file is compiled with
// -fmad=false, so that a multiply feeding an add rounds twice as in the bodies' host build.
// With --cc-init each frame is first prealigned by phase correlation (cuFFT, the rigid
// method's bodies), and the pyramid solves the residual from zero.
// For a_smooth != 1 the level solver is the CPU's lagged-nonlinearity one (flow_solver_asmooth.c,
// itself red-black) from the same bodies.
// NOT YET RUN ON A DEVICE: compiled warning-free for sm_90 + PTX; benchmarks/gpu_check.sh is
// its first run.
#include <cuda_runtime.h>
#include <cufft.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/cuda_check.h"
#include "gpu/gpu_flow.h"
extern "C" { // the CPU plan's C interface (tables, reference pyramid), before the bodies
#include "kernels/flow_estimate.h"
#include "kernels/flow_preproc.h"
#include "kernels/flow_pyramid.h"
#include "kernels/flow_resample.h"
#include "kernels/xcorr_rigid.h"
}
#include "gpu/gpu_flow_elems.h"
#include "kernels/flow_hd.h"
#include "kernels/flow_solver_hd.h"

enum { FB = 256, N_CHUNK_EV = 8 };

struct sf_gpu_flow {
  sf_gf_ws ws; // device buffers and tables (gpu_flow_seq.h)
  size_t max_read, max_count;
  int n_levels, want_flow, want_valid;
  cudaStream_t s_comp, s_copy;
  cudaEvent_t ev[N_CHUNK_EV], ev_done;
  int n_ev, have_done;
  float *d_stats, *d_tw; // what the workspace names const, owned here
  float *d_ky, *d_kx, *d_lo, *d_inv, *d_fill, *d_fy_w, *d_fx_w;
  int *d_fy_i, *d_fx_i, *d_tsrc;
  float *d_cc_refp, *d_cc_wch, *d_cc_win, *d_cc_gain, *d_cc_ref; // --cc-init tables
  cufftHandle cc_fwd, cc_inv; // --cc-init: r2c and c2r of max_count cc grids
  int have_cc_fwd, have_cc_inv;
  float *h_in, *h_out, *h_flow, *h_stats, *h_tw; // pinned
  int *h_tsrc;
  unsigned char *h_valid;
};

static unsigned grid_of(size_t n) { return (unsigned)((n + FB - 1) / FB); }

// ---- kernels: the per-element steps of gpu_flow_elems.h behind the thread index ----------

__global__ static void k_normalize(const float *raw, float *proc, size_t f0, size_t nf, size_t hw,
                                   size_t c, const float *lo, const float *inv) {
  sf_gfe_normalize((size_t)blockIdx.x * blockDim.x + threadIdx.x, raw, proc, f0, nf, hw, c, lo,
                   inv);
}

__global__ static void k_smooth_v(const float *in, float *out, size_t p0, size_t np, long h, long w,
                                  const float *ky, int ry) {
  sf_gfe_smooth_v((size_t)blockIdx.x * blockDim.x + threadIdx.x, in, out, p0, np, h, w, ky, ry);
}

__global__ static void k_smooth_h(const float *mid, float *out, size_t p0, size_t np, long h,
                                  long w, const float *kx, int rx) {
  sf_gfe_smooth_h((size_t)blockIdx.x * blockDim.x + threadIdx.x, mid, out, p0, np, h, w, kx, rx);
}

__global__ static void k_temporal(const float *proc, float *mov, size_t count, size_t fe,
                                  const int *tsrc, const float *tw, int ntap) {
  sf_gfe_temporal((size_t)blockIdx.x * blockDim.x + threadIdx.x, proc, mov, count, fe, tsrc, tw,
                  ntap);
}

__global__ static void k_resample_v(const float *in, size_t in_stride, size_t in_plane, float *tmp,
                                    size_t np, size_t out_h, size_t in_w, sf_gf_axis a) {
  sf_gfe_resample_v((size_t)blockIdx.x * blockDim.x + threadIdx.x, in, in_stride, in_plane, tmp, np,
                    out_h, in_w, a);
}

__global__ static void k_resample_h(const float *tmp, size_t in_w, float *out, size_t out_stride,
                                    size_t out_plane, size_t np, size_t out_h, size_t out_w,
                                    sf_gf_axis a) {
  sf_gfe_resample_h((size_t)blockIdx.x * blockDim.x + threadIdx.x, tmp, in_w, out, out_stride,
                    out_plane, np, out_h, out_w, a);
}

__global__ static void k_pad_edge(float *a, size_t np, size_t h, size_t w, size_t P) {
  sf_gfe_pad_edge((size_t)blockIdx.x * blockDim.x + threadIdx.x, a, np, h, w, P);
}

__global__ static void k_broadcast_uv(const float *top, float *uv, size_t nf, size_t P) {
  sf_gfe_broadcast_uv((size_t)blockIdx.x * blockDim.x + threadIdx.x, top, uv, nf, P);
}

__global__ static void k_warp_level(const float *f2, float *f2w, const float *ref, const float *uv,
                                    size_t nf, int nch, long h, long w, size_t P, float sx,
                                    float sy, int quant) {
  sf_gfe_warp_level((size_t)blockIdx.x * blockDim.x + threadIdx.x, f2, f2w, ref, uv, nf, nch, h, w,
                    P, sx, sy, quant);
}

__global__ static void k_tensor(const float *f1, const float *f2w, float *J, size_t nf, int nch,
                                long h, long w, size_t P, int gray, float k0, float k1, float k2,
                                float k3, float k4, float k5) {
  sf_gfe_tensor((size_t)blockIdx.x * blockDim.x + threadIdx.x, f1, f2w, J, nf, nch, h, w, P, gray,
                k0, k1, k2, k3, k4, k5);
}

__global__ static void k_sor_prep(const float *uv, float *cuv, size_t nf, size_t h, size_t w,
                                  size_t P, float wx, float wy) {
  sf_gfe_sor_prep((size_t)blockIdx.x * blockDim.x + threadIdx.x, uv, cuv, nf, h, w, P, wx, wy);
}

__global__ static void k_sor_coef(const float *J, const float *d, const float *cuv, float *co,
                                  size_t nf, size_t h, size_t w, size_t P, sf_hd_sor_consts c) {
  sf_gfe_sor_coef((size_t)blockIdx.x * blockDim.x + threadIdx.x, J, d, cuv, co, nf, h, w, P, c);
}

__global__ static void k_sor_frame(float *d, size_t np, size_t h, size_t w, size_t P) {
  sf_gfe_sor_frame((size_t)blockIdx.x * blockDim.x + threadIdx.x, d, np, h, w, P);
}

__global__ static void k_sor_sweep(float *d, const float *co, size_t nf, size_t h, size_t w,
                                   size_t P, int colour, float wx, float wy, float c1) {
  sf_gfe_sor_sweep((size_t)blockIdx.x * blockDim.x + threadIdx.x, d, co, nf, h, w, P, colour, wx,
                   wy, c1);
}

__global__ static void k_fill(float *a, size_t n, float val) {
  sf_gfe_fill((size_t)blockIdx.x * blockDim.x + threadIdx.x, a, n, val);
}

__global__ static void k_asm_coef(const float *J, const float *d, float *co, size_t nf, size_t h,
                                  size_t w, size_t P, sf_hd_sor_consts c) {
  sf_gfe_asm_coef((size_t)blockIdx.x * blockDim.x + threadIdx.x, J, d, co, nf, h, w, P, c);
}

__global__ static void k_asm_psi(const float *uv, const float *d, float *ps, size_t nf, size_t h,
                                 size_t w, size_t P, float as, float es, float ihx, float ihy) {
  sf_gfe_asm_psi((size_t)blockIdx.x * blockDim.x + threadIdx.x, uv, d, ps, nf, h, w, P, as, es, ihx,
                 ihy);
}

__global__ static void k_asm_sweep(float *d, const float *uv, const float *ps, const float *co,
                                   size_t nf, size_t h, size_t w, size_t P, int colour, float ax,
                                   float ay, float om, float c1) {
  sf_gfe_asm_sweep((size_t)blockIdx.x * blockDim.x + threadIdx.x, d, uv, ps, co, nf, h, w, P,
                   colour, ax, ay, om, c1);
}

// --cc-init
__global__ static void k_cc_start(float *flow, const float *winit, size_t nf, size_t hw) {
  sf_gfe_cc_start((size_t)blockIdx.x * blockDim.x + threadIdx.x, flow, winit, nf, hw);
}

__global__ static void k_cc_warp(const float *mov, const float *refp, const float *flow, float *out,
                                 size_t nf, size_t nch, long H, long W) {
  sf_gfe_cc_warp((size_t)blockIdx.x * blockDim.x + threadIdx.x, mov, refp, flow, out, nf, nch, H,
                 W);
}

__global__ static void k_cc_combine(const float *warped, float *gray, size_t nf, size_t nch,
                                    size_t hw, const float *wch) {
  sf_gfe_cc_combine((size_t)blockIdx.x * blockDim.x + threadIdx.x, warped, gray, nf, nch, hw, wch);
}

__global__ static void k_cc_mean(const float *real, float *mean, size_t nf, size_t n) {
  sf_gfe_cc_mean((size_t)blockIdx.x * blockDim.x + threadIdx.x, real, mean, nf, n);
}

__global__ static void k_cc_window(float *real, const float *mean, const float *win, size_t nf,
                                   size_t n) {
  sf_gfe_cc_window((size_t)blockIdx.x * blockDim.x + threadIdx.x, real, mean, win, nf, n);
}

__global__ static void k_cc_cross(float *spec, float *spec2, const float *ref, const float *gain,
                                  size_t nf, size_t nsp) {
  sf_gfe_cc_cross((size_t)blockIdx.x * blockDim.x + threadIdx.x, spec, spec2, ref, gain, nf, nsp);
}

__global__ static void k_cc_flat(const float *spec, int *flat, size_t nf, size_t nsp) {
  sf_gfe_cc_flat((size_t)blockIdx.x * blockDim.x + threadIdx.x, spec, flat, nf, nsp);
}

__global__ static void k_cc_argmax(const float *real, double *center, size_t nf, size_t h,
                                   size_t w) {
  sf_gfe_cc_argmax((size_t)blockIdx.x * blockDim.x + threadIdx.x, real, center, nf, h, w);
}

__global__ static void k_cc_activate(int *active, size_t nf) {
  sf_gfe_cc_activate((size_t)blockIdx.x * blockDim.x + threadIdx.x, active, nf);
}

__global__ static void k_cc_twiddle(const double *center, const int *active, float *exr, float *exi,
                                    float *eyr, float *eyi, size_t nf, size_t h, size_t w,
                                    size_t wc, size_t n, int up) {
  sf_gfe_cc_twiddle((size_t)blockIdx.x * blockDim.x + threadIdx.x, center, active, exr, exi, eyr,
                    eyi, nf, h, w, wc, n, up);
}

__global__ static void k_cc_s1(const float *spec, const float *exr, const float *exi, float *s1r,
                               float *s1i, const int *active, size_t nf, size_t h, size_t wc,
                               size_t n) {
  sf_gfe_cc_s1((size_t)blockIdx.x * blockDim.x + threadIdx.x, spec, exr, exi, s1r, s1i, active, nf,
               h, wc, n);
}

__global__ static void k_cc_surf(const float *s1r, const float *s1i, const float *eyr,
                                 const float *eyi, float *surf, const int *active, size_t nf,
                                 size_t h, size_t n) {
  sf_gfe_cc_surf((size_t)blockIdx.x * blockDim.x + threadIdx.x, s1r, s1i, eyr, eyi, surf, active,
                 nf, h, n);
}

__global__ static void k_cc_peak(const float *surf, double *center, double *best, int *active,
                                 size_t nf, size_t n, int up, int pass) {
  sf_gfe_cc_peak((size_t)blockIdx.x * blockDim.x + threadIdx.x, surf, center, best, active, nf, n,
                 up, pass);
}

__global__ static void k_cc_final(const double *center, const double *best, const int *flat,
                                  float *shift, size_t nf, int up) {
  sf_gfe_cc_final((size_t)blockIdx.x * blockDim.x + threadIdx.x, center, best, flat, shift, nf, up);
}

__global__ static void k_cc_shift(float *flow, const float *shift, size_t nf, size_t hw, float fw,
                                  float fgw, float fh, float fgh) {
  sf_gfe_cc_shift((size_t)blockIdx.x * blockDim.x + threadIdx.x, flow, shift, nf, hw, fw, fgw, fh,
                  fgh);
}

__global__ static void k_cc_add(float *full, const float *flow, size_t n) {
  sf_gfe_cc_add((size_t)blockIdx.x * blockDim.x + threadIdx.x, full, flow, n);
}

__global__ static void k_median(const float *d, float *med, size_t np, long h, long w, size_t P) {
  sf_gfe_median((size_t)blockIdx.x * blockDim.x + threadIdx.x, d, med, np, h, w, P);
}

__global__ static void k_accumulate(float *uv, const float *d, size_t np, size_t h, size_t w,
                                    size_t P) {
  sf_gfe_accumulate((size_t)blockIdx.x * blockDim.x + threadIdx.x, uv, d, np, h, w, P);
}

__global__ static void k_up_h(const float *puv, float *ftmp, size_t np, size_t ph, size_t ps,
                              size_t P, size_t W, const int *fx_i, const float *fx_w) {
  sf_gfe_up_h((size_t)blockIdx.x * blockDim.x + threadIdx.x, puv, ftmp, np, ph, ps, P, W, fx_i,
              fx_w);
}

__global__ static void k_up_v(const float *ftmp, float *full, size_t np, size_t ph, size_t H,
                              size_t W, const int *fy_i, const float *fy_w) {
  sf_gfe_up_v((size_t)blockIdx.x * blockDim.x + threadIdx.x, ftmp, full, np, ph, H, W, fy_i, fy_w);
}

__global__ static void k_unpad(const float *puv, float *full, size_t np, size_t H, size_t W,
                               size_t P) {
  sf_gfe_unpad((size_t)blockIdx.x * blockDim.x + threadIdx.x, puv, full, np, H, W, P);
}

__global__ static void k_winit(const float *full, float *winit, size_t n0, size_t hw) {
  sf_gfe_winit((size_t)blockIdx.x * blockDim.x + threadIdx.x, full, winit, n0, hw);
}

__global__ static void k_warp_final(const float *raw, const float *fill, const float *full,
                                    float *out, unsigned char *valid, size_t nf, long H, long W,
                                    long C, int cubic) {
  sf_gfe_warp_final((size_t)blockIdx.x * blockDim.x + threadIdx.x, raw, fill, full, out, valid, nf,
                    H, W, C, cubic);
}

__global__ static void k_interleave(const float *full, float *flowi, size_t nf, size_t hw) {
  sf_gfe_interleave((size_t)blockIdx.x * blockDim.x + threadIdx.x, full, flowi, nf, hw);
}

// One block per frame: the statistics (sums in double; the block's order differs from the
// CPU's pixel order, so the float results may differ in the last bit).
__global__ static void k_stats(const float *full, float *stats, size_t nf, size_t H, size_t W) {
  __shared__ double s[5][FB];
  size_t f = blockIdx.x, hw = H * W;
  const float *u = full + 2 * f * hw, *v = u + hw;
  double sm = 0.0, mx = 0.0, sd = 0.0, su = 0.0, sv = 0.0;
  for (size_t i = threadIdx.x; i < hw; i += blockDim.x) {
    double m = sf_hd_flow_mag(u[i], v[i]);
    sm += m;
    mx = m > mx ? m : mx;
    su += u[i];
    sv += v[i];
  }
  for (size_t y = threadIdx.x; y < H; y += blockDim.x)
    sd += sf_hd_grad_line_sum(u + y * W, 1, W);
  for (size_t x = threadIdx.x; x < W; x += blockDim.x)
    sd += sf_hd_grad_line_sum(v + x, W, H);
  s[0][threadIdx.x] = sm;
  s[1][threadIdx.x] = mx;
  s[2][threadIdx.x] = sd;
  s[3][threadIdx.x] = su;
  s[4][threadIdx.x] = sv;
  __syncthreads();
  for (unsigned o = blockDim.x / 2; o > 0; o >>= 1) {
    if (threadIdx.x < o) {
      s[0][threadIdx.x] += s[0][threadIdx.x + o];
      s[1][threadIdx.x] =
          s[1][threadIdx.x] > s[1][threadIdx.x + o] ? s[1][threadIdx.x] : s[1][threadIdx.x + o];
      for (int q = 2; q < 5; q++)
        s[q][threadIdx.x] += s[q][threadIdx.x + o];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    float r[4];
    sf_hd_flow_stats_finish(s[0][0], s[1][0], s[2][0], s[3][0], s[4][0], (double)hw, r);
    for (int q = 0; q < 4; q++)
      stats[(size_t)q * nf + f] = r[q];
  }
}

// ---- host side -------------------------------------------------------------------------------

static inline int sf_gf_launch_check(void) {
  int status = 0;
  SF_CUDA(cudaGetLastError());
cleanup:
  return status;
}

// The pipeline's order (gpu_flow_seq.h) as launches on the workspace's compute stream.
#define SF_GF_RUN(name, n, ...)                                                                    \
  k_##name<<<grid_of(n), FB, 0, (cudaStream_t)g->stream>>>(__VA_ARGS__)
#define SF_GF_ZERO(ptr, n)                                                                         \
  SF_CUDA(cudaMemsetAsync((ptr), 0, (n) * sizeof(float), (cudaStream_t)g->stream))
#define SF_GF_CHECK() SF_CALL(sf_gf_launch_check())

// --cc-init's transforms: the batched cuFFT plans of the workspace (cc.fft), made for max_count
// grids and run over all of them (the grids past nf are not read).
static int sf_gf_fft(sf_gf_ws *g, float *in, float *out, int inverse) {
  int status = 0;
  cufftResult r = inverse ? cufftExecC2R((cufftHandle)g->cc.fft[1], (cufftComplex *)in, out)
                          : cufftExecR2C((cufftHandle)g->cc.fft[0], in, (cufftComplex *)out);
  SF_CHECK(r == CUFFT_SUCCESS, SF_ERR_IO, "device flow --cc-init: cuFFT error %d", (int)r);
cleanup:
  return status;
}
#define SF_GF_R2C(in, out, nf) SF_CALL(sf_gf_fft(g, (in), (out), 0))
#define SF_GF_C2R(in, out, nf) SF_CALL(sf_gf_fft(g, (in), (out), 1))
#define SF_GF_CC_SHIFTS(sh, nf, init) ((void)0)
#include "gpu/gpu_flow_seq.h"

template <typename T> static int dev_alloc(T **p, size_t n) {
  int status = 0;
  *p = NULL;
  SF_CUDA_AS(SF_ERR_NOMEM, cudaMalloc((void **)p, (n ? n : 1) * sizeof(T)));
cleanup:
  return status;
}

template <typename T> static int dev_upload(T **p, const T *src, size_t n) {
  int status = 0;
  SF_CALL(dev_alloc(p, n));
  if (n) SF_CUDA(cudaMemcpy(*p, src, n * sizeof(T), cudaMemcpyHostToDevice));
cleanup:
  return status;
}

static int axis_upload(const sf_resample_axis *a, int vertical, sf_gf_axis *d) {
  int status = 0;
  d->ntap = a->ntap;
  d->in_len = a->in_len;
  d->out_len = a->out_len;
  d->pad_lo = a->pad_lo;
  SF_CALL(dev_upload(&d->wt, a->wt, a->out_len * (size_t)a->ntap));
  if (vertical) {
    SF_CALL(dev_upload(&d->idx, a->idx, a->out_len * (size_t)a->ntap));
  } else {
    SF_CALL(dev_upload(&d->start, a->start, a->out_len));
    SF_CALL(dev_upload(&d->pad_src, a->pad_src, a->pad_lo + a->pad_hi));
  }
cleanup:
  return status;
}

static void axis_free(sf_gf_axis *d) {
  cudaFree(d->wt);
  cudaFree(d->idx);
  cudaFree(d->start);
  cudaFree(d->pad_src);
  memset(d, 0, sizeof *d);
}

extern "C" void sf_gpu_flow_destroy(sf_gpu_flow **gp) {
  sf_gpu_flow *g = gp ? *gp : NULL;
  if (!g) return;
  sf_gf_ws *w = &g->ws;
  if (g->s_comp) cudaStreamSynchronize(g->s_comp);
  if (g->s_copy) cudaStreamSynchronize(g->s_copy);
  if (w->lv)
    for (int i = 0; i < g->n_levels; i++) {
      axis_free(&w->lv[i].img_y);
      axis_free(&w->lv[i].img_x);
      axis_free(&w->lv[i].up_y);
      axis_free(&w->lv[i].up_x);
      cudaFree(w->lv[i].ref);
    }
  free(w->lv);
  {
    sf_gf_cc *c = &w->cc;
    if (g->have_cc_fwd) cufftDestroy(g->cc_fwd);
    if (g->have_cc_inv) cufftDestroy(g->cc_inv);
    axis_free(&c->ay);
    axis_free(&c->ax);
    float *cf[] = {g->d_cc_refp, g->d_cc_wch, g->d_cc_win, g->d_cc_gain, g->d_cc_ref,
                   c->flow,      c->warped,   c->gray,     c->real,      c->mean,
                   c->shift,     c->spec,     c->spec2,    c->exr,       c->exi,
                   c->eyr,       c->eyi,      c->s1r,      c->s1i,       c->surf};
    for (size_t i = 0; i < sizeof cf / sizeof cf[0]; i++)
      cudaFree(cf[i]);
    cudaFree(c->center);
    cudaFree(c->best);
    cudaFree(c->active);
    cudaFree(c->flat);
  }
  float *fl[] = {g->d_ky,   g->d_kx,    g->d_lo, g->d_inv, g->d_fill, g->d_fy_w,
                 g->d_fx_w, g->d_stats, g->d_tw, w->raw,   w->proc,   w->tmp,
                 w->mov,    w->out,     w->full, w->ftmp,  w->flowi,  w->winit,
                 w->uvtop,  w->rt,      w->f2,   w->f2w,   w->uv,     w->puv,
                 w->d,      w->med,     w->J,    w->cuv,   w->co};
  for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++)
    cudaFree(fl[i]);
  cudaFree(g->d_fy_i);
  cudaFree(g->d_fx_i);
  cudaFree(g->d_tsrc);
  cudaFree(w->valid);
  cudaFreeHost(g->h_in);
  cudaFreeHost(g->h_out);
  cudaFreeHost(g->h_flow);
  cudaFreeHost(g->h_stats);
  cudaFreeHost(g->h_tw);
  cudaFreeHost(g->h_tsrc);
  cudaFreeHost(g->h_valid);
  for (int i = 0; i < g->n_ev; i++)
    cudaEventDestroy(g->ev[i]);
  if (g->have_done) cudaEventDestroy(g->ev_done);
  if (g->s_comp) cudaStreamDestroy(g->s_comp);
  if (g->s_copy) cudaStreamDestroy(g->s_copy);
  free(g);
  *gp = NULL;
}

extern "C" int sf_gpu_flow_create(const sf_gpu_flow_config *cfg, sf_gpu_flow **out) {
  int status = 0;
  sf_gpu_flow *g = NULL;
  sf_gf_ws *w = NULL;
  const sf_pyramid *pyr = sf_flow_pyramid(cfg->plan);
  const sf_flow_params *p = sf_flow_plan_params(cfg->plan);
  *out = NULL;
  SF_CHECK(cfg->c >= 1 && cfg->c <= SF_FLOW_MAX_CH && cfg->max_count >= 1 &&
               cfg->max_read >= cfg->max_count,
           SF_ERR_USAGE, "device flow: bad configuration");
  SF_CHECK(!cfg->cc_init || (cfg->cc_down && cfg->cc_plan && cfg->cc_refp && cfg->cc_wch &&
                             cfg->cc_h >= 2 && cfg->cc_w >= 2),
           SF_ERR_USAGE, "device flow: bad --cc-init configuration");
  g = (sf_gpu_flow *)calloc(1, sizeof *g);
  SF_CHECK(g != NULL, SF_ERR_NOMEM, "out of memory");
  w = &g->ws;
  w->H = cfg->h;
  w->W = cfg->w;
  w->C = cfg->c;
  w->HW = cfg->h * cfg->w;
  w->UE = w->HW * cfg->c;
  w->linear = cfg->linear;
  w->p = *p;
  w->top = pyr->ltop;
  w->lo = pyr->min_level;
  g->n_levels = pyr->n_levels;
  g->max_read = cfg->max_read;
  g->max_count = cfg->max_count;
  g->want_flow = cfg->want_flow;
  g->want_valid = cfg->want_valid;
  SF_CUDA(cudaStreamCreateWithFlags(&g->s_comp, cudaStreamNonBlocking));
  SF_CUDA(cudaStreamCreateWithFlags(&g->s_copy, cudaStreamNonBlocking));
  w->stream = (void *)g->s_comp;
  for (; g->n_ev < N_CHUNK_EV; g->n_ev++)
    SF_CUDA(cudaEventCreateWithFlags(&g->ev[g->n_ev], cudaEventDisableTiming));
  SF_CUDA(cudaEventCreateWithFlags(&g->ev_done, cudaEventDisableTiming));
  g->have_done = 1;
  w->lv = (sf_gf_level *)calloc((size_t)g->n_levels, sizeof *w->lv);
  SF_CHECK(w->lv != NULL, SF_ERR_NOMEM, "out of memory");
  {
    const size_t nch = w->C;
    size_t rt = 0, max_h = 0, max_w = 0;
    for (int i = w->lo; i <= w->top; i++) {
      sf_gf_level *L = &w->lv[i];
      const sf_pyramid_level *pl = &pyr->lv[i];
      L->h = pl->h;
      L->w = pl->w;
      L->hy = pl->hy;
      L->hx = pl->hx;
      L->alpha_scale = pl->alpha_scale;
      sf_resample_axis ay, ax;
      sf_resample_axes(sf_flow_plan_resampler(cfg->plan, i, 0), &ay, &ax);
      SF_CALL(axis_upload(&ay, 1, &L->img_y));
      SF_CALL(axis_upload(&ax, 0, &L->img_x));
      rt = rt > pl->h * w->W ? rt : pl->h * w->W;
      if (i < w->top) {
        sf_resample_axes(sf_flow_plan_resampler(cfg->plan, i, 1), &ay, &ax);
        SF_CALL(axis_upload(&ay, 1, &L->up_y));
        SF_CALL(axis_upload(&ax, 0, &L->up_x));
        rt = rt > pl->h * pyr->lv[i + 1].w ? rt : pl->h * pyr->lv[i + 1].w;
      }
      SF_CALL(dev_upload(&L->ref, sf_flow_plan_reference(cfg->plan, i), nch * pl->h * pl->w));
      max_h = max_h > pl->h ? max_h : pl->h;
      max_w = max_w > pl->w ? max_w : pl->w;
    }
    const float *ky, *kx;
    sf_smooth_taps(cfg->smooth, &ky, &w->ry, &kx, &w->rx);
    SF_CALL(dev_upload(&g->d_ky, ky, (size_t)(2 * w->ry + 1)));
    SF_CALL(dev_upload(&g->d_kx, kx, (size_t)(2 * w->rx + 1)));
    SF_CALL(dev_upload(&g->d_lo, cfg->lo, nch));
    SF_CALL(dev_upload(&g->d_inv, cfg->inv, nch));
    SF_CALL(dev_upload(&g->d_fill, cfg->fill, w->UE));
    w->ky = g->d_ky;
    w->kx = g->d_kx;
    w->lo_n = g->d_lo;
    w->inv_n = g->d_inv;
    w->fill = g->d_fill;
    if (w->lo > 0) {
      const int *fy_i, *fx_i;
      const float *fy_w, *fx_w;
      sf_flow_plan_final_taps(cfg->plan, &fy_i, &fy_w, &fx_i, &fx_w);
      SF_CALL(dev_upload(&g->d_fy_i, fy_i, 4 * w->H));
      SF_CALL(dev_upload(&g->d_fy_w, fy_w, 4 * w->H));
      SF_CALL(dev_upload(&g->d_fx_i, fx_i, 4 * w->W));
      SF_CALL(dev_upload(&g->d_fx_w, fx_w, 4 * w->W));
      w->fy_i = g->d_fy_i;
      w->fy_w = g->d_fy_w;
      w->fx_i = g->d_fx_i;
      w->fx_w = g->d_fx_w;
    }
    const size_t R = g->max_read, F = g->max_count, P = (max_h + 2) * (max_w + 2),
                 L = max_h * max_w;
    const size_t ph = pyr->lv[w->lo].h, ntw = 2 * SF_GAUSS_MAX_RADIUS + 1;
    SF_CALL(dev_alloc(&w->raw, R * w->UE));
    SF_CALL(dev_alloc(&w->proc, R * nch * w->HW));
    SF_CALL(dev_alloc(&w->tmp, R * nch * w->HW));
    SF_CALL(dev_alloc(&w->mov, F * nch * w->HW));
    SF_CALL(dev_alloc(&w->out, F * w->UE));
    SF_CALL(dev_alloc(&w->full, F * 2 * w->HW));
    SF_CALL(dev_alloc(&w->ftmp, F * 2 * ph * w->W));
    if (g->want_flow) SF_CALL(dev_alloc(&w->flowi, F * 2 * w->HW));
    SF_CALL(dev_alloc(&g->d_stats, 4 * F));
    SF_CALL(dev_alloc(&g->d_tw, ntw));
    SF_CALL(dev_alloc(&g->d_tsrc, F * ntw));
    w->tw = g->d_tw;
    w->tsrc = g->d_tsrc;
    SF_CALL(dev_alloc(&w->winit, 2 * w->HW));
    SF_CALL(dev_alloc(&w->uvtop, 2 * P));
    if (g->want_valid) SF_CALL(dev_alloc(&w->valid, F * w->HW));
    SF_CALL(dev_alloc(&w->f2, F * nch * L));
    SF_CALL(dev_alloc(&w->f2w, F * nch * L));
    SF_CALL(dev_alloc(&w->rt, F * (nch > 2 ? nch : 2) * rt));
    SF_CALL(dev_alloc(&w->uv, F * 2 * P));
    SF_CALL(dev_alloc(&w->puv, F * 2 * P));
    SF_CALL(dev_alloc(&w->d, F * 2 * P));
    SF_CALL(dev_alloc(&w->med, F * 2 * P));
    SF_CALL(dev_alloc(&w->J, F * 6 * nch * P));
    SF_CALL(dev_alloc(&w->cuv, F * 2 * P));
    SF_CALL(dev_alloc(&w->co, F * 5 * P));
    if (cfg->cc_init) { // the prealignment's tables (the CPU plan's) and buffers
      sf_gf_cc *c = &w->cc;
      const float *win, *gain, *ref;
      c->on = 1;
      c->h = cfg->cc_h;
      c->w = cfg->cc_w;
      c->wc = c->w / 2 + 1;
      c->nsp = c->h * c->wc;
      sf_xcorr_plan_tables(cfg->cc_plan, &win, &gain, &ref, &c->up);
      c->n = sf_hd_updft_points(c->up);
      const size_t N = c->n, n = c->h * c->w;
      sf_resample_axis ay, ax;
      sf_resample_axes(cfg->cc_down, &ay, &ax);
      SF_CALL(axis_upload(&ay, 1, &c->ay));
      SF_CALL(axis_upload(&ax, 0, &c->ax));
      SF_CALL(dev_upload(&g->d_cc_refp, cfg->cc_refp, nch * w->HW));
      SF_CALL(dev_upload(&g->d_cc_wch, cfg->cc_wch, nch));
      SF_CALL(dev_upload(&g->d_cc_win, win, n));
      SF_CALL(dev_upload(&g->d_cc_gain, gain, c->nsp));
      SF_CALL(dev_upload(&g->d_cc_ref, ref, 2 * c->nsp));
      c->refp = g->d_cc_refp;
      c->wch = g->d_cc_wch;
      c->win = g->d_cc_win;
      c->gain = g->d_cc_gain;
      c->ref = g->d_cc_ref;
      SF_CALL(dev_alloc(&c->flow, F * 2 * w->HW));
      SF_CALL(dev_alloc(&c->warped, F * nch * w->HW));
      SF_CALL(dev_alloc(&c->gray, F * w->HW));
      SF_CALL(dev_alloc(&c->real, F * n));
      SF_CALL(dev_alloc(&c->mean, F));
      SF_CALL(dev_alloc(&c->shift, 2 * F));
      SF_CALL(dev_alloc(&c->spec, F * 2 * c->nsp));
      SF_CALL(dev_alloc(&c->spec2, F * 2 * c->nsp));
      SF_CALL(dev_alloc(&c->exr, F * c->wc * N));
      SF_CALL(dev_alloc(&c->exi, F * c->wc * N));
      SF_CALL(dev_alloc(&c->eyr, F * c->h * N));
      SF_CALL(dev_alloc(&c->eyi, F * c->h * N));
      SF_CALL(dev_alloc(&c->s1r, F * c->h * N));
      SF_CALL(dev_alloc(&c->s1i, F * c->h * N));
      SF_CALL(dev_alloc(&c->surf, F * N * N));
      SF_CALL(dev_alloc(&c->center, 2 * F));
      SF_CALL(dev_alloc(&c->best, 2 * F));
      SF_CALL(dev_alloc(&c->active, F));
      SF_CALL(dev_alloc(&c->flat, F));
      // the grids past a batch's frames go through the transforms too: defined values
      SF_CUDA(cudaMemset(c->real, 0, F * n * sizeof(float)));
      SF_CUDA(cudaMemset(c->spec2, 0, F * 2 * c->nsp * sizeof(float)));
      int dims[2] = {(int)c->h, (int)c->w};
      cufftResult r = cufftPlanMany(&g->cc_fwd, 2, dims, NULL, 1, 0, NULL, 1, 0, CUFFT_R2C, (int)F);
      SF_CHECK(r == CUFFT_SUCCESS, r == CUFFT_ALLOC_FAILED ? SF_ERR_NOMEM : SF_ERR_IO,
               "device flow --cc-init: cufftPlanMany (r2c, %zu grids of %zux%zu): error %d", F,
               c->h, c->w, (int)r);
      g->have_cc_fwd = 1;
      r = cufftPlanMany(&g->cc_inv, 2, dims, NULL, 1, 0, NULL, 1, 0, CUFFT_C2R, (int)F);
      SF_CHECK(r == CUFFT_SUCCESS, r == CUFFT_ALLOC_FAILED ? SF_ERR_NOMEM : SF_ERR_IO,
               "device flow --cc-init: cufftPlanMany (c2r, %zu grids of %zux%zu): error %d", F,
               c->h, c->w, (int)r);
      g->have_cc_inv = 1;
      r = cufftSetStream(g->cc_fwd, g->s_comp);
      if (r == CUFFT_SUCCESS) r = cufftSetStream(g->cc_inv, g->s_comp);
      SF_CHECK(r == CUFFT_SUCCESS, SF_ERR_IO, "device flow --cc-init: cufftSetStream: error %d",
               (int)r);
      c->fft[0] = (int)g->cc_fwd;
      c->fft[1] = (int)g->cc_inv;
    }
    SF_CUDA_AS(SF_ERR_NOMEM, cudaMallocHost((void **)&g->h_in, R * w->UE * sizeof(float)));
    SF_CUDA_AS(SF_ERR_NOMEM, cudaMallocHost((void **)&g->h_out, F * w->UE * sizeof(float)));
    SF_CUDA_AS(SF_ERR_NOMEM, cudaMallocHost((void **)&g->h_flow,
                                            (g->want_flow ? F * 2 * w->HW : 1) * sizeof(float)));
    SF_CUDA_AS(SF_ERR_NOMEM, cudaMallocHost((void **)&g->h_stats, 4 * F * sizeof(float)));
    SF_CUDA_AS(SF_ERR_NOMEM, cudaMallocHost((void **)&g->h_tw, ntw * sizeof(float)));
    SF_CUDA_AS(SF_ERR_NOMEM, cudaMallocHost((void **)&g->h_tsrc, F * ntw * sizeof(int)));
    SF_CUDA_AS(SF_ERR_NOMEM, cudaMallocHost((void **)&g->h_valid, g->want_valid ? F * w->HW : 1));
  }
  *out = g;
  g = NULL;
cleanup:
  sf_gpu_flow_destroy(&g);
  return status;
}

extern "C" int sf_gpu_flow_execute(sf_gpu_flow *g, const sf_gpu_flow_batch *b,
                                   sf_gpu_flow_out *out) {
  int status = 0;
  sf_gf_ws *w = &g->ws;
  const size_t R = b->n_read, F = b->count, HW = w->HW, UE = w->UE;
  const int ntap = b->ntap, nt = ntap > 0 ? ntap : 1;
  cudaStream_t st = g->s_comp, cp = g->s_copy;
  SF_CHECK(F >= 1 && F <= g->max_count && R <= g->max_read && b->first_reg + F <= R &&
               b->n_init >= 1 && b->n_init <= F && ntap <= 2 * SF_GAUSS_MAX_RADIUS + 1,
           SF_ERR_INTERNAL, "device flow: batch of %zu frames (%zu read) outside the plan", F, R);
  // temporal taps first (small), then the frames in chunks on the copy stream; each chunk's
  // normalisation and spatial smoothing starts as soon as it has arrived
  memcpy(g->h_tsrc, b->tsrc, F * (size_t)nt * sizeof(int));
  if (ntap > 0) memcpy(g->h_tw, b->tw, (size_t)ntap * sizeof(float));
  SF_CUDA(cudaMemcpyAsync(g->d_tsrc, g->h_tsrc, F * (size_t)nt * sizeof(int),
                          cudaMemcpyHostToDevice, cp));
  if (ntap > 0)
    SF_CUDA(cudaMemcpyAsync(g->d_tw, g->h_tw, (size_t)ntap * sizeof(float), cudaMemcpyHostToDevice,
                            cp));
  memcpy(g->h_in, b->in, R * UE * sizeof(float));
  {
    const size_t chunk = (R + N_CHUNK_EV - 1) / N_CHUNK_EV;
    int e = 0;
    for (size_t f0 = 0; f0 < R; f0 += chunk, e++) {
      const size_t nf = R - f0 < chunk ? R - f0 : chunk;
      SF_CUDA(cudaMemcpyAsync(w->raw + f0 * UE, g->h_in + f0 * UE, nf * UE * sizeof(float),
                              cudaMemcpyHostToDevice, cp));
      SF_CUDA(cudaEventRecord(g->ev[e], cp));
      SF_CUDA(cudaStreamWaitEvent(st, g->ev[e], 0));
      SF_CALL(sf_gf_preprocess(w, f0, nf));
    }
  }
  SF_CALL(sf_gf_register(w, F, b->first_reg, b->n_init, ntap));
  // the registered frames go back on the copy stream while the statistics are computed
  SF_CUDA(cudaEventRecord(g->ev_done, st));
  SF_CUDA(cudaStreamWaitEvent(cp, g->ev_done, 0));
  SF_CUDA(cudaMemcpyAsync(g->h_out, w->out, F * UE * sizeof(float), cudaMemcpyDeviceToHost, cp));
  if (g->want_flow)
    SF_CUDA(cudaMemcpyAsync(g->h_flow, w->flowi, F * 2 * HW * sizeof(float), cudaMemcpyDeviceToHost,
                            cp));
  if (g->want_valid)
    SF_CUDA(cudaMemcpyAsync(g->h_valid, w->valid, F * HW, cudaMemcpyDeviceToHost, cp));
  k_stats<<<(unsigned)F, FB, 0, st>>>(w->full, g->d_stats, F, w->H, w->W);
  SF_CALL(sf_gf_launch_check());
  SF_CUDA(
      cudaMemcpyAsync(g->h_stats, g->d_stats, 4 * F * sizeof(float), cudaMemcpyDeviceToHost, st));
  SF_CUDA(cudaStreamSynchronize(st));
  SF_CUDA(cudaStreamSynchronize(cp));
  out->registered = g->h_out;
  out->stats = g->h_stats;
  out->flow = g->want_flow ? g->h_flow : NULL;
  out->valid = g->want_valid ? g->h_valid : NULL;
cleanup:
  return status;
}
