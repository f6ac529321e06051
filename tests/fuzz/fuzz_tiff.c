/* libFuzzer harness: the multi-page TIFF stack reader (src/io/tiff_stack.c) on the input as a
 * file: open, shape, and the first and last frames. */
#include "fuzz_common.h"
#include "io/tiff_stack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[1024];
  fz_write("in.tif", data, size, path, sizeof path);
  fz_begin();
  sf_tiff *t = NULL;
  void *buf = NULL;
  int status = sf_tiff_open(path, &t);
  if (status == 0) {
    size_t frames, h, w, c;
    sf_dtype dt;
    sf_tiff_info(t, &frames, &h, &w, &c, &dt);
    size_t bytes = h * w * c * sf_dtype_size(dt);
    /* the reader's own checks bound a frame by the file; keep the harness's buffer sane */
    if (frames > 0 && bytes > 0 && bytes <= ((size_t)256 << 20) && (buf = malloc(bytes))) {
      status = sf_tiff_read_frames(t, 0, 1, buf);
      if (status == 0 && frames > 1) status = sf_tiff_read_frames(t, frames - 1, 1, buf);
    }
  }
  fz_end(status, "in.tif");
  free(buf);
  sf_tiff_close(&t);
  return 0;
}
