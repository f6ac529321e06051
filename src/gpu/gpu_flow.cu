// The optical-flow registration of a batch of frames on one device (gpu_flow.h). Every kernel
// is a grid over (planes of all frames) x pixels that calls the per-element bodies the CPU
// kernels and the host tests run (kernels/flow_hd.h, kernels/flow_solver_hd.h); the per-frame
// statistics are one block per frame. The pyramid's structure is sf_flow_execute's, with the
// level solver in red-black order (the CPU's SF_SWEEP_REDBLACK, which unit.flow_hd shows the
// same pixel bodies reproduce byte for byte on the host). This file is compiled with
// -fmad=false, so that a multiply feeding an add rounds twice as in the bodies' host build.
// NOT YET RUN ON A DEVICE: compiled warning-free for sm_90 + PTX; benchmarks/gpu_check.sh is
// its first run.
#include <cuda_runtime.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/cuda_check.h"
#include "gpu/gpu_flow.h"
#include "kernels/flow_estimate.h"
#include "kernels/flow_hd.h"
#include "kernels/flow_preproc.h"
#include "kernels/flow_pyramid.h"
#include "kernels/flow_resample.h"
#include "kernels/flow_solver_hd.h"

enum { FB = 256, N_CHUNK_EV = 8 };

// One axis of a resampler on the device (sf_resample_axis).
struct dev_axis {
  int ntap;
  size_t in_len, out_len, pad_lo;
  float *wt;
  int32_t *idx, *start, *pad_src;
};

// One processed level: its size and spacing, the resamplers from full resolution (img) and
// from the next coarser level (up; unused at the top), the reference's nch planes.
struct dev_level {
  size_t h, w;
  double hy, hx, alpha_scale;
  dev_axis img_y, img_x, up_y, up_x;
  float *ref;
};

struct sf_gpu_flow {
  size_t H, W, C, HW, UE, max_read, max_count;
  int nch, top, lo, linear, want_flow, want_valid;
  sf_flow_params p;
  dev_level *lv;        // host array [n_levels], device pointers inside
  int n_levels;
  size_t max_h, max_w, max_P, rt_floats;
  cudaStream_t s_comp, s_copy;
  cudaEvent_t ev[N_CHUNK_EV], ev_done;
  int n_ev, have_done;
  // tables
  float *d_ky, *d_kx, *d_lo, *d_inv, *d_fill, *d_fy_w, *d_fx_w;
  int *d_fy_i, *d_fx_i;
  int ry, rx;
  // frames
  float *d_raw, *d_proc, *d_tmp, *d_mov, *d_out, *d_full, *d_ftmp, *d_flowi, *d_stats, *d_tw,
      *d_winit, *d_uvtop;
  int *d_tsrc;
  unsigned char *d_valid;
  // pyramid workspace, max_count frames (plane stride: the level's padded size)
  float *d_f2, *d_f2w, *d_rt, *d_uv, *d_puv, *d_d, *d_med, *d_J, *d_cuv, *d_co;
  // pinned
  float *h_in, *h_out, *h_flow, *h_stats, *h_tw;
  int *h_tsrc;
  unsigned char *h_valid;
};

static unsigned grid_of(size_t n) { return (unsigned)((n + FB - 1) / FB); }

// ---- preprocessing ---------------------------------------------------------------------------

// proc[f][k][i] = normalised channel k of raw frame f (planar), frames f0 .. f0+nf-1.
__global__ static void k_normalize(const float *raw, float *proc, size_t f0, size_t nf, size_t hw,
                                   size_t c, const float *lo, const float *inv) {
  size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= nf * c * hw) return;
  size_t f = f0 + t / (c * hw), r = t % (c * hw), k = r / hw, i = r % hw;
  proc[f * c * hw + k * hw + i] = sf_hd_normalize(raw[f * hw * c + i * c + k], lo[k], inv[k]);
}

// Vertical Gaussian pass over np planes of h x w (first plane p0).
__global__ static void k_smooth_v(const float *in, float *out, size_t p0, size_t np, long h, long w,
                                  const float *ky, int ry) {
  size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x, n = (size_t)(h * w);
  if (t >= np * n) return;
  size_t pl = p0 + t / n, i = t % n;
  out[pl * n + i] = sf_hd_smooth_v_px(in + pl * n, h, w, ky, ry, (long)i / w, (long)i % w);
}

__global__ static void k_smooth_h(const float *mid, float *out, size_t p0, size_t np, long h, long w,
                                  const float *kx, int rx) {
  size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x, n = (size_t)(h * w);
  if (t >= np * n) return;
  size_t pl = p0 + t / n, i = t % n;
  out[pl * n + i] = sf_hd_smooth_h_px(mid + pl * n, w, kx, rx, (long)i / w, (long)i % w);
}

// mov[k] = temporal smoothing of the read frames (fe floats each) for k < count.
__global__ static void k_temporal(const float *proc, float *mov, size_t count, size_t fe,
                                  const int *tsrc, const float *tw, int ntap) {
  size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= count * fe) return;
  size_t k = t / fe, i = t % fe;
  mov[t] = sf_hd_temporal_px(proc, fe, tsrc + k * (size_t)(ntap > 0 ? ntap : 1), tw, ntap, i);
}

// ---- resampling --------------------------------------------------------------------------------

