// The rigid registration of a batch of frames on one device (gpu_rigid.h). Every kernel is a
// grid over the batch's elements that calls the per-element bodies the CPU kernels and the
// host tests run (kernels/xcorr_rigid_hd.h, kernels/warp_shift_hd.h); the per-frame
// reductions (mean, argmax, flat spectrum) are one block per frame. NOT YET RUN ON A DEVICE:
// compiled warning-free for sm_90 + PTX; benchmarks/gpu_check.sh is its first run.
#include <cuda_runtime.h>
#include <cufft.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gpu/cuda_check.h"
#include "gpu/gpu_rigid.h"
#include "kernels/warp_shift_hd.h"
#include "kernels/xcorr_rigid_hd.h"

// Calls a cuFFT function; on a result other than CUFFT_SUCCESS reports it and jumps to
// cleanup with SF_ERR_IO (SF_ERR_NOMEM for an allocation failure). Requires `int status` and
// `cleanup:`.
#define SF_CUFFT(call)                                                                             \
  do {                                                                                             \
    cufftResult sf_cufft_rc_ = (call);                                                             \
    if (sf_cufft_rc_ != CUFFT_SUCCESS) {                                                           \
      status = sf_error_report(sf_cufft_rc_ == CUFFT_ALLOC_FAILED ? SF_ERR_NOMEM : SF_ERR_IO,      \
                               __FILE__, __LINE__, __func__, "%s failed: cuFFT error %d", #call,   \
                               (int)sf_cufft_rc_);                                                 \
      goto cleanup;                                                                                \
    }                                                                                              \
  } while (0)

enum { SF_GPU_BLOCK = 256 };

struct sf_gpu_rigid {
  size_t h, w, ch, wc, hw, ue, nsp, n, max_batch, plan_batch;
  int up, linear;
  cudaStream_t stream;
  cufftHandle fwd, inv, fwd1; // batched r2c and c2r of plan_batch frames; r2c of one frame
  int have_batch_plans, have_fwd1;
  float *d_in, *d_out, *d_real, *d_fill, *d_win, *d_gain, *d_wch, *d_mean, *d_shift;
  float *d_spec, *d_spec2, *d_ref; // interleaved half spectra (cufftComplex)
  float *d_exr, *d_exi, *d_eyr, *d_eyi, *d_s1r, *d_s1i, *d_surf;
  double *d_center, *d_best;
  int *d_active, *d_flat;
  float *h_in, *h_out, *h_shift; // pinned
};

static unsigned grid_of(size_t n) { return (unsigned)((n + SF_GPU_BLOCK - 1) / SF_GPU_BLOCK); }

// ---- kernels: one thread per element, frame f = t / (elements per frame) ----------------

__global__ static void k_gray(const float *in, float *gray, size_t count, size_t hw, size_t ch,
                              const float *wch) {
  size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= count * hw) return;
  size_t f = t / hw, i = t % hw;
  gray[t] = sf_hd_combine(in + f * hw * ch, i, ch, wch);
}

// One block per frame: the mean as a sum in double (the CPU sums in double in pixel order).
__global__ static void k_mean(const float *gray, float *mean, size_t hw) {
  __shared__ double s[SF_GPU_BLOCK];
  const float *g = gray + (size_t)blockIdx.x * hw;
  double acc = 0.0;
  for (size_t i = threadIdx.x; i < hw; i += blockDim.x) acc += g[i];
  s[threadIdx.x] = acc;
  __syncthreads();
  for (unsigned o = blockDim.x / 2; o > 0; o >>= 1) {
    if (threadIdx.x < o) s[threadIdx.x] += s[threadIdx.x + o];
    __syncthreads();
  }
  if (threadIdx.x == 0) mean[blockIdx.x] = (float)(s[0] / (double)hw);
}

__global__ static void k_window(float *real, const float *mean, const float *win, size_t count,
                                size_t hw) {
  size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= count * hw) return;
  real[t] = sf_hd_xcorr_windowed(real[t], mean[t / hw], win[t % hw]);
}

__global__ static void k_cross(float *spec, float *spec2, const float *ref, const float *gain,
                               size_t count, size_t nsp) {
  size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= count * nsp) return;
  size_t i = t % nsp;
  float r, im;
  sf_hd_xcorr_cross_power(spec[2 * t], spec[2 * t + 1], ref[2 * i], ref[2 * i + 1], gain[i], &r, &im);
  spec[2 * t] = spec2[2 * t] = r;
  spec[2 * t + 1] = spec2[2 * t + 1] = im;
}

