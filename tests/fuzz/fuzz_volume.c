/* libFuzzer harness: the NIfTI-1/2 volume reader (src/io/volume.c through libnifti) on the
 * input as a .nii file (.nii.gz when it starts with the gzip magic): open, then the first
 * and last slice along every axis as float32 and as labels. */
#include "fuzz_common.h"
#include "io/volume.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[1024];
  const char *name = size >= 2 && data[0] == 0x1f && data[1] == 0x8b ? "in.nii.gz" : "in.nii";
  fz_write(name, data, size, path, sizeof path);
  fz_begin();
  sf_vol *v = NULL;
  float *f = NULL;
  int32_t *l = NULL;
  int status = sf_vol_open(path, 1, &v);
  for (int axis = 2; status == 0 && axis >= 0; axis--) {
    const sf_vol_info *in = sf_vol_get_info(v);
    size_t n = sf_vol_slice_elems(v, axis), depth = in->dim[axis];
    if (n == 0 || n > ((size_t)16 << 20)) break; /* the harness's buffers, not the reader's */
    float *nf = realloc(f, n * sizeof *f);
    int32_t *nl = realloc(l, n * sizeof *l);
    if (nf) f = nf;
    if (nl) l = nl;
    if (!nf || !nl) break;
    status = sf_vol_read_slices(v, axis, 0, 1, f);
    if (status == 0) status = sf_vol_read_slices(v, axis, depth - 1, 1, f);
    if (status == 0 && in->integer) status = sf_vol_read_label_slices(v, axis, 0, 1, l);
  }
  fz_end(status, "in.nii");
  free(f);
  free(l);
  sf_vol_close(&v);
  return 0;
}