// Vertical pass of np planes: in planes (in_h rows of in_w, row stride in_stride, plane stride
// in_plane) -> tmp planes (out_h x in_w, contiguous).
__global__ static void k_resample_v(const float *in, size_t in_stride, size_t in_plane, float *tmp,
                                    size_t np, size_t out_h, size_t in_w, dev_axis a) {
  size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x, n = out_h * in_w;
  if (t >= np * n) return;
  size_t pl = t / n, r = t % n;
  tmp[t] = sf_hd_resample_v_px(in + pl * in_plane, in_stride, a.idx, a.wt, a.ntap, r / in_w, r % in_w);
}

// Horizontal pass: tmp planes (out_h x in_w) -> out planes (out_h x out_w, row stride
// out_stride, plane stride out_plane).
__global__ static void k_resample_h(const float *tmp, size_t in_w, float *out, size_t out_stride,
                                    size_t out_plane, size_t np, size_t out_h, size_t out_w, dev_axis a) {
  size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x, n = out_h * out_w;
  if (t >= np * n) return;
  size_t pl = t / n, r = t % n, y = r / out_w, x = r % out_w;
  const float *row = tmp + pl * out_h * in_w + y * in_w;
  out[pl * out_plane + y * out_stride + x] =
      sf_hd_resample_h_px(row, in_w, a.pad_lo, a.pad_src, a.start, a.wt, a.ntap, x);
}

// Edge replication into the frame of np padded h x w planes (plane stride P).
__global__ static void k_pad_edge(float *a, size_t np, size_t h, size_t w, size_t P) {
  size_t S = w + 2, t = (size_t)blockIdx.x * blockDim.x + threadIdx.x, n = (h + 2) * S;
  if (t >= np * n) return;
  size_t pl = t / n, r = (t % n) / S, j = (t % n) % S;
  if (r >= 1 && r <= h && j >= 1 && j <= w) return;
  a[pl * P + r * S + j] = a[pl * P + sf_hd_pad_edge_src(r, j, h, w)];
}

// uv planes 2f, 2f+1 of every frame = the padded top-level initial flow (2 planes, stride P).
__global__ static void k_broadcast_uv(const float *top, float *uv, size_t nf, size_t P) {
  size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= nf * 2 * P) return;
  uv[t] = top[t % (2 * P)];
}

// ---- one level ---------------------------------------------------------------------------------

// f2w = f2 warped by the level's flow (cubic, 1/32 px when quant), the level's reference as
// fill: planes f * nch + k.
__global__ static void k_warp_level(const float *f2, float *f2w, const float *ref, const float *uv,
                                    size_t nf, int nch, long h, long w, size_t P, float sx, float sy,
                                    int quant) {
  size_t n = (size_t)(h * w), t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= nf * (size_t)nch * n) return;
  size_t pl = t / n, f = pl / (size_t)nch, k = pl % (size_t)nch, i = t % n;
  long y = (long)i / w, x = (long)i % w;
  size_t q = (size_t)(y + 1) * (size_t)(w + 2) + (size_t)(x + 1);
  float u = uv[(2 * f) * P + q], v = uv[(2 * f + 1) * P + q];
  f2w[t] = sf_hd_warp_flow_px(f2 + pl * n, ref + k * n, h, w, 1, 0, y, x, u, v, sx, sy, 1, quant, NULL);
}

// The tensors of every (frame, channel) over the padded grid: interior from the body, frame 0.
__global__ static void k_tensor(const float *f1, const float *f2w, float *J, size_t nf, int nch, long h,
                                long w, size_t P, int gray, float k0, float k1, float k2, float k3,
                                float k4, float k5) {
  size_t S = (size_t)w + 2, t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  size_t n = (size_t)(h * w), pn = ((size_t)h + 2) * S;
  if (t >= nf * (size_t)nch * pn) return;
  size_t pl = t / pn, f = pl / (size_t)nch, k = pl % (size_t)nch, r = (t % pn) / S, j = (t % pn) % S;
  float *Jk = J + (f * 6 * (size_t)nch + 6 * k) * P + r * S + j;
  if (r < 1 || r > (size_t)h || j < 1 || j > (size_t)w) {
    for (int m = 0; m < 6; m++) Jk[(size_t)m * P] = 0.0f;
    return;
  }
  const float kk[6] = {k0, k1, k2, k3, k4, k5};
  float o[6];
  sf_hd_tensor_px(gray, f1 + k * n, f2w + pl * n, h, w, (long)r - 1, (long)j - 1, kk, o);
  for (int m = 0; m < 6; m++) Jk[(size_t)m * P] = o[m];
}

// Constant smoothness parts cu, cv (planes 2f, 2f+1) of the interior from the flow uv.
__global__ static void k_sor_prep(const float *uv, float *cuv, size_t nf, size_t h, size_t w, size_t P,
                                  float wx, float wy) {
  size_t S = w + 2, t = (size_t)blockIdx.x * blockDim.x + threadIdx.x, n = h * w;
  if (t >= nf * 2 * n) return;
  size_t pl = t / n, i = t % n, q = (i / w + 1) * S + i % w + 1;
  cuv[pl * P + q] = sf_hd_smooth_part(uv + pl * P + q, S, wx, wy);
}