// One block per frame: whether its cross-power spectrum is zero everywhere (no contrast).
__global__ static void k_flat(const float *spec, int *flat, size_t nsp) {
  const float *s = spec + 2 * nsp * (size_t)blockIdx.x;
  int any = 0;
  for (size_t i = threadIdx.x; i < 2 * nsp && !any; i += blockDim.x) any = s[i] != 0.0f;
  any = __syncthreads_or(any);
  if (threadIdx.x == 0) flat[blockIdx.x] = !any;
}

// One block per frame: the correlation's first-index argmax, then the coarse shift.
__global__ static void k_argmax(const float *real, size_t h, size_t w, double *center) {
  __shared__ float sv[SF_GPU_BLOCK];
  __shared__ size_t si[SF_GPU_BLOCK];
  const size_t hw = h * w;
  const float *c = real + (size_t)blockIdx.x * hw;
  float bv = -INFINITY;
  size_t bi = SIZE_MAX;
  for (size_t i = threadIdx.x; i < hw; i += blockDim.x)
    if (bi == SIZE_MAX || sf_hd_argmax_better(bv, bi, c[i], i)) {
      bv = c[i];
      bi = i;
    }
  sv[threadIdx.x] = bv;
  si[threadIdx.x] = bi;
  __syncthreads();
  for (unsigned o = blockDim.x / 2; o > 0; o >>= 1) {
    if (threadIdx.x < o && si[threadIdx.x + o] != SIZE_MAX &&
        (si[threadIdx.x] == SIZE_MAX ||
         sf_hd_argmax_better(sv[threadIdx.x], si[threadIdx.x], sv[threadIdx.x + o], si[threadIdx.x + o]))) {
      sv[threadIdx.x] = sv[threadIdx.x + o];
      si[threadIdx.x] = si[threadIdx.x + o];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    double px, py;
    sf_hd_xcorr_coarse(si[0], h, w, &px, &py);
    center[2 * blockIdx.x] = px;
    center[2 * blockIdx.x + 1] = py;
  }
}

// The upsampled DFT's steps (kernels/xcorr_rigid_hd.h), one thread per element.
__global__ static void k_twiddle(const double *center, const int *active, float *exr, float *exi,
                                 float *eyr, float *eyi, size_t count, size_t h, size_t w,
                                 size_t wc, size_t n, int up) {
  sf_hd_updft_step_twiddle((size_t)blockIdx.x * blockDim.x + threadIdx.x, center, active, exr, exi,
                           eyr, eyi, count, h, w, wc, n, up);
}

__global__ static void k_s1(const float *spec, const float *exr, const float *exi, float *s1r,
                            float *s1i, const int *active, size_t count, size_t h, size_t wc,
                            size_t n) {
  sf_hd_updft_step_s1((size_t)blockIdx.x * blockDim.x + threadIdx.x, spec, exr, exi, s1r, s1i,
                      active, count, h, wc, n);
}

__global__ static void k_surf(const float *s1r, const float *s1i, const float *eyr, const float *eyi,
                              float *surf, const int *active, size_t count, size_t h, size_t n) {
  sf_hd_updft_step_surf((size_t)blockIdx.x * blockDim.x + threadIdx.x, s1r, s1i, eyr, eyi, surf,
                        active, count, h, n);
}

// One thread per frame: the refined peak; pass 0 marks the frames whose best point was on the
// window's edge and centres their second pass there (the CPU's rule).
__global__ static void k_peak(const float *surf, double *center, double *best, int *active,
                              size_t count, size_t n, int up, int pass) {
  sf_hd_updft_step_peak((size_t)blockIdx.x * blockDim.x + threadIdx.x, surf, center, best, active,
                        count, n, up, pass);
}

__global__ static void k_final(const double *center, const double *best, const int *flat, float *shift,
                               size_t count, int up) {
  sf_hd_updft_step_final((size_t)blockIdx.x * blockDim.x + threadIdx.x, center, best, flat, shift,
                         count, up);
}

__global__ static void k_set(int *a, size_t count, int v) {
  size_t t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (t < count) a[t] = v;
}

__global__ static void k_warp(const float *in, const float *fill, const float *shift, float *out,
                              size_t count, long h, long w, long ch, int linear) {
  size_t ue = (size_t)(h * w * ch), t = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= count * ue) return;
  size_t f = t / ue, r = t % ue;
  long c = (long)(r % (size_t)ch), p = (long)(r / (size_t)ch), y = p / w, x = p % w;
  float u = shift[2 * f], v = shift[2 * f + 1], wx[4], wy[4];
  long ox = sf_hd_shift_taps(u, linear, wx), oy = sf_hd_shift_taps(v, linear, wy);
  out[t] = sf_hd_warp_shift_px(in + f * ue, fill, h, w, ch, y, x, c, ox, oy, wx, wy, linear ? 2 : 4, u, v);
}

