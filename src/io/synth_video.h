/* Synthetic two-photon-like video with known motion (`slabflow synth video`). */
#ifndef SF_SYNTH_VIDEO_H
#define SF_SYNTH_VIDEO_H

#include <stddef.h>
#include <stdint.h>

typedef enum { SF_MOTION_RIGID = 0, SF_MOTION_NONRIGID = 1 } sf_motion_kind;

typedef struct sf_synth_video_opts {
  size_t frames, height, width, channels; /* T, H, W, C (C >= 1) */
  uint64_t seed;
  sf_motion_kind motion;
  double max_shift;       /* largest displacement component, pixels */
  double noise_db;        /* signal-to-noise ratio of the noisy frames, dB */
  const char *tiff_path;  /* when not NULL, also write /data as a multi-page TIFF here */
} sf_synth_video_opts;

/* Writes the video and its ground truth to an HDF5 file at path (serial HDF5; call on one rank).
 * Layout: /data (T,H,W) uint16, or (T,H,W,C) when C > 1; /truth/shifts (T,2) float32 [u=x, v=y]
 * (rigid) or /truth/flow (T,H,W,2) float32 (nonrigid), backward-warp convention: the clean frame
 * at (y,x) equals the moving frame at (y+v, x+u); /truth/clean_mean (H,W[,C]) float32, the mean
 * clean (unmoved, noise-free) frame. Same options give the same bytes for any thread count.
 * Returns 0 or SF_ERR_*. Local. */
int sf_synth_video_write(const char *path, const sf_synth_video_opts *opts);

#endif