// Refresh of every interior pixel's coefficients (b1, b2, a12, r1, r2: planes 5f .. 5f+4).
__global__ static void k_sor_coef(const float *J, const float *d, const float *cuv, float *co, size_t nf,
                                  size_t h, size_t w, size_t P, sf_hd_sor_consts c) {
  size_t S = w + 2, t = (size_t)blockIdx.x * blockDim.x + threadIdx.x, n = h * w;
  if (t >= nf * n) return;
  size_t f = t / n, i = t % n, q = (i / w + 1) * S + i % w + 1;
  float *o = co + 5 * f * P + q;
  sf_hd_sor_coef_px(&c, J + f * 6 * (size_t)c.nch * P, P, q, d[2 * f * P + q], d[(2 * f + 1) * P + q],
                    cuv[2 * f * P + q], cuv[(2 * f + 1) * P + q], o, o + P, o + 2 * P, o + 3 * P, o + 4 * P);
}

// Neumann frame of the increments du, dv (planes 2f, 2f+1): each frame pixel copies its
// interior neighbour (corners untouched, never read).
__global__ static void k_sor_frame(float *d, size_t np, size_t h, size_t w, size_t P) {
  size_t S = w + 2, nfr = 2 * S + 2 * h, t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= np * nfr) return;
  size_t pl = t / nfr, e = t % nfr, r, j;
  if (e < S) r = 0, j = e;
  else if (e < 2 * S) r = h + 1, j = e - S;
  else if (e < 2 * S + h) r = e - 2 * S + 1, j = 0;
  else r = e - 2 * S - h + 1, j = w + 1;
  float *a = d + pl * P;
  a[r * S + j] = a[sf_hd_neumann_src(r, j, h, w)];
}

// One colour's half-sweep: the interior pixels (r, j) with r + j = colour (mod 2).
__global__ static void k_sor_sweep(float *d, const float *co, size_t nf, size_t h, size_t w, size_t P,
                                   int colour, float wx, float wy, float c1) {
  size_t S = w + 2, half = (w + 1) / 2, t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  size_t n = h * half;
  if (t >= nf * n) return;
  size_t f = t / n, e = t % n, r = e / half + 1;
  size_t j = 2 * (e % half) + 1 + (size_t)(((size_t)colour + r + 1) & 1);
  if (j > w) return;
  size_t q = r * S + j;
  const float *o = co + 5 * f * P + q;
  sf_hd_sweep_at(d + 2 * f * P, d + (2 * f + 1) * P, S, q, o[0], o[P], o[2 * P], o[3 * P], o[4 * P], wx, wy,
                 c1);
}

// 5x5 median of the increments (np planes, interior) into med.
__global__ static void k_median(const float *d, float *med, size_t np, long h, long w, size_t P) {
  size_t S = (size_t)w + 2, n = (size_t)(h * w), t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= np * n) return;
  size_t pl = t / n, i = t % n;
  long y = (long)i / w, x = (long)i % w;
  med[pl * P + (size_t)(y + 1) * S + (size_t)x + 1] = sf_hd_median5_px(d + pl * P + S + 1, S, h, w, y, x);
}

// uv += d over the interior of np planes.
__global__ static void k_accumulate(float *uv, const float *d, size_t np, size_t h, size_t w, size_t P) {
  size_t S = w + 2, n = h * w, t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= np * n) return;
  size_t pl = t / n, i = t % n, q = pl * P + (i / w + 1) * S + i % w + 1;
  uv[q] += d[q];
}

// ---- full resolution ---------------------------------------------------------------------------

// Final upsampling, across: np planes of the finest level (ph rows, padded stride ps, plane
// stride P) -> ftmp (np planes of ph x W).
__global__ static void k_up_h(const float *puv, float *ftmp, size_t np, size_t ph, size_t ps, size_t P,
                              size_t W, const int *fx_i, const float *fx_w) {
  size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x, n = ph * W;
  if (t >= np * n) return;
  size_t pl = t / n, r = (t % n) / W, x = t % W;
  ftmp[t] = sf_hd_upsample_h_px(puv + pl * P + (r + 1) * ps + 1, fx_i, fx_w, x);
}

// ... and down: ftmp -> full (np planes of H x W).
__global__ static void k_up_v(const float *ftmp, float *full, size_t np, size_t ph, size_t H, size_t W,
                              const int *fy_i, const float *fy_w) {
  size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x, n = H * W;
  if (t >= np * n) return;
  size_t pl = t / n, y = (t % n) / W, x = t % W;
  full[t] = sf_hd_upsample_v_px(ftmp + pl * ph * W, W, fy_i, fy_w, y, x);
}

// Level 0 is full resolution: the interiors as they are.
__global__ static void k_unpad(const float *puv, float *full, size_t np, size_t H, size_t W, size_t P) {
  size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x, n = H * W;
  if (t >= np * n) return;
  size_t pl = t / n, y = (t % n) / W, x = t % W;
  full[t] = puv[pl * P + (y + 1) * (W + 2) + x + 1];
}

// The segment's initial flow: winit[c][i] = mean over the first n0 frames of plane 2k + c, summed
// in double in frame order (flow_prepare).
__global__ static void k_winit(const float *full, float *winit, size_t n0, size_t hw) {
  size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= 2 * hw) return;
  double s = 0.0;
  for (size_t k = 0; k < n0; k++) s += full[k * 2 * hw + t];
  winit[t] = (float)(s / (double)n0);
}

