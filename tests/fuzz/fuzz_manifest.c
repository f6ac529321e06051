/* libFuzzer harness: the `slices` manifest parser (sl_find_cases, src/pipelines/
 * slices_cases.c) on the input as a manifest, then the grid checks (sl_probe_cases) when
 * every file it names lies in the scratch folder, where three small volumes wait: a.nii and
 * b.nii (4x4x3, different affines) and c.nii (4x3x3). */
#include <nifti2_io.h>

#include "fuzz_common.h"
#include "pipelines/slices_impl.h"

static void make_volume(const char *name, int64_t nj, double shift) {
  char path[1024];
  int64_t dims[8] = {3, 4, nj, 3, 1, 1, 1, 1};
  nifti_image *nim = nifti_make_new_nim(dims, DT_UINT8, 1);
  if (!nim) abort();
  nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
  nim->qform_code = 1;
  nim->qoffset_x = shift;
  if (nifti_set_filenames(nim, fz_path(name, path, sizeof path), 0, 1) != 0) abort();
  nifti_image_write(nim);
  nifti_image_free(nim);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  make_volume("a.nii", 4, 0);
  make_volume("b.nii", 4, 5);
  make_volume("c.nii", 3, 0);
  return 0;
}

/* Whether spec ("" or a path) stays in the scratch folder: probing must not open whatever
 * a mutated absolute path names (a device could block). */
static int in_scratch(const char *spec) {
  size_t n = strlen(fz_dir);
  return !spec[0] || (strncmp(spec, fz_dir, n) == 0 && spec[n] == '/' && !strstr(spec, "..") &&
                      !strchr(spec + n + 1, '/'));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[1024];
  fz_write("cases.txt", data, size, path, sizeof path);
  fz_begin();
  sl_case *cases = NULL;
  size_t n = 0;
  int status = sl_find_cases(path, &cases, &n);
  fz_end(status, "cases.txt");
  int probe = status == 0;
  for (size_t k = 0; probe && k < n; k++)
    probe = in_scratch(cases[k].image) && in_scratch(cases[k].label);
  if (probe) {
    fz_begin();
    fz_end(sl_probe_cases(cases, n, (int)(size % 3)), NULL);
  }
  free(cases);
  return 0;
}
