/* Checks of where an HDF5 dataset's values live (h5_storage.h). The path rules follow HDF5
 * 1.10's own look-up (H5F_prefix_open_file for virtual sources, H5D__efl for external
 * files), so that a file refused here is one HDF5 would not find either. */
#include "io/h5_storage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/h5_util.h"
#include "sf_error.h"

static const unsigned char k_signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};

int sf_h5_has_signature(const char *path) {
  FILE *f = fopen(path, "rb");
  struct stat st;
  int found = 0;
  if (!f) return -1;
  if (fstat(fileno(f), &st) != 0) {
    fclose(f);
    return -1;
  }
  /* H5FD_locate_signature: 0, then every power of two from 512 below the end of file. */
  unsigned long long eof = (unsigned long long)st.st_size;
  int maxpow = 0;
  for (unsigned long long a = eof; a; a >>= 1)
    maxpow++;
  if (maxpow < 9) maxpow = 9;
  for (int p = 8; p < maxpow && !found; p++) {
    unsigned long long addr = p == 8 ? 0 : 1ull << p;
    unsigned char b[8];
    if (addr + 8 > eof || fseeko(f, (off_t)addr, SEEK_SET) != 0 || fread(b, 1, 8, f) != 8) break;
    found = memcmp(b, k_signature, 8) == 0;
  }
  fclose(f);
  return found;
}

/* ---- the file list ------------------------------------------------------------------------ */