// ---- host side ---------------------------------------------------------------------------

// The batched transforms for count frames (made again only when the batch size changes: the
// last batch of a rank's segments).
static int plan_batch(sf_gpu_rigid *g, size_t count) {
  int status = 0;
  int dims[2] = {(int)g->h, (int)g->w};
  if (g->have_batch_plans && g->plan_batch == count) return 0;
  if (g->have_batch_plans) {
    cufftDestroy(g->fwd);
    cufftDestroy(g->inv);
    g->have_batch_plans = 0;
  }
  SF_CUFFT(cufftPlanMany(&g->fwd, 2, dims, NULL, 1, 0, NULL, 1, 0, CUFFT_R2C, (int)count));
  if (cufftPlanMany(&g->inv, 2, dims, NULL, 1, 0, NULL, 1, 0, CUFFT_C2R, (int)count) != CUFFT_SUCCESS) {
    cufftDestroy(g->fwd);
    status = sf_error_report(SF_ERR_NOMEM, __FILE__, __LINE__, __func__,
                             "cufftPlanMany (c2r, %zu frames of %zux%zu) failed", count, g->h, g->w);
    goto cleanup;
  }
  g->have_batch_plans = 1;
  g->plan_batch = count;
  SF_CUFFT(cufftSetStream(g->fwd, g->stream));
  SF_CUFFT(cufftSetStream(g->inv, g->stream));
cleanup:
  return status;
}

extern "C" int sf_gpu_rigid_create(size_t h, size_t w, size_t ch, size_t max_batch, int up,
                                   float sigma, const float *wch, int linear, sf_gpu_rigid **out) {
  int status = 0;
  sf_gpu_rigid *g = NULL;
  float *hwin = NULL, *hgain = NULL;
  size_t B = max_batch, n = 0;
  int dims[2] = {(int)h, (int)w};
  *out = NULL;
  SF_CHECK(h >= 4 && w >= 4 && ch >= 1 && max_batch >= 1 && up >= 1 && sigma >= 0, SF_ERR_INTERNAL,
           "gpu rigid: bad plan %zux%zux%zu, batch %zu, up %d", h, w, ch, max_batch, up);
  g = (sf_gpu_rigid *)calloc(1, sizeof *g);
  SF_CHECK(g, SF_ERR_NOMEM, "out of memory for the GPU plan");
  g->h = h;
  g->w = w;
  g->ch = ch;
  g->wc = w / 2 + 1;
  g->hw = h * w;
  g->ue = h * w * ch;
  g->nsp = h * g->wc;
  g->n = n = sf_hd_updft_points(up);
  g->max_batch = B;
  g->up = up;
  g->linear = linear;
  SF_CUDA(cudaStreamCreateWithFlags(&g->stream, cudaStreamNonBlocking));
#define SF_DMALLOC(p, count) SF_CUDA_AS(SF_ERR_NOMEM, cudaMalloc((void **)&(p), (count) * sizeof(*(p))))
  SF_DMALLOC(g->d_in, B * g->ue);
  SF_DMALLOC(g->d_out, B * g->ue);
  SF_DMALLOC(g->d_real, B * g->hw);
  SF_DMALLOC(g->d_fill, g->ue);
  SF_DMALLOC(g->d_win, g->hw);
  SF_DMALLOC(g->d_gain, g->nsp);
  SF_DMALLOC(g->d_wch, ch);
  SF_DMALLOC(g->d_mean, B);
  SF_DMALLOC(g->d_shift, 2 * B);
  SF_DMALLOC(g->d_spec, 2 * B * g->nsp);
  SF_DMALLOC(g->d_spec2, 2 * B * g->nsp);
  SF_DMALLOC(g->d_ref, 2 * g->nsp);
  SF_DMALLOC(g->d_exr, B * g->wc * n);
  SF_DMALLOC(g->d_exi, B * g->wc * n);
  SF_DMALLOC(g->d_eyr, B * h * n);
  SF_DMALLOC(g->d_eyi, B * h * n);
  SF_DMALLOC(g->d_s1r, B * h * n);
  SF_DMALLOC(g->d_s1i, B * h * n);
  SF_DMALLOC(g->d_surf, B * n * n);
  SF_DMALLOC(g->d_center, 2 * B);
  SF_DMALLOC(g->d_best, 2 * B);
  SF_DMALLOC(g->d_active, B);
  SF_DMALLOC(g->d_flat, B);
#undef SF_DMALLOC
  SF_CUDA_AS(SF_ERR_NOMEM, cudaMallocHost((void **)&g->h_in, B * g->ue * sizeof(float)));
  SF_CUDA_AS(SF_ERR_NOMEM, cudaMallocHost((void **)&g->h_out, B * g->ue * sizeof(float)));
  SF_CUDA_AS(SF_ERR_NOMEM, cudaMallocHost((void **)&g->h_shift, 2 * B * sizeof(float)));
  // the window and the gains from the same bodies as the CPU plan, made once on the host
  hwin = (float *)malloc(g->hw * sizeof(float));
  hgain = (float *)malloc(g->nsp * sizeof(float));
  SF_CHECK(hwin && hgain, SF_ERR_NOMEM, "out of memory for the GPU plan's tables");
  for (size_t y = 0; y < h; y++)
    for (size_t x = 0; x < w; x++) hwin[y * w + x] = sf_hd_hann2(y, x, h, w);
  for (size_t ky = 0; ky < h; ky++)
    for (size_t kx = 0; kx < g->wc; kx++) hgain[ky * g->wc + kx] = sf_hd_xcorr_gain(ky, kx, h, w, sigma);
  SF_CUDA(cudaMemcpy(g->d_win, hwin, g->hw * sizeof(float), cudaMemcpyHostToDevice));
  SF_CUDA(cudaMemcpy(g->d_gain, hgain, g->nsp * sizeof(float), cudaMemcpyHostToDevice));
  SF_CUDA(cudaMemcpy(g->d_wch, wch, ch * sizeof(float), cudaMemcpyHostToDevice));
  SF_CUFFT(cufftPlanMany(&g->fwd1, 2, dims, NULL, 1, 0, NULL, 1, 0, CUFFT_R2C, 1));
  g->have_fwd1 = 1;
  SF_CUFFT(cufftSetStream(g->fwd1, g->stream));
  SF_CALL(plan_batch(g, B));
  *out = g;
  g = NULL;
cleanup:
  free(hwin);
  free(hgain);
  sf_gpu_rigid_destroy(&g);
  return status;
}

