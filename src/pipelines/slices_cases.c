/* `slices`: finding the cases of a dataset, checking their grids, assigning splits. */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/volume.h"
#include "pipelines/slices_impl.h"
#include "sf_error.h"

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Whether s names a volume rather than a manifest. */
static int is_volume_spec(const char *s) {
  return ends_with(s, ".nii") || ends_with(s, ".nii.gz") || strstr(s, ".h5:") ||
         strstr(s, ".hdf5:") || strstr(s, ".hdf:");
}

static int cmp_case(const void *a, const void *b) {
  return strcmp(((const sl_case *)a)->name, ((const sl_case *)b)->name);
}

/* Appends a case (from manifest line `line`, 0 for none); names and paths must fit the
 * table's fixed fields. */
static int add_case(sl_case **cases, size_t *n, size_t *cap, const char *name, const char *image,
                    const char *label, const char *where, size_t line) {
  int status = 0;
  SF_CHECK(strlen(name) < sizeof((*cases)->name) && *name, SF_ERR_INPUT,
           "%s: case name '%.40s...' is empty or longer than %zu characters", where, name,
           sizeof((*cases)->name) - 1);
  SF_CHECK(strlen(image) < sizeof((*cases)->image) && strlen(label) < sizeof((*cases)->label),
           SF_ERR_INPUT, "%s: a path of case %s is longer than %zu characters", where, name,
           sizeof((*cases)->image) - 1);
  if (*n == *cap) {
    size_t c = *cap ? 2 * *cap : 64;
    sl_case *p = realloc(*cases, c * sizeof *p);
    SF_CHECK(p, SF_ERR_NOMEM, "out of memory listing %zu cases", c);
    *cases = p;
    *cap = c;
  }
  sl_case *k = &(*cases)[(*n)++];
  memset(k, 0, sizeof *k);
  snprintf(k->name, sizeof k->name, "%s", name);
  snprintf(k->image, sizeof k->image, "%s", image);
  snprintf(k->label, sizeof k->label, "%s", label);
  k->line = line;
cleanup:
  return status;
}

/* Whether a label file is at path (*present). No entry means no label; an entry that cannot
 * be opened, such as a link that leads nowhere, is an error: taking it for "unlabelled"
 * would silently drop the labels of a case. */
static int label_present(const char *path, int *present) {
  int status = 0;
  struct stat st;
  *present = 0;
  if (lstat(path, &st) != 0) {
    SF_CHECK(errno == ENOENT || errno == ENOTDIR, SF_ERR_INPUT, "%s: cannot look for the label: %s",
             path, strerror(errno));
    return 0;
  }
  if (stat(path, &st) != 0) {
    int err = errno;
    char to[4096];
    ssize_t len = readlink(path, to, sizeof to - 1);
    if (len >= 0) {
      to[len] = 0;
      SF_CHECK(0, SF_ERR_INPUT,
               "%s: the label is a symbolic link to %s, which cannot be opened: %s", path, to,
               strerror(err));
    }
    SF_CHECK(0, SF_ERR_INPUT, "%s: cannot open the label: %s", path, strerror(err));
  }
  *present = 1;
cleanup:
  return status;
}

/* nnU-Net raw layout: imagesTr/<case>_0000.nii[.gz], labelsTr/<case>.nii[.gz]. */
static int find_nnunet(const char *dir, sl_case **cases, size_t *n, size_t *cap) {
  int status = 0;
  char images[4096], path[8192], lab[8192];
  DIR *d = NULL;
  struct stat st;
  snprintf(images, sizeof images, "%s/imagesTr", dir);
  SF_CHECK(stat(images, &st) == 0 && S_ISDIR(st.st_mode), SF_ERR_INPUT,
           "%s: not an nnU-Net raw dataset (no imagesTr/ folder) and not a manifest file", dir);
  d = opendir(images);
  SF_CHECK(d, SF_ERR_INPUT, "%s: cannot list: %s", images, strerror(errno));
  struct dirent *e;
  while ((e = readdir(d))) {
    const char *ext = ends_with(e->d_name, "_0000.nii.gz") ? ".nii.gz"
                      : ends_with(e->d_name, "_0000.nii")  ? ".nii"
                                                           : NULL;
    if (!ext) continue;
    char name[512];
    size_t len = strlen(e->d_name) - strlen(ext) - 5; /* strip only the trailing _0000 */
    if (len == 0 || len >= sizeof name) continue;
    memcpy(name, e->d_name, len);
    name[len] = 0;
    snprintf(path, sizeof path, "%s/%s", images, e->d_name);
    snprintf(lab, sizeof lab, "%s/labelsTr/%s%s", dir, name, ext);
    int present = 0;
    SF_CALL(label_present(lab, &present));
    if (!present) {
      snprintf(lab, sizeof lab, "%s/labelsTr/%s%s", dir, name,
               strcmp(ext, ".nii") ? ".nii" : ".nii.gz");
      SF_CALL(label_present(lab, &present));
      if (!present) lab[0] = 0;
    }
    SF_CALL(add_case(cases, n, cap, name, path, lab, dir, 0));
  }
  SF_CHECK(*n > 0, SF_ERR_INPUT, "%s: no images (<case>_0000.nii.gz) in the dataset", images);
cleanup:
  if (d) closedir(d);
  return status;
}