// The registered frames: raw frame (first_reg + f) warped by its flow, the reference as fill.
__global__ static void k_warp_final(const float *raw, const float *fill, const float *full, float *out,
                                    unsigned char *valid, size_t nf, long H, long W, long C, int cubic) {
  size_t hw = (size_t)(H * W), t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= nf * hw * (size_t)C) return;
  size_t f = t / (hw * (size_t)C), e = t % (hw * (size_t)C), p = e / (size_t)C;
  long k = (long)(e % (size_t)C), y = (long)(p / (size_t)W), x = (long)(p % (size_t)W);
  const float *fu = full + 2 * f * hw, *fv = fu + hw;
  int inb = 0;
  out[t] = sf_hd_warp_flow_px(raw + f * hw * (size_t)C, fill, H, W, C, k, y, x, fu[p], fv[p], 1.0f, 1.0f,
                              cubic, 0, &inb);
  if (valid && k == 0) valid[f * hw + p] = (unsigned char)inb;
}

// [u, v] interleaved per pixel (the /flow layout).
__global__ static void k_interleave(const float *full, float *flowi, size_t nf, size_t hw) {
  size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= nf * hw) return;
  size_t f = t / hw, i = t % hw;
  flowi[2 * t] = full[2 * f * hw + i];
  flowi[2 * t + 1] = full[(2 * f + 1) * hw + i];
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
  for (size_t y = threadIdx.x; y < H; y += blockDim.x) sd += sf_hd_grad_line_sum(u + y * W, 1, W);
  for (size_t x = threadIdx.x; x < W; x += blockDim.x) sd += sf_hd_grad_line_sum(v + x, W, H);
  s[0][threadIdx.x] = sm;
  s[1][threadIdx.x] = mx;
  s[2][threadIdx.x] = sd;
  s[3][threadIdx.x] = su;
  s[4][threadIdx.x] = sv;
  __syncthreads();
  for (unsigned o = blockDim.x / 2; o > 0; o >>= 1) {
    if (threadIdx.x < o) {
      s[0][threadIdx.x] += s[0][threadIdx.x + o];
      s[1][threadIdx.x] = s[1][threadIdx.x] > s[1][threadIdx.x + o] ? s[1][threadIdx.x] : s[1][threadIdx.x + o];
      for (int q = 2; q < 5; q++) s[q][threadIdx.x] += s[q][threadIdx.x + o];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    float r[4];
    sf_hd_flow_stats_finish(s[0][0], s[1][0], s[2][0], s[3][0], s[4][0], (double)hw, r);
    for (int q = 0; q < 4; q++) stats[(size_t)q * nf + f] = r[q];
  }
}

// ---- host side -------------------------------------------------------------------------------

#define LAUNCH_CHECK()                                                                             \
  do {                                                                                             \
    SF_CUDA(cudaGetLastError());                                                                   \
  } while (0)

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

static int axis_upload(const sf_resample_axis *a, int vertical, dev_axis *d) {
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

static void axis_free(dev_axis *d) {
  cudaFree(d->wt);
  cudaFree(d->idx);
  cudaFree(d->start);
  cudaFree(d->pad_src);
  memset(d, 0, sizeof *d);
}

extern "C" void sf_gpu_flow_destroy(sf_gpu_flow **gp) {
  sf_gpu_flow *g = gp ? *gp : NULL;
  if (!g) return;
  if (g->s_comp) cudaStreamSynchronize(g->s_comp);
  if (g->s_copy) cudaStreamSynchronize(g->s_copy);
  if (g->lv)
    for (int i = 0; i < g->n_levels; i++) {
      axis_free(&g->lv[i].img_y);
      axis_free(&g->lv[i].img_x);
      axis_free(&g->lv[i].up_y);
      axis_free(&g->lv[i].up_x);
      cudaFree(g->lv[i].ref);
    }
  free(g->lv);
  float *fl[] = {g->d_ky, g->d_kx, g->d_lo, g->d_inv, g->d_fill, g->d_fy_w, g->d_fx_w, g->d_raw,
                 g->d_proc, g->d_tmp, g->d_mov, g->d_out, g->d_full, g->d_ftmp, g->d_flowi, g->d_stats,
                 g->d_tw, g->d_winit, g->d_uvtop, g->d_f2, g->d_f2w, g->d_rt, g->d_uv, g->d_puv,
                 g->d_d, g->d_med, g->d_J, g->d_cuv, g->d_co};
  for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++) cudaFree(fl[i]);
  cudaFree(g->d_fy_i);
  cudaFree(g->d_fx_i);
  cudaFree(g->d_tsrc);
  cudaFree(g->d_valid);
  cudaFreeHost(g->h_in);
  cudaFreeHost(g->h_out);
  cudaFreeHost(g->h_flow);
  cudaFreeHost(g->h_stats);
  cudaFreeHost(g->h_tw);
  cudaFreeHost(g->h_tsrc);
  cudaFreeHost(g->h_valid);
  for (int i = 0; i < g->n_ev; i++) cudaEventDestroy(g->ev[i]);
  if (g->have_done) cudaEventDestroy(g->ev_done);
  if (g->s_comp) cudaStreamDestroy(g->s_comp);
  if (g->s_copy) cudaStreamDestroy(g->s_copy);
  free(g);
  *gp = NULL;
}