extern "C" int sf_gpu_rigid_set_reference(sf_gpu_rigid *g, const float *ref) {
  int status = 0;
  SF_CUDA(cudaMemcpyAsync(g->d_fill, ref, g->ue * sizeof(float), cudaMemcpyHostToDevice, g->stream));
  k_gray<<<grid_of(g->hw), SF_GPU_BLOCK, 0, g->stream>>>(g->d_fill, g->d_real, 1, g->hw, g->ch, g->d_wch);
  k_mean<<<1, SF_GPU_BLOCK, 0, g->stream>>>(g->d_real, g->d_mean, g->hw);
  k_window<<<grid_of(g->hw), SF_GPU_BLOCK, 0, g->stream>>>(g->d_real, g->d_mean, g->d_win, 1, g->hw);
  SF_CUDA(cudaGetLastError());
  SF_CUFFT(cufftExecR2C(g->fwd1, g->d_real, (cufftComplex *)g->d_ref));
  SF_CUDA(cudaStreamSynchronize(g->stream)); // ref is the caller's, pageable: done before return
cleanup:
  return status;
}

extern "C" int sf_gpu_rigid_execute(sf_gpu_rigid *g, const float *in, size_t count, const float **out,
                                    const float **shifts) {
  int status = 0;
  const size_t B = count, hw = g->hw, ue = g->ue, nsp = g->nsp, n = g->n;
  cudaStream_t s = g->stream;
  SF_CHECK(count >= 1 && count <= g->max_batch, SF_ERR_INTERNAL, "gpu rigid: batch of %zu frames, plan for %zu",
           count, g->max_batch);
  SF_CALL(plan_batch(g, count));
  // The engine's input buffer is pageable: one host copy into pinned memory, then one
  // asynchronous transfer of the whole batch.
  memcpy(g->h_in, in, B * ue * sizeof(float));
  SF_CUDA(cudaMemcpyAsync(g->d_in, g->h_in, B * ue * sizeof(float), cudaMemcpyHostToDevice, s));
  k_gray<<<grid_of(B * hw), SF_GPU_BLOCK, 0, s>>>(g->d_in, g->d_real, B, hw, g->ch, g->d_wch);
  k_mean<<<(unsigned)B, SF_GPU_BLOCK, 0, s>>>(g->d_real, g->d_mean, hw);
  k_window<<<grid_of(B * hw), SF_GPU_BLOCK, 0, s>>>(g->d_real, g->d_mean, g->d_win, B, hw);
  SF_CUDA(cudaGetLastError());
  SF_CUFFT(cufftExecR2C(g->fwd, g->d_real, (cufftComplex *)g->d_spec));
  k_cross<<<grid_of(B * nsp), SF_GPU_BLOCK, 0, s>>>(g->d_spec, g->d_spec2, g->d_ref, g->d_gain, B, nsp);
  k_flat<<<(unsigned)B, SF_GPU_BLOCK, 0, s>>>(g->d_spec, g->d_flat, nsp);
  SF_CUDA(cudaGetLastError());
  SF_CUFFT(cufftExecC2R(g->inv, (cufftComplex *)g->d_spec2, g->d_real));
  k_argmax<<<(unsigned)B, SF_GPU_BLOCK, 0, s>>>(g->d_real, g->h, g->w, g->d_center);
  SF_CUDA(cudaGetLastError());
  if (g->up > 1) {
    k_set<<<grid_of(B), SF_GPU_BLOCK, 0, s>>>(g->d_active, B, 1);
    for (int pass = 0; pass < 2; pass++) { // pass 1 only for the frames whose peak was on the edge
      k_twiddle<<<grid_of(B * (g->wc + g->h) * n), SF_GPU_BLOCK, 0, s>>>(
          g->d_center, g->d_active, g->d_exr, g->d_exi, g->d_eyr, g->d_eyi, B, g->h, g->w, g->wc, n, g->up);
      k_s1<<<grid_of(B * g->h * n), SF_GPU_BLOCK, 0, s>>>(g->d_spec, g->d_exr, g->d_exi, g->d_s1r, g->d_s1i,
                                                          g->d_active, B, g->h, g->wc, n);
      k_surf<<<grid_of(B * n * n), SF_GPU_BLOCK, 0, s>>>(g->d_s1r, g->d_s1i, g->d_eyr, g->d_eyi, g->d_surf,
                                                         g->d_active, B, g->h, n);
      k_peak<<<grid_of(B), SF_GPU_BLOCK, 0, s>>>(g->d_surf, g->d_center, g->d_best, g->d_active, B, n, g->up,
                                                 pass);
      SF_CUDA(cudaGetLastError());
    }
  }
  k_final<<<grid_of(B), SF_GPU_BLOCK, 0, s>>>(g->d_center, g->d_best, g->d_flat, g->d_shift, B, g->up);
  k_warp<<<grid_of(B * ue), SF_GPU_BLOCK, 0, s>>>(g->d_in, g->d_fill, g->d_shift, g->d_out, B, (long)g->h,
                                                  (long)g->w, (long)g->ch, g->linear);
  SF_CUDA(cudaGetLastError());
  SF_CUDA(cudaMemcpyAsync(g->h_out, g->d_out, B * ue * sizeof(float), cudaMemcpyDeviceToHost, s));
  SF_CUDA(cudaMemcpyAsync(g->h_shift, g->d_shift, 2 * B * sizeof(float), cudaMemcpyDeviceToHost, s));
  SF_CUDA(cudaStreamSynchronize(s));
  *out = g->h_out;
  *shifts = g->h_shift;
cleanup:
  return status;
}