static long long file_bytes(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/* Adds path (with its size now) unless listed already. */
static int files_add(sf_h5_files *f, const char *path) {
  int status = 0;
  if (!f) return 0;
  for (size_t q = 0; q < f->n; q++)
    if (strcmp(f->path[q], path) == 0) return 0;
  char **p = realloc(f->path, (f->n + 1) * sizeof *p);
  SF_CHECK(p, SF_ERR_NOMEM, "out of memory listing input files");
  f->path = p;
  long long *b = realloc(f->bytes, (f->n + 1) * sizeof *b);
  SF_CHECK(b, SF_ERR_NOMEM, "out of memory listing input files");
  f->bytes = b;
  f->path[f->n] = strdup(path);
  SF_CHECK(f->path[f->n], SF_ERR_NOMEM, "out of memory listing input files");
  f->bytes[f->n] = file_bytes(path);
  f->n++;
cleanup:
  return status;
}

int sf_h5_files_add(sf_h5_files *files, const char *path) { return files_add(files, path); }

void sf_h5_files_free(sf_h5_files *f) {
  if (!f) return;
  for (size_t q = 0; q < f->n; q++)
    free(f->path[q]);
  free(f->path);
  free(f->bytes);
  f->path = NULL;
  f->bytes = NULL;
  f->n = 0;
}

long sf_h5_files_shrunk(const sf_h5_files *f, long long *now) {
  for (size_t q = 0; f && q < f->n; q++) {
    long long b = file_bytes(f->path[q]);
    if (b < f->bytes[q]) {
      *now = b;
      return (long)q;
    }
  }
  return -1;
}

/* Layout: for each file, its size as text, a space, its path, a NUL. */
int sf_h5_files_pack(const sf_h5_files *f, char **buf, size_t *n) {
  int status = 0;
  size_t len = 0, used = 0;
  *buf = NULL;
  *n = 0;
  for (size_t q = 0; q < f->n; q++)
    len += 24 + strlen(f->path[q]);
  SF_ALLOC(*buf, len + 1);
  for (size_t q = 0; q < f->n; q++)
    used += (size_t)snprintf(*buf + used, len + 1 - used, "%lld %s", f->bytes[q], f->path[q]) + 1;
  *n = used;
cleanup:
  return status;
}

int sf_h5_files_unpack(const char *buf, size_t n, sf_h5_files *f) {
  int status = 0;
  size_t at = 0;
  memset(f, 0, sizeof *f);
  while (at < n) {
    const char *s = buf + at;
    size_t len = strnlen(s, n - at);
    char *sp = NULL;
    long long bytes = strtoll(s, &sp, 10);
    if (sp && *sp == ' ') {
      SF_CALL(files_add(f, sp + 1));
      f->bytes[f->n - 1] = bytes;
    }
    at += len + 1;
  }
cleanup:
  if (status < 0) sf_h5_files_free(f);
  return status;
}

/* ---- paths -------------------------------------------------------------------------------- */

/* Directory part of path ("." when it has none) into dir. */
static void dir_of(const char *path, char *dir, size_t n) {
  const char *slash = strrchr(path, '/');
  if (!slash)
    snprintf(dir, n, ".");
  else if (slash == path)
    snprintf(dir, n, "/");
  else
    snprintf(dir, n, "%.*s", (int)(slash - path), path);
}

/* prefix "/" name, with "${ORIGIN}" in prefix replaced by origin (HDF5's convention). */
static void join_prefix(const char *prefix, const char *origin, const char *name, char *out,
                        size_t n) {
  const char *o = strstr(prefix, "${ORIGIN}");
  if (o)
    snprintf(out, n, "%.*s%s%s/%s", (int)(o - prefix), prefix, origin, o + 9, name);
  else
    snprintf(out, n, "%s/%s", prefix, name);
}

/* ---- external raw files ------------------------------------------------------------------- */

static int check_external(hid_t dset, hid_t dcpl, const char *path, const char *name,
                          sf_h5_files *files) {
  int status = 0;
  hid_t sp = H5I_INVALID_HID, t = H5I_INVALID_HID, dapl = H5I_INVALID_HID;
  char prefix[4096] = "", origin[4096], raw[4096], full[8300];
  int count = H5Pget_external_count(dcpl);
  sp = H5Dget_space(dset);
  t = H5Dget_type(dset);
  SF_CHECK(count >= 0 && sp >= 0 && t >= 0, SF_ERR_INPUT, "%s: unreadable external storage list",
           name);
  hssize_t np = H5Sget_simple_extent_npoints(sp);
  unsigned long long left = np > 0 ? (unsigned long long)np * H5Tget_size(t) : 0;
  /* Relative names are taken from the access property's prefix, else HDF5_EXTFILE_PREFIX,
   * else the working directory, as HDF5 itself does. */
  dapl = H5Dget_access_plist(dset);
  if (dapl >= 0 && H5Pget_efile_prefix(dapl, prefix, sizeof prefix) < 0) prefix[0] = 0;
  H5Eclear2(H5E_DEFAULT);
  const char *env = getenv("HDF5_EXTFILE_PREFIX");
  if (!prefix[0] && env) snprintf(prefix, sizeof prefix, "%s", env);
  dir_of(path, origin, sizeof origin);
  for (int q = 0; q < count && left > 0; q++) {
    off_t off = 0;
    hsize_t size = 0;
    SF_CHECK(H5Pget_external(dcpl, (unsigned)q, sizeof raw, raw, &off, &size) >= 0, SF_ERR_INPUT,
             "%s: unreadable external storage entry %d", name, q);
    raw[sizeof raw - 1] = 0;
    if (raw[0] == '/' || !prefix[0])
      snprintf(full, sizeof full, "%s", raw);
    else
      join_prefix(prefix, origin, raw, full, sizeof full);
    unsigned long long part = size == H5F_UNLIMITED || size > left ? left : size;
    struct stat st;
    if (stat(full, &st) != 0)
      SF_CHECK(0, SF_ERR_INPUT,
               "%s: external raw data file %s: %s (HDF5 looks for a relative name in "
               "HDF5_EXTFILE_PREFIX, else in the working directory)",
               name, full, strerror(errno));
    SF_CHECK(S_ISREG(st.st_mode), SF_ERR_INPUT,
             "%s: external raw data file %s is not a regular file", name, full);
    SF_CHECK((unsigned long long)st.st_size >= (unsigned long long)off + part, SF_ERR_INPUT,
             "%s: external raw data file %s is shorter than the dataset: %lld bytes, the dataset "
             "needs %llu (from offset %lld)",
             name, full, (long long)st.st_size, (unsigned long long)off + part, (long long)off);
    SF_CALL(files_add(files, full));
    left -= part;
  }
  SF_CHECK(left == 0, SF_ERR_INPUT,
           "%s: the external raw data files hold %llu bytes fewer than the dataset needs", name,
           left);
cleanup:
  if (dapl >= 0) H5Pclose(dapl);
  if (t >= 0) H5Tclose(t);
  if (sp >= 0) H5Sclose(sp);
  return status;
}

/* ---- virtual datasets --------------------------------------------------------------------- */

/* A source name with "%%" written as "%"; 0 when it holds a printf-style pattern (%b), whose
 * files are found only by iterating the mapping: those are left to HDF5. */
static int unescape_name(char *s) {
  char *w = s;
  for (const char *r = s; *r; r++) {
    if (*r == '%') {
      if (r[1] != '%') return 0;
      r++;
    }
    *w++ = *r;
  }
  *w = 0;
  return 1;
}

/* Opens a virtual source file where HDF5 looks for it; its path goes to found. */
static hid_t open_source_file(const char *vds_path, const char *src, const char *prefix,
                              char *found, size_t n) {
  char base[4096], dir[4096], cand[8300];
  hid_t f = H5I_INVALID_HID;
  const char *slash = strrchr(src, '/');
  /* An absolute name is tried as it is, then by its last component in each place below. */
  snprintf(base, sizeof base, "%s", src[0] == '/' && slash ? slash + 1 : src);
  const char *env = getenv("HDF5_VDS_PREFIX");
  dir_of(vds_path, dir, sizeof dir);
  char *envc = env ? strdup(env) : NULL;
  for (int step = 0; step < 5 && f < 0; step++) {
    cand[0] = 0;
    if (step == 0 && src[0] == '/') snprintf(cand, sizeof cand, "%s", src);
    if (step == 1 && envc) {
      for (char *save = NULL, *p = strtok_r(envc, ":", &save); p && f < 0;
           p = strtok_r(NULL, ":", &save)) {
        join_prefix(p, dir, base, cand, sizeof cand);
        f = H5Fopen(cand, H5F_ACC_RDONLY, H5P_DEFAULT);
      }
      if (f >= 0) break;
      cand[0] = 0;
    }
    if (step == 2 && prefix[0]) join_prefix(prefix, dir, base, cand, sizeof cand);
    if (step == 3) snprintf(cand, sizeof cand, "%s/%s", dir, base);
    if (step == 4) snprintf(cand, sizeof cand, "%s", base);
    if (cand[0]) f = H5Fopen(cand, H5F_ACC_RDONLY, H5P_DEFAULT);
  }
  free(envc);
  H5Eclear2(H5E_DEFAULT);
  if (f >= 0) snprintf(found, n, "%s", cand);
  return f;
}

/* Whether sel reaches beyond dims: 1 yes (the last coordinate it needs in need), 0 no or not
 * known (an unlimited mapping grows with its source). */
static int selection_outside(hid_t sel, int nd, const hsize_t *dims, hsize_t *need) {
  hsize_t start[H5S_MAX_RANK], stride[H5S_MAX_RANK], count[H5S_MAX_RANK], block[H5S_MAX_RANK];
  if (H5Sget_select_type(sel) == H5S_SEL_HYPERSLABS && H5Sis_regular_hyperslab(sel) > 0 &&
      H5Sget_regular_hyperslab(sel, start, stride, count, block) >= 0)
    for (int d = 0; d < nd; d++)
      if (count[d] == H5S_UNLIMITED || block[d] == H5S_UNLIMITED) return 0;
  if (H5Sget_select_npoints(sel) <= 0 || H5Sget_select_bounds(sel, start, need) < 0) {
    H5Eclear2(H5E_DEFAULT);
    return 0;
  }
  for (int d = 0; d < nd; d++)
    if (need[d] >= dims[d]) return 1;
  return 0;
}

static int check_virtual(hid_t file, hid_t dset, hid_t dcpl, const char *path, const char *name,
                         sf_h5_files *files) {
  int status = 0;
  size_t count = 0;
  hid_t dapl = H5I_INVALID_HID, sel = H5I_INVALID_HID, sf = H5I_INVALID_HID, sd = H5I_INVALID_HID,
        ssp = H5I_INVALID_HID;
  char *fname = NULL, *dname = NULL, prefix[4096] = "", found[8300];
  SF_CHECK(H5Pget_virtual_count(dcpl, &count) >= 0, SF_ERR_INPUT,
           "%s: unreadable virtual dataset mapping", name);
  dapl = H5Dget_access_plist(dset);
  if (dapl >= 0 && H5Pget_virtual_prefix(dapl, prefix, sizeof prefix) < 0) prefix[0] = 0;
  H5Eclear2(H5E_DEFAULT);
  for (size_t q = 0; q < count; q++) {
    ssize_t fl = H5Pget_virtual_filename(dcpl, q, NULL, 0);
    ssize_t dl = H5Pget_virtual_dsetname(dcpl, q, NULL, 0);
    SF_CHECK(fl >= 0 && dl >= 0, SF_ERR_INPUT, "%s: unreadable virtual dataset mapping %zu", name,
             q);
    SF_ALLOC(fname, (size_t)fl + 1);
    SF_ALLOC(dname, (size_t)dl + 1);
    H5Pget_virtual_filename(dcpl, q, fname, (size_t)fl + 1);
    H5Pget_virtual_dsetname(dcpl, q, dname, (size_t)dl + 1);
    if (unescape_name(fname) && unescape_name(dname)) {
      hid_t in = file;
      if (strcmp(fname, ".") != 0) {
        sf = open_source_file(path, fname, prefix, found, sizeof found);
        SF_CHECK(sf >= 0, SF_ERR_INPUT,
                 "%s: source file %s of the virtual dataset is missing or not readable HDF5 "
                 "(its part of the dataset would read as fill values)",
                 name, fname);
        SF_CALL(files_add(files, found));
        in = sf;
      }
      htri_t ok = H5Lexists(in, dname, H5P_DEFAULT);
      if (ok > 0) {
        H5O_info_t oi;
        ok = H5Oget_info_by_name2(in, dname, &oi, H5O_INFO_BASIC, H5P_DEFAULT) >= 0 &&
             oi.type == H5O_TYPE_DATASET;
      }
      if (ok > 0) sd = H5Dopen2(in, dname, H5P_DEFAULT);
      H5Eclear2(H5E_DEFAULT);
      SF_CHECK(sd >= 0, SF_ERR_INPUT,
               "%s: source %s:%s of the virtual dataset is missing (its part of the dataset would "
               "read as fill values)",
               name, fname, dname);
      sel = H5Pget_virtual_srcspace(dcpl, q);
      ssp = H5Dget_space(sd);
      int nd = ssp >= 0 ? H5Sget_simple_extent_ndims(ssp) : -1;
      SF_CHECK(sel >= 0 && nd >= 0, SF_ERR_INPUT,
               "%s: source %s:%s of the virtual dataset has an unreadable dataspace", name, fname,
               dname);
      hsize_t dims[H5S_MAX_RANK], need[H5S_MAX_RANK];
      H5Sget_simple_extent_dims(ssp, dims, NULL);
      if (H5Sget_select_type(sel) == H5S_SEL_ALL) {
        /* The whole source, whose extent HDF5 stores only once it has opened it: it must
         * hold as many values as the virtual selection it fills. */
        hid_t vsel = H5Pget_virtual_vspace(dcpl, q);
        hssize_t want = vsel >= 0 ? H5Sget_select_npoints(vsel) : -1;
        hssize_t have = H5Sget_simple_extent_npoints(ssp);
        if (vsel >= 0) H5Sclose(vsel);
        SF_CHECK(want >= 0 && have >= want, SF_ERR_INPUT,
                 "%s: source %s:%s of the virtual dataset holds %lld values, fewer than the %lld "
                 "its mapping reads (the rest would read as fill values)",
                 name, fname, dname, (long long)have, (long long)want);
      } else {
        SF_CHECK(nd == H5Sget_simple_extent_ndims(sel), SF_ERR_INPUT,
                 "%s: source %s:%s of the virtual dataset has %d dimensions, the mapping "
                 "expects %d",
                 name, fname, dname, nd, H5Sget_simple_extent_ndims(sel));
      }
      if (H5Sget_select_type(sel) != H5S_SEL_ALL && selection_outside(sel, nd, dims, need)) {
        char have[256] = "", want[256] = "";
        size_t uh = 0, uw = 0;
        for (int d = 0; d < nd; d++) {
          uh += (size_t)snprintf(have + uh, uh < sizeof have ? sizeof have - uh : 0, "%s%llu",
                                 d ? "x" : "", (unsigned long long)dims[d]);
          uw += (size_t)snprintf(want + uw, uw < sizeof want ? sizeof want - uw : 0, "%s%llu",
                                 d ? "x" : "", (unsigned long long)need[d] + 1);
        }
        SF_CHECK(0, SF_ERR_INPUT,
                 "%s: source %s:%s of the virtual dataset is %s, smaller than the %s its mapping "
                 "reads (the rest would read as fill values)",
                 name, fname, dname, have, want);
      }
    }
    if (ssp >= 0) H5Sclose(ssp);
    if (sel >= 0) H5Sclose(sel);
    if (sd >= 0) H5Dclose(sd);
    if (sf >= 0) H5Fclose(sf);
    ssp = sel = sd = sf = H5I_INVALID_HID;
    free(fname);
    free(dname);
    fname = dname = NULL;
  }
cleanup:
  if (ssp >= 0) H5Sclose(ssp);
  if (sel >= 0) H5Sclose(sel);
  if (sd >= 0) H5Dclose(sd);
  if (sf >= 0) H5Fclose(sf);
  if (dapl >= 0) H5Pclose(dapl);
  free(fname);
  free(dname);
  return status;
}

int sf_h5_check_storage(hid_t file, hid_t dset, const char *path, const char *name,
                        sf_h5_files *files) {
  int status = 0;
  hid_t dcpl = H5I_INVALID_HID;
  sf_h5_quiet();
  if (files) memset(files, 0, sizeof *files);
  SF_CALL(files_add(files, path));
  dcpl = H5Dget_create_plist(dset);
  SF_CHECK(dcpl >= 0, SF_ERR_INPUT, "%s: unreadable dataset creation properties", name);
  H5D_layout_t layout = H5Pget_layout(dcpl);
  if (layout == H5D_VIRTUAL) SF_CALL(check_virtual(file, dset, dcpl, path, name, files));
  if (H5Pget_external_count(dcpl) > 0) SF_CALL(check_external(dset, dcpl, path, name, files));
cleanup:
  if (dcpl >= 0) H5Pclose(dcpl);
  if (status < 0 && files) sf_h5_files_free(files);
  return status;
}