extern "C" int sf_gpu_flow_create(const sf_gpu_flow_config *cfg, sf_gpu_flow **out) {
  int status = 0;
  sf_gpu_flow *g = NULL;
  const sf_pyramid *pyr = sf_flow_pyramid(cfg->plan);
  const sf_flow_params *p = sf_flow_plan_params(cfg->plan);
  *out = NULL;
  SF_CHECK(p->a_smooth == 1.0, SF_ERR_USAGE, "the device flow solver needs --a-smooth 1 (got %g)", p->a_smooth);
  SF_CHECK(cfg->c >= 1 && cfg->c <= SF_FLOW_MAX_CH && cfg->max_count >= 1 && cfg->max_read >= cfg->max_count,
           SF_ERR_USAGE, "device flow: bad configuration");
  g = (sf_gpu_flow *)calloc(1, sizeof *g);
  SF_CHECK(g != NULL, SF_ERR_NOMEM, "out of memory");
  g->H = cfg->h;
  g->W = cfg->w;
  g->C = cfg->c;
  g->HW = cfg->h * cfg->w;
  g->UE = g->HW * cfg->c;
  g->nch = (int)cfg->c;
  g->max_read = cfg->max_read;
  g->max_count = cfg->max_count;
  g->linear = cfg->linear;
  g->want_flow = cfg->want_flow;
  g->want_valid = cfg->want_valid;
  g->p = *p;
  g->top = pyr->ltop;
  g->lo = pyr->min_level;
  g->n_levels = pyr->n_levels;
  SF_CUDA(cudaStreamCreateWithFlags(&g->s_comp, cudaStreamNonBlocking));
  SF_CUDA(cudaStreamCreateWithFlags(&g->s_copy, cudaStreamNonBlocking));
  for (; g->n_ev < N_CHUNK_EV; g->n_ev++) SF_CUDA(cudaEventCreateWithFlags(&g->ev[g->n_ev], cudaEventDisableTiming));
  SF_CUDA(cudaEventCreateWithFlags(&g->ev_done, cudaEventDisableTiming));
  g->have_done = 1;
  g->lv = (dev_level *)calloc((size_t)g->n_levels, sizeof *g->lv);
  SF_CHECK(g->lv != NULL, SF_ERR_NOMEM, "out of memory");
  {
    const size_t nch = g->C;
    size_t rt = 0;
    for (int i = g->lo; i <= g->top; i++) {
      dev_level *L = &g->lv[i];
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
      rt = rt > pl->h * g->W ? rt : pl->h * g->W;
      if (i < g->top) {
        sf_resample_axes(sf_flow_plan_resampler(cfg->plan, i, 1), &ay, &ax);
        SF_CALL(axis_upload(&ay, 1, &L->up_y));
        SF_CALL(axis_upload(&ax, 0, &L->up_x));
        rt = rt > pl->h * pyr->lv[i + 1].w ? rt : pl->h * pyr->lv[i + 1].w;
      }
      SF_CALL(dev_upload(&L->ref, sf_flow_plan_reference(cfg->plan, i), nch * pl->h * pl->w));
      g->max_h = g->max_h > pl->h ? g->max_h : pl->h;
      g->max_w = g->max_w > pl->w ? g->max_w : pl->w;
    }
    g->max_P = (g->max_h + 2) * (g->max_w + 2);
    g->rt_floats = rt;
    const float *ky, *kx;
    sf_smooth_taps(cfg->smooth, &ky, &g->ry, &kx, &g->rx);
    SF_CALL(dev_upload(&g->d_ky, ky, (size_t)(2 * g->ry + 1)));
    SF_CALL(dev_upload(&g->d_kx, kx, (size_t)(2 * g->rx + 1)));
    SF_CALL(dev_upload(&g->d_lo, cfg->lo, nch));
    SF_CALL(dev_upload(&g->d_inv, cfg->inv, nch));
    SF_CALL(dev_upload(&g->d_fill, cfg->fill, g->UE));
    if (g->lo > 0) {
      const int *fy_i, *fx_i;
      const float *fy_w, *fx_w;
      sf_flow_plan_final_taps(cfg->plan, &fy_i, &fy_w, &fx_i, &fx_w);
      SF_CALL(dev_upload(&g->d_fy_i, fy_i, 4 * g->H));
      SF_CALL(dev_upload(&g->d_fy_w, fy_w, 4 * g->H));
      SF_CALL(dev_upload(&g->d_fx_i, fx_i, 4 * g->W));
      SF_CALL(dev_upload(&g->d_fx_w, fx_w, 4 * g->W));
    }
    const size_t R = g->max_read, F = g->max_count, P = g->max_P, L = g->max_h * g->max_w;
    const size_t ph = pyr->lv[g->lo].h;
    SF_CALL(dev_alloc(&g->d_raw, R * g->UE));
    SF_CALL(dev_alloc(&g->d_proc, R * nch * g->HW));
    SF_CALL(dev_alloc(&g->d_tmp, R * nch * g->HW));
    SF_CALL(dev_alloc(&g->d_mov, F * nch * g->HW));
    SF_CALL(dev_alloc(&g->d_out, F * g->UE));
    SF_CALL(dev_alloc(&g->d_full, F * 2 * g->HW));
    SF_CALL(dev_alloc(&g->d_ftmp, F * 2 * ph * g->W));
    SF_CALL(dev_alloc(&g->d_flowi, F * 2 * g->HW));
    SF_CALL(dev_alloc(&g->d_stats, 4 * F));
    SF_CALL(dev_alloc(&g->d_tw, 2 * SF_GAUSS_MAX_RADIUS + 1));
    SF_CALL(dev_alloc(&g->d_tsrc, F * (2 * SF_GAUSS_MAX_RADIUS + 1)));
    SF_CALL(dev_alloc(&g->d_winit, 2 * g->HW));
    SF_CALL(dev_alloc(&g->d_uvtop, 2 * P));
    SF_CALL(dev_alloc(&g->d_valid, F * g->HW));
    SF_CALL(dev_alloc(&g->d_f2, F * nch * L));
    SF_CALL(dev_alloc(&g->d_f2w, F * nch * L));
    SF_CALL(dev_alloc(&g->d_rt, F * (nch > 2 ? nch : 2) * rt));
    SF_CALL(dev_alloc(&g->d_uv, F * 2 * P));
    SF_CALL(dev_alloc(&g->d_puv, F * 2 * P));
    SF_CALL(dev_alloc(&g->d_d, F * 2 * P));
    SF_CALL(dev_alloc(&g->d_med, F * 2 * P));
    SF_CALL(dev_alloc(&g->d_J, F * 6 * nch * P));
    SF_CALL(dev_alloc(&g->d_cuv, F * 2 * P));
    SF_CALL(dev_alloc(&g->d_co, F * 5 * P));
    SF_CUDA_AS(SF_ERR_NOMEM, cudaMallocHost((void **)&g->h_in, R * g->UE * sizeof(float)));
    SF_CUDA_AS(SF_ERR_NOMEM, cudaMallocHost((void **)&g->h_out, F * g->UE * sizeof(float)));
    SF_CUDA_AS(SF_ERR_NOMEM, cudaMallocHost((void **)&g->h_flow, (g->want_flow ? F * 2 * g->HW : 1) * sizeof(float)));
    SF_CUDA_AS(SF_ERR_NOMEM, cudaMallocHost((void **)&g->h_stats, 4 * F * sizeof(float)));
    SF_CUDA_AS(SF_ERR_NOMEM, cudaMallocHost((void **)&g->h_tw, (2 * SF_GAUSS_MAX_RADIUS + 1) * sizeof(float)));
    SF_CUDA_AS(SF_ERR_NOMEM, cudaMallocHost((void **)&g->h_tsrc, F * (2 * SF_GAUSS_MAX_RADIUS + 1) * sizeof(int)));
    SF_CUDA_AS(SF_ERR_NOMEM, cudaMallocHost((void **)&g->h_valid, (g->want_valid ? F * g->HW : 1)));
  }
  *out = g;
  g = NULL;
cleanup:
  sf_gpu_flow_destroy(&g);
  return status;
}