/* Manifest: "case image [label]" per line, # comments, paths relative to the manifest. */
static int find_manifest(const char *file, sl_case **cases, size_t *n, size_t *cap) {
  int status = 0;
  FILE *f = fopen(file, "r");
  char line[8192], base[4096], img[4096], lab[4096];
  SF_CHECK(f, SF_ERR_INPUT, "%s: cannot open: %s", file, strerror(errno));
  snprintf(base, sizeof base, "%s", file);
  const char *dir = dirname(base);
  size_t lineno = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    char *hash = strchr(line, '#');
    if (hash) *hash = 0;
    char *tok[4] = {0};
    int nt = 0;
    for (char *save = NULL, *t = strtok_r(line, " \t\r\n", &save); t;
         t = strtok_r(NULL, " \t\r\n", &save))
      if (nt < 4) tok[nt++] = t;
      else nt = 5;
    if (nt == 0) continue;
    SF_CHECK(nt == 2 || nt == 3, SF_ERR_INPUT,
             "%s:%zu: expected 'case image [label]', found %d fields", file, lineno, nt > 4 ? 4 : nt);
    snprintf(img, sizeof img, "%s%s%s", tok[1][0] == '/' ? "" : dir, tok[1][0] == '/' ? "" : "/", tok[1]);
    lab[0] = 0;
    if (nt == 3)
      snprintf(lab, sizeof lab, "%s%s%s", tok[2][0] == '/' ? "" : dir, tok[2][0] == '/' ? "" : "/", tok[2]);
    char where[4200];
    snprintf(where, sizeof where, "%s:%zu", file, lineno);
    SF_CALL(add_case(cases, n, cap, tok[0], img, lab, where, lineno));
  }
  SF_CHECK(!ferror(f), SF_ERR_IO, "%s: read error", file);
  SF_CHECK(*n > 0, SF_ERR_INPUT, "%s: the manifest lists no cases", file);
cleanup:
  if (f) fclose(f);
  return status;
}

/* The name a case is written under: whitespace, control characters, DEL and '/' (which
 * would split the HDF5 path) become '_', and so does a leading '.' ("." names the group
 * itself). Other bytes, UTF-8 included, are kept. */
static void safe_name(const char *name, char *out, size_t n) {
  snprintf(out, n, "%s", name);
  for (char *p = out; *p; p++)
    if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '/' || (p == out && *p == '.')) *p = '_';
}

/* Where case k came from, for messages: "manifest:line", or its image file. */
static const char *origin(const char *in, const sl_case *k, char *buf, size_t n) {
  if (k->line)
    snprintf(buf, n, "%s:%zu", in, k->line);
  else
    snprintf(buf, n, "%s", k->image);
  return buf;
}

typedef struct {
  char name[sizeof(((sl_case *)0)->name)];
  size_t index;
} named_case;

