/* The rigid registration of a batch of frames on one CUDA device (issue 16): channel
 * combination, mean removal and Hann window, phase correlation through cuFFT, the upsampled-
 * DFT refinement, the flat-spectrum rule and the shift warp with reference fill, all from the
 * per-element bodies the CPU kernels run (kernels/xcorr_rigid_hd.h, kernels/warp_shift_hd.h),
 * batched: every launch covers every frame of the batch. Frames go to the device once and come
 * back once per batch, through pinned host buffers on the plan's stream. Plan once per shape
 * (create), set the reference, execute per batch. Built from gpu_rigid.cu when CUDA is found;
 * without CUDA every function fails with SF_ERR_INTERNAL (the register command never calls them
 * then). Local; call from the thread that made the device current. */
#ifndef SF_GPU_RIGID_H
#define SF_GPU_RIGID_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sf_gpu_rigid sf_gpu_rigid;

/* Plans batches of up to max_batch frames of h x w pixels with ch interleaved channels on the
 * current device: cuFFT plans, device buffers, pinned host buffers, a stream. up, sigma as
 * sf_xcorr_plan_create; wch the ch normalised channel weights; linear nonzero for bilinear
 * instead of Keys cubic interpolation. Returns 0, SF_ERR_NOMEM (device or pinned memory) or
 * SF_ERR_IO (another CUDA or cuFFT failure), reported. */
int sf_gpu_rigid_create(size_t h, size_t w, size_t ch, size_t max_batch, int up, float sigma,
                        const float *wch, int linear, sf_gpu_rigid **out);

/* Sets the reference, an (h, w, ch) image: its correlation spectrum and the fill of the warp.
 * Returns 0 or SF_ERR_*. */
int sf_gpu_rigid_set_reference(sf_gpu_rigid *g, const float *ref);

/* Registers count (1..max_batch) frames in (count x h x w x ch floats, host memory): *out
 * points at the count warped frames and *shifts at count [u, v] pairs, both in the plan's
 * pinned buffers, valid until the next execute. Returns 0 or SF_ERR_*. */
int sf_gpu_rigid_execute(sf_gpu_rigid *g, const float *in, size_t count, const float **out,
                         const float **shifts);

/* Frees; accepts NULL and sets *g to NULL. */
void sf_gpu_rigid_destroy(sf_gpu_rigid **g);

#ifdef __cplusplus
}
#endif

#endif