// The pyramid of nf frames of mov (nch planes of H x W each) on s_comp, from zero (init = 0) or
// from the initial flow d_winit; the full-resolution flows into d_full (planes 2f: u, 2f+1: v).
static int run_pyramid(sf_gpu_flow *g, const float *mov, size_t nf, int init) {
  int status = 0;
  cudaStream_t st = g->s_comp;
  const size_t nch = g->C, HW = g->HW, W = g->W;
  const sf_flow_params *p = &g->p;
  size_t ph = 0, pw = 0; // previous (coarser) level
  for (int i = g->top; i >= g->lo; i--) {
    const dev_level *L = &g->lv[i];
    const size_t h = L->h, w = L->w, S = w + 2, P = (h + 2) * S, n = h * w;
    // both images at this level: vertical then horizontal taps, every (frame, channel)
    k_resample_v<<<grid_of(nf * nch * h * W), FB, 0, st>>>(mov, W, HW, g->d_rt, nf * nch, h, W, L->img_y);
    k_resample_h<<<grid_of(nf * nch * n), FB, 0, st>>>(g->d_rt, W, g->d_f2, w, n, nf * nch, h, w, L->img_x);
    LAUNCH_CHECK();
    const float *f2w = g->d_f2;
    if (i == g->top) {
      // the coarsest level starts from the initial flow and does not warp (§1.4 item 17)
      if (init) {
        k_resample_v<<<grid_of(2 * h * W), FB, 0, st>>>(g->d_winit, W, HW, g->d_rt, 2, h, W, L->img_y);
        k_resample_h<<<grid_of(2 * n), FB, 0, st>>>(g->d_rt, W, g->d_uvtop + S + 1, S, P, 2, h, w, L->img_x);
        k_pad_edge<<<grid_of(2 * P), FB, 0, st>>>(g->d_uvtop, 2, h, w, P);
        k_broadcast_uv<<<grid_of(nf * 2 * P), FB, 0, st>>>(g->d_uvtop, g->d_uv, nf, P);
      } else {
        SF_CUDA(cudaMemsetAsync(g->d_uv, 0, nf * 2 * P * sizeof(float), st));
      }
      LAUNCH_CHECK();
    } else {
      const size_t ps = pw + 2, pP = (ph + 2) * ps;
      k_resample_v<<<grid_of(nf * 2 * h * pw), FB, 0, st>>>(g->d_puv + ps + 1, ps, pP, g->d_rt, nf * 2, h, pw,
                                                             L->up_y);
      k_resample_h<<<grid_of(nf * 2 * n), FB, 0, st>>>(g->d_rt, pw, g->d_uv + S + 1, S, P, nf * 2, h, w, L->up_x);
      k_pad_edge<<<grid_of(nf * 2 * P), FB, 0, st>>>(g->d_uv, nf * 2, h, w, P);
      k_warp_level<<<grid_of(nf * nch * n), FB, 0, st>>>(g->d_f2, g->d_f2w, L->ref, g->d_uv, nf, (int)nch, (long)h,
                                                         (long)w, P, (float)(1.0 / L->hx), (float)(1.0 / L->hy),
                                                         p->warp_q32 ? 1 : 0);
      LAUNCH_CHECK();
      f2w = g->d_f2w;
    }
    float kk[6];
    sf_hd_tensor_consts(L->hy, L->hx, kk);
    k_tensor<<<grid_of(nf * nch * P), FB, 0, st>>>(L->ref, f2w, g->d_J, nf, (int)nch, (long)h, (long)w, P,
                                                   p->constancy == SF_CONST_GRAY, kk[0], kk[1], kk[2], kk[3],
                                                   kk[4], kk[5]);
    LAUNCH_CHECK();
    // the level solver (sf_solver_execute's parameters for this level), red-black order
    sf_solver_params sp;
    memset(&sp, 0, sizeof sp);
    sp.alpha_x = p->alpha[0] * L->alpha_scale;
    sp.alpha_y = p->alpha[1] * L->alpha_scale;
    sp.hx = L->hx;
    sp.hy = L->hy;
    sp.a_smooth = p->a_smooth;
    sp.nch = (int)nch;
    sp.iterations = p->iterations;
    sp.update_lag = p->update_lag;
    sp.omega = p->omega;
    for (size_t k = 0; k < nch; k++) {
      sp.a_data[k] = p->a_data[k];
      sp.weight[k] = p->weight[k];
    }
    sf_hd_sor_consts c;
    sf_hd_sor_consts_init(&c, &sp);
    const float wx = (float)(sp.alpha_x / (sp.hx * sp.hx)), wy = (float)(sp.alpha_y / (sp.hy * sp.hy));
    const float c1 = (float)(1.0 - sp.omega);
    SF_CUDA(cudaMemsetAsync(g->d_d, 0, nf * 2 * P * sizeof(float), st));
    if (sp.iterations > 0) {
      k_sor_prep<<<grid_of(nf * 2 * n), FB, 0, st>>>(g->d_uv, g->d_cuv, nf, h, w, P, wx, wy);
      const size_t nfr = 2 * S + 2 * h, nhalf = h * ((w + 1) / 2);
      for (int t = 0; t < sp.iterations; t++) {
        c.real = sf_hd_refresh_due(t, sp.update_lag);
        if (t == 0 || c.real)
          k_sor_coef<<<grid_of(nf * n), FB, 0, st>>>(g->d_J, g->d_d, g->d_cuv, g->d_co, nf, h, w, P, c);
        k_sor_frame<<<grid_of(nf * 2 * nfr), FB, 0, st>>>(g->d_d, nf * 2, h, w, P);
        k_sor_sweep<<<grid_of(nf * nhalf), FB, 0, st>>>(g->d_d, g->d_co, nf, h, w, P, 0, wx, wy, c1);
        k_sor_sweep<<<grid_of(nf * nhalf), FB, 0, st>>>(g->d_d, g->d_co, nf, h, w, P, 1, wx, wy, c1);
      }
      LAUNCH_CHECK();
    }
    const float *d = g->d_d;
    if ((h < w ? h : w) > 5) {
      // the increments, not the accumulated flow, are median filtered (§1.4 item 22)
      k_median<<<grid_of(nf * 2 * n), FB, 0, st>>>(g->d_d, g->d_med, nf * 2, (long)h, (long)w, P);
      d = g->d_med;
    }
    k_accumulate<<<grid_of(nf * 2 * n), FB, 0, st>>>(g->d_uv, d, nf * 2, h, w, P);
    LAUNCH_CHECK();
    float *t = g->d_puv;
    g->d_puv = g->d_uv;
    g->d_uv = t;
    ph = h;
    pw = w;
  }
  {
    const size_t ps = pw + 2, pP = (ph + 2) * ps;
    if (g->lo > 0) {
      k_up_h<<<grid_of(nf * 2 * ph * W), FB, 0, st>>>(g->d_puv, g->d_ftmp, nf * 2, ph, ps, pP, W, g->d_fx_i,
                                                      g->d_fx_w);
      k_up_v<<<grid_of(nf * 2 * HW), FB, 0, st>>>(g->d_ftmp, g->d_full, nf * 2, ph, g->H, W, g->d_fy_i, g->d_fy_w);
    } else {
      k_unpad<<<grid_of(nf * 2 * HW), FB, 0, st>>>(g->d_puv, g->d_full, nf * 2, g->H, W, pP);
    }
    LAUNCH_CHECK();
  }
cleanup:
  return status;
}