static int cmp_named(const void *a, const void *b) {
  const named_case *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* Refuses two cases with the same written name, naming both (file:line, or image files);
 * then gives every case its written name. */
static int unique_names(const char *in, sl_case *cases, size_t n) {
  int status = 0;
  named_case *s = malloc((n ? n : 1) * sizeof *s);
  char a[4200], b[4200];
  SF_CHECK(s, SF_ERR_NOMEM, "out of memory checking %zu case names", n);
  for (size_t i = 0; i < n; i++) {
    safe_name(cases[i].name, s[i].name, sizeof s[i].name);
    s[i].index = i;
  }
  qsort(s, n, sizeof *s, cmp_named);
  for (size_t i = 1; i < n; i++) {
    if (strcmp(s[i - 1].name, s[i].name) != 0) continue;
    const sl_case *x = &cases[s[i - 1].index], *y = &cases[s[i].index];
    if (x->line > y->line) { /* the earlier manifest line first */
      const sl_case *t = x;
      x = y;
      y = t;
    }
    origin(in, x, a, sizeof a);
    origin(in, y, b, sizeof b);
    SF_CHECK(strcmp(x->name, y->name) != 0, SF_ERR_INPUT, "%s: case %s is listed twice (%s and %s)",
             in, x->name, a, b);
    SF_CHECK(0, SF_ERR_INPUT,
             "%s: case '%s' and %s: case '%s' would both be written as %s; rename one of them", a,
             x->name, b, y->name, s[i].name);
  }
  for (size_t i = 0; i < n; i++)
    snprintf(cases[s[i].index].name, sizeof s[i].name, "%s", s[i].name);
cleanup:
  free(s);
  return status;
}

int sl_find_cases(const char *in, sl_case **cases, size_t *n) {
  int status = 0;
  size_t cap = 0;
  struct stat st;
  *cases = NULL;
  *n = 0;
  char path[4096];
  snprintf(path, sizeof path, "%s", in);
  char *colon = strstr(path, ".h5:");
  if (!colon) colon = strstr(path, ".hdf5:");
  if (colon) *strchr(colon, ':') = 0; /* stat the HDF5 file of a FILE.h5:/dataset spec */
  SF_CHECK(stat(path, &st) == 0, SF_ERR_INPUT, "%s: cannot open input: %s", in, strerror(errno));
  if (S_ISDIR(st.st_mode)) {
    SF_CALL(find_nnunet(in, cases, n, &cap));
  } else if (is_volume_spec(in)) {
    char name[4096], *b;
    snprintf(name, sizeof name, "%s", path);
    b = basename(name);
    char *dot = strstr(b, ".nii");
    if (!dot) dot = strrchr(b, '.');
    if (dot) *dot = 0;
    SF_CALL(add_case(cases, n, &cap, b, in, "", in, 0));
  } else {
    SF_CALL(find_manifest(in, cases, n, &cap));
  }
  qsort(*cases, *n, sizeof **cases, cmp_case);
  SF_CALL(unique_names(in, *cases, *n));
cleanup:
  if (status < 0) {
    free(*cases);
    *cases = NULL;
    *n = 0;
  }
  return status;
}

/* Whether two affines agree to 1e-4 relative (the same grid written twice). */
static int same_affine(const double a[16], const double b[16]) {
  for (int i = 0; i < 16; i++)
    if (fabs(a[i] - b[i]) > 1e-4 * fmax(1.0, fmax(fabs(a[i]), fabs(b[i])))) return 0;
  return 1;
}

int sl_probe_cases(sl_case *cases, size_t n, int axis) {
  int status = 0;
  sf_vol *v = NULL;
  for (size_t c = 0; c < n; c++) {
    sl_case *k = &cases[c];
    SF_CALL(sf_vol_open(k->image, 0, &v));
    const sf_vol_info *in = sf_vol_get_info(v);
    for (int a = 0; a < 3; a++) {
      k->dim[a] = in->dim[a];
      k->spacing[a] = in->spacing[a];
    }
    for (int r = 0; r < 4; r++)
      for (int q = 0; q < 4; q++) k->affine[4 * r + q] = in->affine[r][q];
    snprintf(k->itype, sizeof k->itype, "%s", in->type_name);
    sf_vol_close(&v);
    k->depth = k->dim[axis];
    k->h = k->dim[axis == 0 ? 1 : 0];
    k->w = k->dim[axis == 2 ? 1 : 2];
    if (!k->label[0]) continue;
    SF_CALL(sf_vol_open(k->label, 0, &v));
    in = sf_vol_get_info(v);
    SF_CHECK(in->dim[0] == k->dim[0] && in->dim[1] == k->dim[1] && in->dim[2] == k->dim[2],
             SF_ERR_INPUT, "%s: label is %zux%zux%zu but its image %s is %zux%zux%zu; a label "
             "must be on the image's grid", k->label, in->dim[0], in->dim[1], in->dim[2],
             k->image, k->dim[0], k->dim[1], k->dim[2]);
    double aff[16];
    for (int r = 0; r < 4; r++)
      for (int q = 0; q < 4; q++) aff[4 * r + q] = in->affine[r][q];
    SF_CHECK(same_affine(aff, k->affine), SF_ERR_INPUT,
             "%s: label affine differs from its image %s (label origin %.3f,%.3f,%.3f, image "
             "%.3f,%.3f,%.3f); a label must be on the image's grid", k->label, k->image,
             aff[3], aff[7], aff[11], k->affine[3], k->affine[7], k->affine[11]);
    snprintf(k->ltype, sizeof k->ltype, "%s", in->type_name);
    sf_vol_close(&v);
  }
cleanup:
  sf_vol_close(&v);
  return status;
}

void sl_assign_splits(sl_case *cases, size_t n, const double ratio[3], uint32_t seed) {
  size_t *perm = malloc((n ? n : 1) * sizeof *perm);
  if (!perm) { /* tiny allocation; fall back to the sorted order */
    for (size_t i = 0; i < n; i++) cases[i].split = 0;
    return;
  }
  sf_numpy_permutation(seed, n, perm);
  /* numpy: n_train = int(n * r_train), n_val = int(n * r_val), test = the rest */
  size_t n_train = (size_t)((double)n * ratio[0]), n_val = (size_t)((double)n * ratio[1]);
  if (n_train > n) n_train = n;
  if (n_val > n - n_train) n_val = n - n_train;
  for (size_t i = 0; i < n; i++)
    cases[perm[i]].split = i < n_train ? 0 : i < n_train + n_val ? 1 : 2;
  free(perm);
}
