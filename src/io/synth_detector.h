/* Synthetic area-detector stack: calibrant rings on a flat detector (`slabflow synth detector`). */
#ifndef SF_SYNTH_DETECTOR_H
#define SF_SYNTH_DETECTOR_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
  SF_SYNTH_COMP_NONE = 0,
  SF_SYNTH_COMP_GZIP = 1, /* deflate (filter 1), level 1 */
  SF_SYNTH_COMP_BSLZ4 = 2 /* bitshuffle-LZ4 (filter 32008), default block size */
} sf_synth_comp;

typedef struct sf_synth_detector_opts {
  size_t frames;        /* T >= 1 */
  size_t height, width; /* 0, 0: the Eiger 4M's 2167 x 2070 with its module gaps */
  sf_synth_comp compression;
  int tilt; /* tilted detector (rot1..3 of a few degrees) and off-centre PONI */
  uint64_t seed;
} sf_synth_detector_opts;

/* Writes the stack to an HDF5 file at path (serial HDF5; call on one rank) and its geometry to
 * poni_path (PONI version 2). Layout (NeXus): /entry/data/data (T,H,W) uint32, one frame per
 * chunk; /entry/instrument/detector/pixel_mask (H,W) uint32 (0 valid, 1 module gap, 2 dead);
 * invalid pixels hold 0xFFFFFFFF in every frame (Dectris' convention). Frames: CeO2 rings at
 * wavelength 1e-10 m over a smooth background, times the relative solid angle, times a
 * per-frame flux factor, with Poisson noise. The same options give the same values for any
 * compression and thread count. Returns 0 or SF_ERR_* (reported). Local. */
int sf_synth_detector_write(const char *path, const char *poni_path,
                            const sf_synth_detector_opts *opts);

#endif