extern "C" void sf_gpu_rigid_destroy(sf_gpu_rigid **pg) {
  if (!pg || !*pg) return;
  sf_gpu_rigid *g = *pg;
  if (g->stream) cudaStreamSynchronize(g->stream);
  if (g->have_batch_plans) {
    cufftDestroy(g->fwd);
    cufftDestroy(g->inv);
  }
  if (g->have_fwd1) cufftDestroy(g->fwd1);
  void *dev[] = {g->d_in,  g->d_out,   g->d_real,  g->d_fill,  g->d_win,  g->d_gain, g->d_wch,
                 g->d_mean, g->d_shift, g->d_spec, g->d_spec2, g->d_ref,  g->d_exr,  g->d_exi,
                 g->d_eyr, g->d_eyi,   g->d_s1r,  g->d_s1i,   g->d_surf, g->d_center, g->d_best,
                 g->d_active, g->d_flat};
  for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++)
    if (dev[i]) cudaFree(dev[i]);
  if (g->h_in) cudaFreeHost(g->h_in);
  if (g->h_out) cudaFreeHost(g->h_out);
  if (g->h_shift) cudaFreeHost(g->h_shift);
  if (g->stream) cudaStreamDestroy(g->stream);
  cudaGetLastError(); // a sticky error of the teardown is not the caller's
  free(g);
  *pg = NULL;
}