extern "C" int sf_gpu_flow_execute(sf_gpu_flow *g, const sf_gpu_flow_batch *b, sf_gpu_flow_out *out) {
  int status = 0;
  const size_t R = b->n_read, F = b->count, nch = g->C, HW = g->HW, UE = g->UE, fe = nch * HW;
  const int ntap = b->ntap, nt = ntap > 0 ? ntap : 1;
  cudaStream_t st = g->s_comp, cp = g->s_copy;
  SF_CHECK(F >= 1 && F <= g->max_count && R <= g->max_read && b->first_reg + F <= R && b->n_init >= 1 &&
               b->n_init <= F && ntap <= 2 * SF_GAUSS_MAX_RADIUS + 1,
           SF_ERR_INTERNAL, "device flow: batch of %zu frames (%zu read) outside the plan", F, R);
  // temporal taps first (small), then the frames in chunks on the copy stream; each chunk's
  // normalisation and spatial smoothing starts as soon as it has arrived
  memcpy(g->h_tsrc, b->tsrc, F * (size_t)nt * sizeof(int));
  if (ntap > 0) memcpy(g->h_tw, b->tw, (size_t)ntap * sizeof(float));
  SF_CUDA(cudaMemcpyAsync(g->d_tsrc, g->h_tsrc, F * (size_t)nt * sizeof(int), cudaMemcpyHostToDevice, cp));
  if (ntap > 0) SF_CUDA(cudaMemcpyAsync(g->d_tw, g->h_tw, (size_t)ntap * sizeof(float), cudaMemcpyHostToDevice, cp));
  memcpy(g->h_in, b->in, R * UE * sizeof(float));
  {
    const size_t chunk = (R + N_CHUNK_EV - 1) / N_CHUNK_EV;
    int e = 0;
    for (size_t f0 = 0; f0 < R; f0 += chunk, e++) {
      const size_t nf = R - f0 < chunk ? R - f0 : chunk;
      SF_CUDA(cudaMemcpyAsync(g->d_raw + f0 * UE, g->h_in + f0 * UE, nf * UE * sizeof(float), cudaMemcpyHostToDevice,
                              cp));
      SF_CUDA(cudaEventRecord(g->ev[e], cp));
      SF_CUDA(cudaStreamWaitEvent(st, g->ev[e], 0));
      k_normalize<<<grid_of(nf * fe), FB, 0, st>>>(g->d_raw, g->d_proc, f0, nf, HW, nch, g->d_lo, g->d_inv);
      k_smooth_v<<<grid_of(nf * fe), FB, 0, st>>>(g->d_proc, g->d_tmp, f0 * nch, nf * nch, (long)g->H, (long)g->W,
                                                  g->d_ky, g->ry);
      k_smooth_h<<<grid_of(nf * fe), FB, 0, st>>>(g->d_tmp, g->d_proc, f0 * nch, nf * nch, (long)g->H, (long)g->W,
                                                  g->d_kx, g->rx);
      LAUNCH_CHECK();
    }
  }
  k_temporal<<<grid_of(F * fe), FB, 0, st>>>(g->d_proc, g->d_mov, F, fe, g->d_tsrc, g->d_tw, ntap);
  LAUNCH_CHECK();
  // the segment's initial flow (decision 3), then every frame's flow from it
  SF_CALL(run_pyramid(g, g->d_mov, b->n_init, 0));
  k_winit<<<grid_of(2 * HW), FB, 0, st>>>(g->d_full, g->d_winit, b->n_init, HW);
  LAUNCH_CHECK();
  SF_CALL(run_pyramid(g, g->d_mov, F, 1));
  k_warp_final<<<grid_of(F * UE), FB, 0, st>>>(g->d_raw + b->first_reg * UE, g->d_fill, g->d_full, g->d_out,
                                              g->want_valid ? g->d_valid : NULL, F, (long)g->H, (long)g->W,
                                              (long)nch, g->linear ? 0 : 1);
  LAUNCH_CHECK();
  // the registered frames go back on the copy stream while the statistics are computed
  SF_CUDA(cudaEventRecord(g->ev_done, st));
  SF_CUDA(cudaStreamWaitEvent(cp, g->ev_done, 0));
  SF_CUDA(cudaMemcpyAsync(g->h_out, g->d_out, F * UE * sizeof(float), cudaMemcpyDeviceToHost, cp));
  if (g->want_valid)
    SF_CUDA(cudaMemcpyAsync(g->h_valid, g->d_valid, F * HW, cudaMemcpyDeviceToHost, cp));
  k_stats<<<(unsigned)F, FB, 0, st>>>(g->d_full, g->d_stats, F, g->H, g->W);
  LAUNCH_CHECK();
  SF_CUDA(cudaMemcpyAsync(g->h_stats, g->d_stats, 4 * F * sizeof(float), cudaMemcpyDeviceToHost, st));
  if (g->want_flow) {
    k_interleave<<<grid_of(F * HW), FB, 0, st>>>(g->d_full, g->d_flowi, F, HW);
    LAUNCH_CHECK();
    SF_CUDA(cudaMemcpyAsync(g->h_flow, g->d_flowi, F * 2 * HW * sizeof(float), cudaMemcpyDeviceToHost, st));
  }
  SF_CUDA(cudaStreamSynchronize(st));
  SF_CUDA(cudaStreamSynchronize(cp));
  out->registered = g->h_out;
  out->stats = g->h_stats;
  out->flow = g->want_flow ? g->h_flow : NULL;
  out->valid = g->want_valid ? g->h_valid : NULL;
cleanup:
  return status;
}
