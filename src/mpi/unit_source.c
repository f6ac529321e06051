#include "mpi/unit_source.h"

#include <errno.h>
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "io/h5_check.h"
#include "io/h5_storage.h"
#include "io/h5_util.h"
#include "io/tiff_stack.h"
#include "mpi/mpi_agree.h"
#include "mpi/mpi_check.h"
#include "sf_error.h"

enum { SF_CD_MAX = 16, SF_FILTERS_MAX = 8, SF_PARTS_OPEN = 8 };

/* How a dataset's units are stored (sf_source_chunk_filter). Zeroed before it is filled, so
 * that two datasets stored alike compare equal with memcmp. */
typedef struct chunk_info {
  int one_frame;   /* chunked by exactly one frame */
  int nfilters;    /* the filter pipeline's length */
  int order;       /* the datatype's byte order (H5T_order_t) */
  int id[SF_FILTERS_MAX];
  unsigned ncd[SF_FILTERS_MAX];
  unsigned cd[SF_FILTERS_MAX][SF_CD_MAX];
} chunk_info;

/* One part of a master file's stack: a dataset named by a link NAME_NNNNNN beside the absent
 * dataset asked for (see find_parts). Broadcast as bytes; d is each rank's own. */
typedef struct src_part {
  char link[256];              /* its link in the stack's group, e.g. data_000001 */
  char file[1024];             /* the data file rank 0 found it in (for messages) */
  unsigned long long first, t; /* its frames in the stack */
  unsigned long long used;     /* when this rank last read it (the oldest closes first) */
  hid_t d;                     /* this rank's handle, opened through the link; closed: < 0 */
} src_part;

struct sf_source {
  MPI_Comm comm;
  int rank, size;
  sf_source_meta meta;
  hid_t file, dset;  /* HDF5 */
  int independent;   /* HDF5 read by each rank on its own (see probe_hdf5) */
  sf_h5_files files; /* the files the values come from, sizes at open (HDF5) */
  sf_tiff *tiff;     /* TIFF, rank 0 only */
  void *stage;       /* TIFF staging buffer on rank 0 */
  size_t stage_units;
  sf_source_reader reader; /* custom sources */
  hid_t raw_file, raw_dset; /* raw chunk reads: this rank's own handle (sf_source_read_raw) */
  chunk_info chunk;         /* HDF5: how the units are stored (rank 0's look, broadcast) */
  src_part *parts;          /* a master file's stack: meta.parts parts (else NULL) */
  unsigned long long tick;  /* counts part reads, for closing the least recently used */
};

const sf_source_meta *sf_source_get_meta(const sf_source *s) { return &s->meta; }

size_t sf_source_unit_elems(const sf_source *s) { return s->meta.h * s->meta.w * s->meta.c; }

/* File kind from the first bytes: 1 HDF5 (signature at 0 or after a user block), 2 TIFF,
 * 0 unknown; -1 if unreadable. */
static int sniff(const char *path) {
  unsigned char b[8] = {0};
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  size_t n = fread(b, 1, 8, f);
  fclose(f);
  if (n >= 4 && ((b[0] == 'I' && b[1] == 'I' && (b[2] == 42 || b[2] == 43) && b[3] == 0) ||
                 (b[0] == 'M' && b[1] == 'M' && b[2] == 0 && (b[3] == 42 || b[3] == 43))))
    return 2;
  return sf_h5_has_signature(path) > 0 ? 1 : 0;
}

/* How dataset d (of datatype t, shaped as m says) stores its units. Local. */
static void chunk_info_of(hid_t d, hid_t t, const sf_source_meta *m, chunk_info *ci) {
  hid_t dcpl = H5Dget_create_plist(d);
  memset(ci, 0, sizeof *ci);
  ci->order = (int)H5Tget_order(t);
  if (dcpl >= 0) {
    hsize_t chunk[4] = {0, 0, 0, 0};
    int nd = H5Pget_layout(dcpl) == H5D_CHUNKED ? H5Pget_chunk(dcpl, 4, chunk) : -1;
    ci->one_frame = nd == m->ndims && chunk[0] == 1 && chunk[1] == m->h && chunk[2] == m->w &&
                    (nd == 3 || chunk[3] == m->c);
    int nf = H5Pget_nfilters(dcpl);
    ci->nfilters = nf > 0 ? nf : 0;
    for (int q = 0; q < ci->nfilters && q < SF_FILTERS_MAX; q++) {
      unsigned flags = 0;
      size_t n = SF_CD_MAX;
      char fname[64];
      ci->id[q] = (int)H5Pget_filter2(dcpl, (unsigned)q, &flags, &n, ci->cd[q], sizeof fname, fname, NULL);
      ci->ncd[q] = (unsigned)n;
    }
    H5Pclose(dcpl);
  }
  H5Eclear2(H5E_DEFAULT);
}

/* The path of part p's link in the master file: the group of meta's dataset, then its name. */
static void part_path(const sf_source_meta *m, const src_part *p, char *out, size_t n) {
  const char *slash = strrchr(m->dataset, '/');
  if (!slash)
    snprintf(out, n, "%s", p->link);
  else
    snprintf(out, n, "%.*s/%s", (int)(slash - m->dataset), m->dataset, p->link);
}

typedef struct part_scan {
  const char *base;
  size_t blen, n, cap;
  src_part *p;
  int nomem;
} part_scan;

/* H5Literate: keeps links named BASE_ followed by digits only (the number in p->first). */
static herr_t scan_link(hid_t g, const char *name, const H5L_info_t *info, void *op) {
  part_scan *ps = op;
  (void)g;
  (void)info;
  if (strncmp(name, ps->base, ps->blen) != 0 || name[ps->blen] != '_') return 0;
  const char *dg = name + ps->blen + 1;
  size_t nd = strlen(dg);
  if (nd == 0 || nd > 18 || strspn(dg, "0123456789") != nd || strlen(name) >= sizeof ps->p->link)
    return 0;
  if (ps->n == ps->cap) {
    size_t cap = ps->cap ? 2 * ps->cap : 16;
    src_part *q = realloc(ps->p, cap * sizeof *q);
    if (!q) {
      ps->nomem = 1;
      return -1;
    }
    ps->p = q;
    ps->cap = cap;
  }
  src_part *p = &ps->p[ps->n++];
  memset(p, 0, sizeof *p);
  snprintf(p->link, sizeof p->link, "%s", name);
  p->first = strtoull(dg, NULL, 10);
  p->d = H5I_INVALID_HID;
  return 0;
}

static int by_number(const void *a, const void *b) {
  unsigned long long x = ((const src_part *)a)->first, y = ((const src_part *)b)->first;
  return x < y ? -1 : x > y;
}

/* Rank 0, where meta's dataset does not exist: the links NAME_NNNNNN in its group (NAME its
 * last component), in numeric order, into *parts (*n of them; 0 and NULL when there are
 * none). Numbers must follow each other without a gap. */
static int find_parts(hid_t f, const sf_source_meta *m, src_part **parts, size_t *n) {
  int status = 0;
  char grp[512];
  H5O_info_t oi;
  part_scan ps = {0};
  *parts = NULL;
  *n = 0;
  const char *slash = strrchr(m->dataset, '/');
  ps.base = slash ? slash + 1 : m->dataset;
  ps.blen = strlen(ps.base);
  if (!slash)
    snprintf(grp, sizeof grp, ".");
  else if (slash == m->dataset)
    snprintf(grp, sizeof grp, "/");
  else
    snprintf(grp, sizeof grp, "%.*s", (int)(slash - m->dataset), m->dataset);
  if (ps.blen == 0 || H5Oget_info_by_name2(f, grp, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0 ||
      oi.type != H5O_TYPE_GROUP) {
    H5Eclear2(H5E_DEFAULT);
    return 0;
  }
  hsize_t idx = 0;
  herr_t rc = H5Literate_by_name(f, grp, H5_INDEX_NAME, H5_ITER_NATIVE, &idx, scan_link, &ps, H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  SF_CHECK(!ps.nomem, SF_ERR_NOMEM, "out of memory listing the links of %s:%s", m->path, grp);
  SF_CHECK(rc >= 0, SF_ERR_INPUT, "%s:%s: the group's links cannot be read (corrupt?)", m->path, grp);
  if (ps.n == 0) goto cleanup;
  qsort(ps.p, ps.n, sizeof *ps.p, by_number);
  for (size_t k = 1; k < ps.n; k++)
    SF_CHECK(ps.p[k].first == ps.p[k - 1].first + 1, SF_ERR_INPUT,
             "%s:%s: no such dataset, and the links of its stack of parts go from %s to %s (%s: "
             "a part is missing)",
             m->path, m->dataset, ps.p[k - 1].link, ps.p[k].link,
             ps.p[k].first == ps.p[k - 1].first ? "one number twice" : "a number skipped");
  *parts = ps.p;
  *n = ps.n;
  ps.p = NULL;
cleanup:
  free(ps.p);
  return status;
}

/* Where HDF5 1.10 looks for an external link's file (H5L__extern_traverse): the name if
 * absolute; then (an absolute name by its last component) in each HDF5_EXT_PREFIX entry,
 * beside the master file, and in the working directory. The first regular file found goes
 * to found (1), else the place beside the master file (0). Local. */
static int locate_data_file(const char *master, const char *name, char *found, size_t n) {
  char dir[4096], cand[8300];
  struct stat st;
  const char *slash = strrchr(name, '/'), *base = name[0] == '/' && slash ? slash + 1 : name;
  const char *ms = strrchr(master, '/');
  if (ms)
    snprintf(dir, sizeof dir, "%.*s", ms == master ? 1 : (int)(ms - master), master);
  else
    snprintf(dir, sizeof dir, ".");
  if (name[0] == '/' && stat(name, &st) == 0 && S_ISREG(st.st_mode)) {
    snprintf(found, n, "%s", name);
    return 1;
  }
  const char *env = getenv("HDF5_EXT_PREFIX");
  char *envc = env ? strdup(env) : NULL;
  for (char *save = NULL, *p = envc ? strtok_r(envc, ":", &save) : NULL; p; p = strtok_r(NULL, ":", &save)) {
    snprintf(cand, sizeof cand, "%s/%s", p, base);
    if (stat(cand, &st) == 0 && S_ISREG(st.st_mode)) {
      snprintf(found, n, "%s", cand);
      free(envc);
      return 1;
    }
  }
  free(envc);
  snprintf(cand, sizeof cand, "%s/%s", dir, base);
  snprintf(found, n, "%s", cand);
  if (stat(cand, &st) == 0 && S_ISREG(st.st_mode)) return 1;
  if (stat(base, &st) == 0 && S_ISREG(st.st_mode)) {
    snprintf(found, n, "%s", base);
    return 1;
  }
  return 0;
}

/* Rank 0: the one message for a part that does not open as a dataset (path: its link in the
 * master file). Returns SF_ERR_INPUT. */
static int report_bad_part(hid_t f, const sf_source_meta *m, const char *path) {
  int status = SF_ERR_INPUT;
  H5L_info_t li;
  char val[4096], found[8400];
  const char *efile = NULL, *eobj = NULL;
  unsigned fl = 0;
  if (H5Lget_info(f, path, &li, H5P_DEFAULT) >= 0 && li.type == H5L_TYPE_EXTERNAL &&
      li.u.val_size <= sizeof val && H5Lget_val(f, path, val, sizeof val, H5P_DEFAULT) >= 0 &&
      H5Lunpack_elink_val(val, li.u.val_size, &fl, &efile, &eobj) >= 0 && efile && eobj) {
    H5Eclear2(H5E_DEFAULT);
    if (!locate_data_file(m->path, efile, found, sizeof found))
      SF_CHECK(0, SF_ERR_INPUT,
               "%s:%s: external link to %s:%s, but the data file %s is missing (looked for %s)",
               m->path, path, efile, eobj, efile, found);
    hid_t df = H5Fopen(found, H5F_ACC_RDONLY, H5P_DEFAULT);
    H5O_info_t oi;
    int has = df >= 0 && H5Lexists(df, eobj, H5P_DEFAULT) > 0 &&
              H5Oget_info_by_name2(df, eobj, &oi, H5O_INFO_BASIC, H5P_DEFAULT) >= 0 &&
              oi.type == H5O_TYPE_DATASET;
    if (df >= 0) H5Fclose(df);
    H5Eclear2(H5E_DEFAULT);
    SF_CHECK(df >= 0, SF_ERR_INPUT,
             "%s:%s: external link to %s:%s, but the data file %s is not readable HDF5 "
             "(truncated or corrupt?)",
             m->path, path, efile, eobj, found);
    SF_CHECK(has, SF_ERR_INPUT, "%s:%s: external link to %s:%s, but the data file %s has no dataset %s",
             m->path, path, efile, eobj, found, eobj);
    SF_CHECK(0, SF_ERR_INPUT, "%s:%s: external link to %s:%s (data file %s) does not open", m->path,
             path, efile, eobj, found);
  }
  H5Eclear2(H5E_DEFAULT);
  SF_CHECK(0, SF_ERR_INPUT, "%s:%s: the stack's part is not a dataset (a dangling link?)", m->path, path);
cleanup:
  return status;
}

/* Rank 0: opens and checks every part of a master file's stack (3 or 4 dims, the first
 * part's frame shape and dtype, values backed by data), filling meta from them, the files
 * they read (the master first), their frames, and how they store them: ci->one_frame only
 * when all parts store them alike. */
static int probe_parts(hid_t f, sf_source_meta *m, src_part *parts, sf_h5_files *files,
                       chunk_info *ci) {
  int status = 0;
  hid_t d = H5I_INVALID_HID, sp = H5I_INVALID_HID, t = H5I_INVALID_HID, df = H5I_INVALID_HID;
  sf_h5_files mine = {0};
  char path[800], where[6400], tname[64], first_t[64] = "";
  unsigned long long total = 0;
  memset(files, 0, sizeof *files);
  SF_CALL(sf_h5_files_add(files, m->path));
  for (size_t k = 0; k < m->parts; k++) {
    src_part *p = &parts[k];
    part_path(m, p, path, sizeof path);
    H5O_info_t oi;
    if (H5Oget_info_by_name2(f, path, &oi, H5O_INFO_BASIC, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_DATASET)
      SF_CALL(report_bad_part(f, m, path));
    SF_H5_AS(SF_ERR_INPUT, d = H5Dopen2(f, path, H5P_DEFAULT), "%s:%s: cannot open the stack's part",
             m->path, path);
    if (H5Fget_name(d, p->file, sizeof p->file) < 0) snprintf(p->file, sizeof p->file, "%.1023s", m->path);
    char dname[512] = "";
    if (H5Iget_name(d, dname, sizeof dname) < 0) dname[0] = 0;
    H5Eclear2(H5E_DEFAULT);
    snprintf(where, sizeof where, "%s:%s (data file %s%s%s)", m->path, path, p->file, *dname ? ":" : "",
             dname);
    sp = H5Dget_space(d);
    t = H5Dget_type(d);
    SF_CHECK(sp >= 0 && t >= 0, SF_ERR_INPUT, "%s: unreadable dataspace or type", where);
    int nd = H5Sget_simple_extent_ndims(sp);
    hsize_t dims[4] = {0, 0, 0, 1};
    if (nd >= 1 && nd <= 4) H5Sget_simple_extent_dims(sp, dims, NULL);
    sf_dtype dt = sf_h5_dtype_of(t, tname, sizeof tname);
    if (k == 0) {
      SF_CHECK(nd == 3 || nd == 4, SF_ERR_INPUT,
               "%s: expected 3 or 4 dimensions (T,H,W) or (T,H,W,C), found %d", where, nd);
      SF_CHECK(dt != SF_DTYPE_NONE, SF_ERR_INPUT,
               "%s: unsupported data type %s; slabflow reads 8- to 64-bit integers, float32 and "
               "float64",
               where, tname);
      m->ndims = nd;
      m->h = dims[1];
      m->w = dims[2];
      m->c = nd == 4 ? dims[3] : 1;
      m->dtype = dt;
      snprintf(first_t, sizeof first_t, "%s", tname);
    } else {
      char got[96], want[96];
      if (nd == 3 || nd == 4)
        snprintf(got, sizeof got, "%llux%llu%s", (unsigned long long)dims[1], (unsigned long long)dims[2],
                 nd == 4 ? " with channels" : "");
      else
        snprintf(got, sizeof got, "of %d dimensions", nd);
      snprintf(want, sizeof want, "%zux%zu%s", m->h, m->w, m->ndims == 4 ? " with channels" : "");
      SF_CHECK(nd == m->ndims && dims[1] == m->h && dims[2] == m->w && (nd == 3 || dims[3] == m->c),
               SF_ERR_INPUT,
               "%s: frames %s, but the stack's first part %s has frames %s; every part must have "
               "the same frame shape",
               where, got, parts[0].link, want);
      SF_CHECK(dt == m->dtype, SF_ERR_INPUT,
               "%s: data type %s; the stack's first part %s has %s; every part must have the same "
               "data type",
               where, tname, parts[0].link, first_t);
    }
    p->first = total;
    p->t = dims[0];
    total += dims[0];
    df = H5Iget_file_id(d);
    SF_CHECK(df >= 0, SF_ERR_INPUT, "%s: no file", where);
    SF_CALL(sf_h5_check_storage(df, d, p->file, where, &mine));
    for (size_t q = 0; q < mine.n; q++)
      SF_CALL(sf_h5_files_add(files, mine.path[q]));
    sf_h5_files_free(&mine);
    chunk_info c;
    chunk_info_of(d, t, m, &c);
    if (k == 0)
      *ci = c;
    else if (memcmp(&c, ci, sizeof c) != 0)
      ci->one_frame = 0; /* stored differently: no raw chunk reads */
    H5Fclose(df);
    H5Tclose(t);
    H5Sclose(sp);
    H5Dclose(d);
    df = t = sp = d = H5I_INVALID_HID;
  }
  m->t = total;
cleanup:
  sf_h5_files_free(&mine);
  if (df >= 0) H5Fclose(df);
  if (t >= 0) H5Tclose(t);
  if (sp >= 0) H5Sclose(sp);
  if (d >= 0) H5Dclose(d);
  return status;
}

/* Rank 0: opens and validates an HDF5 dataset, filling meta, the files its values come
 * from, and whether the ranks must read it each on its own (*independent): HDF5 1.10 has no
 * parallel reads of virtual datasets, and a dataset with no storage allocated (every value
 * the fill value) is filled by each rank without I/O, so a rank with frames skips the
 * collective calls that a rank without frames enters, and both wait for ever. */
static int probe_hdf5(sf_source_meta *m, int *independent, sf_h5_files *files, src_part **parts,
                      chunk_info *ci) {
  int status = 0;
  hid_t f = H5I_INVALID_HID, d = H5I_INVALID_HID, sp = H5I_INVALID_HID, t = H5I_INVALID_HID;
  hid_t dcpl = H5I_INVALID_HID;
  char names[512], tname[64], name[sizeof m->path + sizeof m->dataset + 2];
  SF_H5_AS(SF_ERR_INPUT, f = H5Fopen(m->path, H5F_ACC_RDONLY, H5P_DEFAULT),
           "%s: not a readable HDF5 file (truncated or corrupt?)", m->path);
  htri_t ok = H5Lexists(f, m->dataset, H5P_DEFAULT);
  if (ok > 0) {
    H5O_info_t oi;
    ok = H5Oget_info_by_name2(f, m->dataset, &oi, H5O_INFO_BASIC, H5P_DEFAULT) >= 0 &&
         oi.type == H5O_TYPE_DATASET;
  }
  if (ok <= 0) {
    H5Eclear2(H5E_DEFAULT);
    size_t n = 0;
    SF_CALL(find_parts(f, m, parts, &n));
    if (n > 0) {
      /* a master file: its parts live in other files, each read by every rank on its own */
      m->parts = n;
      *independent = 1;
      SF_CALL(probe_parts(f, m, *parts, files, ci));
      goto cleanup;
    }
    sf_h5_list_names(f, names, sizeof names);
    SF_CHECK(0, SF_ERR_INPUT, "%s: no dataset %s (the file has: %s)", m->path, m->dataset,
             *names ? names : "nothing");
  }
  SF_H5_AS(SF_ERR_INPUT, d = H5Dopen2(f, m->dataset, H5P_DEFAULT),
           "%s:%s: cannot open the dataset (corrupt?)", m->path, m->dataset);
  sp = H5Dget_space(d);
  t = H5Dget_type(d);
  SF_CHECK(sp >= 0 && t >= 0, SF_ERR_INPUT, "%s:%s: unreadable dataspace or type", m->path, m->dataset);
  int nd = H5Sget_simple_extent_ndims(sp);
  SF_CHECK(nd == 3 || nd == 4, SF_ERR_INPUT,
           "%s:%s: expected 3 or 4 dimensions (T,H,W) or (T,H,W,C), found %d", m->path,
           m->dataset, nd);
  hsize_t dims[4] = {0, 0, 0, 1};
  H5Sget_simple_extent_dims(sp, dims, NULL);
  m->ndims = nd;
  m->t = dims[0];
  m->h = dims[1];
  m->w = dims[2];
  m->c = nd == 4 ? dims[3] : 1;
  m->dtype = sf_h5_dtype_of(t, tname, sizeof tname);
  SF_CHECK(m->dtype != SF_DTYPE_NONE, SF_ERR_INPUT,
           "%s:%s: unsupported data type %s; slabflow reads 8- to 64-bit integers, "
           "float32 and float64",
           m->path, m->dataset, tname);
  snprintf(name, sizeof name, "%s:%s", m->path, m->dataset);
  SF_CALL(sf_h5_check_storage(f, d, m->path, name, files));
  chunk_info_of(d, t, m, ci);
  dcpl = H5Dget_create_plist(d);
  H5D_space_status_t alloc = H5D_SPACE_STATUS_ERROR;
  if (H5Dget_space_status(d, &alloc) < 0) H5Eclear2(H5E_DEFAULT);
  *independent =
      (dcpl >= 0 && H5Pget_layout(dcpl) == H5D_VIRTUAL) || alloc == H5D_SPACE_STATUS_NOT_ALLOCATED;
cleanup:
  if (dcpl >= 0) H5Pclose(dcpl);
  if (t >= 0) H5Tclose(t);
  if (sp >= 0) H5Sclose(sp);
  if (d >= 0) H5Dclose(d);
  if (f >= 0) H5Fclose(f);
  return status;
}

/* Rank 0: validates what every format shares (frames, sizes, channels). */
static int check_shape(const sf_source_meta *m, size_t min_hw) {
  int status = 0;
  const char *sep = m->kind == SF_SOURCE_HDF5 ? ":" : "";
  SF_CHECK(m->t > 0, SF_ERR_INPUT, "%s%s%s: has 0 frames; nothing to process", m->path, sep, m->dataset);
  SF_CHECK(m->h >= min_hw && m->w >= min_hw, SF_ERR_INPUT,
           "%s%s%s: frames are %zux%zu pixels; at least %zux%zu are needed", m->path, sep,
           m->dataset, m->h, m->w, min_hw, min_hw);
  SF_CHECK(m->c >= 1 && m->c <= 64, SF_ERR_INPUT,
           "%s%s%s: %zu channels in the last dimension; expected 1 to 64 (is the layout (T,H,W,C)?)",
           m->path, sep, m->dataset, m->c);
cleanup:
  return status;
}

/* Rank 0: detects and validates the input; fills meta (and for HDF5 see probe_hdf5). */
static int probe(sf_source_meta *m, size_t min_hw, int *independent, sf_h5_files *files,
                 src_part **parts, chunk_info *ci) {
  int status = 0;
  sf_tiff *t = NULL;
  struct stat st;
  if (stat(m->path, &st) != 0) {
    SF_CHECK(0, SF_ERR_INPUT, "%s: cannot open input: %s", m->path, strerror(errno));
  }
  SF_CHECK(S_ISREG(st.st_mode), SF_ERR_INPUT, "%s: input is not a regular file", m->path);
  int kind = sniff(m->path);
  SF_CHECK(kind >= 0, SF_ERR_INPUT, "%s: cannot read input: %s", m->path, strerror(errno));
  SF_CHECK(kind > 0, SF_ERR_INPUT,
           "%s: neither an HDF5 nor a TIFF file (%s; truncated or corrupt?)", m->path,
           st.st_size < 8 ? "too short" : "unknown signature");
  if (kind == 2) {
    m->kind = SF_SOURCE_TIFF;
    m->dataset[0] = 0;
    SF_CALL(sf_tiff_open(m->path, &t));
    sf_tiff_info(t, &m->t, &m->h, &m->w, &m->c, &m->dtype);
    m->ndims = m->c > 1 ? 4 : 3;
  } else {
    m->kind = SF_SOURCE_HDF5;
    SF_CALL(probe_hdf5(m, independent, files, parts, ci));
  }
  SF_CALL(check_shape(m, min_hw));
cleanup:
  sf_tiff_close(&t);
  return status;
}

int sf_source_open(MPI_Comm comm, const char *path, const char *dataset, size_t min_hw,
                   sf_source **out) {
  int status = 0;
  sf_source *s = NULL;
  hid_t fapl = H5I_INVALID_HID;
  char *packed = NULL;
  *out = NULL;
  SF_ALLOC(s, 1);
  s->comm = comm;
  s->file = s->dset = s->raw_file = s->raw_dset = H5I_INVALID_HID;
  SF_MPI(MPI_Comm_rank(comm, &s->rank));
  SF_MPI(MPI_Comm_size(comm, &s->size));
  snprintf(s->meta.path, sizeof s->meta.path, "%s", path);
  snprintf(s->meta.dataset, sizeof s->meta.dataset, "%s", dataset ? dataset : "/data");
  if (s->rank == 0)
    status = probe(&s->meta, min_hw, &s->independent, &s->files, &s->parts, &s->chunk);
  SF_MPI(MPI_Bcast(&status, 1, MPI_INT, 0, comm));
  if (status < 0) goto cleanup;
  SF_MPI(MPI_Bcast(&s->meta, (int)sizeof s->meta, MPI_BYTE, 0, comm));
  if (s->meta.kind == SF_SOURCE_HDF5) {
    SF_MPI(MPI_Bcast(&s->chunk, (int)sizeof s->chunk, MPI_BYTE, 0, comm));
    if (s->meta.parts) {
      if (s->rank != 0) s->parts = calloc(s->meta.parts, sizeof *s->parts);
      status = sf_mpi_agree(s->parts ? 0 : SF_ERR_NOMEM, comm);
      if (status < 0) goto cleanup;
      SF_CALL(sf_mpi_bcast_big(s->parts, s->meta.parts * sizeof *s->parts, MPI_BYTE, 0, comm));
      for (size_t k = 0; k < s->meta.parts; k++) {
        s->parts[k].d = H5I_INVALID_HID;
        s->parts[k].used = 0;
      }
    }
  }
  if (s->meta.kind == SF_SOURCE_HDF5) {
    char why[512] = "";
    /* Every rank watches the files with the sizes rank 0 saw when it checked them. */
    unsigned long long plen = 0;
    size_t n = 0;
    if (s->rank == 0) status = sf_h5_files_pack(&s->files, &packed, &n);
    plen = n;
    SF_MPI(MPI_Bcast(&plen, 1, MPI_UNSIGNED_LONG_LONG, 0, comm));
    if (s->rank != 0 && plen) packed = malloc(plen);
    status = sf_mpi_agree(plen && !packed ? SF_ERR_NOMEM : status, comm);
    if (status < 0) goto cleanup;
    SF_CALL(sf_mpi_bcast_big(packed, plen, MPI_CHAR, 0, comm));
    if (s->rank != 0) status = sf_h5_files_unpack(packed, plen, &s->files);
    SF_MPI(MPI_Bcast(&s->independent, 1, MPI_INT, 0, comm));
    status = sf_mpi_agree(status, comm);
    if (status < 0) goto cleanup;
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (!s->independent) {
      H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
      H5Pset_all_coll_metadata_ops(fapl, 1);
    }
    s->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    /* a master file's parts are opened through its links when first read */
    if (s->file >= 0 && !s->meta.parts) s->dset = H5Dopen2(s->file, s->meta.dataset, H5P_DEFAULT);
    int opened = s->meta.parts ? s->file >= 0 : s->dset >= 0;
    if (!opened) sf_h5_error_text(why, sizeof why);
    status = sf_mpi_agree(opened ? 0 : SF_ERR_IO, comm);
    if (status < 0 && s->rank == 0)
      sf_error_report(status, __FILE__, __LINE__, __func__, "%s:%s: %s open failed: %s", path,
                      s->meta.dataset, s->independent ? "independent" : "parallel", why);
    if (status < 0) goto cleanup;
  } else if (s->rank == 0) {
    status = sf_tiff_open(path, &s->tiff);
  }
  status = sf_mpi_agree(status, comm);
  if (status < 0) goto cleanup;
  *out = s;
  s = NULL;
cleanup:
  free(packed);
  if (fapl >= 0) H5Pclose(fapl);
  sf_source_close(&s);
  return status;
}

/* After frames [first, first+count) were read: an error naming them if a file the values
 * come from is now smaller than at open, since HDF5 reads zeros past the end of a file (the
 * MPI-IO driver and external raw files) rather than failing. For a contiguous dataset in
 * the HDF5 file itself, the frames now past its end are named too. */
static int check_shrunk(const sf_source *s, size_t first, size_t count) {
  int status = 0;
  long long now = -1;
  long q = sf_h5_files_shrunk(&s->files, &now);
  if (q < 0) return 0;
  char lost[128] = "";
  haddr_t at = q == 0 && s->dset >= 0 ? H5Dget_offset(s->dset) : HADDR_UNDEF;
  H5Eclear2(H5E_DEFAULT);
  size_t frame_bytes = sf_source_unit_elems(s) * sf_dtype_size(s->meta.dtype);
  if (at != HADDR_UNDEF && frame_bytes > 0) {
    unsigned long long keep =
        now > (long long)at ? ((unsigned long long)now - at) / frame_bytes : 0;
    if (keep < s->meta.t)
      snprintf(lost, sizeof lost, "; frames %llu-%zu lie past its new end", keep, s->meta.t - 1);
  }
  char which[4200] = "the file";
  if (q > 0) snprintf(which, sizeof which, "its data file %s", s->files.path[q]);
  SF_CHECK(0, SF_ERR_IO,
           "%s:%s: %s shrank from %lld to %lld bytes while frames %zu-%zu were read (truncated "
           "while the job ran?)%s",
           s->meta.path, s->meta.dataset, which, s->files.bytes[q], now, first, first + count - 1,
           lost);
cleanup:
  return status;
}

/* The part of a master file's stack that holds unit u (u < meta.t). Local. */
static size_t part_of(const sf_source *s, size_t u) {
  size_t lo = 0, hi = s->meta.parts;
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (s->parts[mid].first <= u)
      lo = mid;
    else
      hi = mid;
  }
  while (lo + 1 < s->meta.parts && s->parts[lo].first + s->parts[lo].t <= u)
    lo++; /* parts without frames */
  return lo;
}

/* This rank's handle on part k, opened through the master file's link (read-only, the default
 * driver: the parts are read by each rank on its own); at most SF_PARTS_OPEN are kept open,
 * the least recently read closed first. Checks that the part still holds its frames. Local. */
static int part_open(sf_source *s, size_t k) {
  int status = 0;
  src_part *p = &s->parts[k];
  hid_t sp = H5I_INVALID_HID;
  char path[800], why[512];
  p->used = ++s->tick;
  if (p->d >= 0) return 0;
  size_t open = 0, lru = SIZE_MAX;
  for (size_t q = 0; q < s->meta.parts; q++)
    if (s->parts[q].d >= 0) {
      open++;
      if (lru == SIZE_MAX || s->parts[q].used < s->parts[lru].used) lru = q;
    }
  if (open >= SF_PARTS_OPEN && lru != SIZE_MAX) {
    H5Dclose(s->parts[lru].d);
    s->parts[lru].d = H5I_INVALID_HID;
  }
  part_path(&s->meta, p, path, sizeof path);
  p->d = H5Dopen2(s->file, path, H5P_DEFAULT);
  if (p->d < 0) {
    sf_h5_error_text(why, sizeof why);
    SF_CHECK(0, SF_ERR_IO,
             "%s:%s: the stack's part no longer opens (its data file %s removed or changed "
             "since the job started?): %s",
             s->meta.path, path, p->file, why);
  }
  hsize_t dims[4] = {0, 0, 0, 1};
  sp = H5Dget_space(p->d);
  int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
  if (nd >= 1 && nd <= 4) H5Sget_simple_extent_dims(sp, dims, NULL);
  H5Eclear2(H5E_DEFAULT);
  SF_CHECK(nd == s->meta.ndims && dims[0] >= p->t && dims[1] == s->meta.h && dims[2] == s->meta.w &&
               (nd == 3 || dims[3] == s->meta.c),
           SF_ERR_IO,
           "%s:%s (data file %s): no longer the %llu frames of %zux%zu it had when the job "
           "started (changed while the job ran?)",
           s->meta.path, path, p->file, p->t, s->meta.h, s->meta.w);
cleanup:
  if (sp >= 0) H5Sclose(sp);
  if (status < 0 && p->d >= 0) {
    H5Dclose(p->d);
    p->d = H5I_INVALID_HID;
  }
  return status;
}

/* A master file's units [first, first+count) as dtype want, part by part (a batch may span
 * several), each read by this rank on its own. Local. */
static int read_parts(sf_source *s, size_t first, size_t count, sf_dtype want, void *buf) {
  int status = 0;
  hid_t fsp = H5I_INVALID_HID, msp = H5I_INVALID_HID;
  const size_t ub = sf_source_unit_elems(s) * sf_dtype_size(want);
  char *dst = buf;
  size_t u = first, left = count, k = count ? part_of(s, first) : 0;
  while (left > 0) {
    SF_CHECK(k < s->meta.parts && u >= s->parts[k].first, SF_ERR_INTERNAL,
             "%s:%s: frames %zu-%zu lie past the stack's %zu", s->meta.path, s->meta.dataset,
             first, first + count - 1, s->meta.t);
    src_part *p = &s->parts[k];
    if (u >= p->first + p->t) {
      k++;
      continue;
    }
    size_t off = u - p->first, n = p->first + p->t - u < left ? p->first + p->t - u : left;
    SF_CALL(part_open(s, k));
    hsize_t start[4] = {off, 0, 0, 0}, cnt[4] = {n, s->meta.h, s->meta.w, s->meta.c};
    fsp = H5Dget_space(p->d);
    msp = H5Screate_simple(s->meta.ndims, cnt, NULL);
    herr_t rc = fsp >= 0 && msp >= 0 ? H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, cnt, NULL) : -1;
    if (rc >= 0) rc = H5Dread(p->d, sf_h5_native_type(want), msp, fsp, H5P_DEFAULT, dst);
    H5Sclose(msp);
    H5Sclose(fsp);
    msp = fsp = H5I_INVALID_HID;
    if (rc < 0) {
      char why[512];
      sf_h5_error_text(why, sizeof why);
      SF_CALL(check_shrunk(s, first, count));
      SF_CHECK(0, SF_ERR_IO,
               "%s:%s: reading frames %zu-%zu (frames %zu-%zu of part %s, data file %s) failed "
               "(truncated or corrupt file?): %s",
               s->meta.path, s->meta.dataset, u, u + n - 1, off, off + n - 1, p->link, p->file, why);
    }
    dst += n * ub;
    u += n;
    left -= n;
    k++;
  }
  if (count > 0) status = check_shrunk(s, first, count);
cleanup:
  if (msp >= 0) H5Sclose(msp);
  if (fsp >= 0) H5Sclose(fsp);
  return status;
}

/* Hyperslab read of units [first, first+count) as dtype want (count may be 0): collective,
 * or each rank on its own in the independent mode (see probe_hdf5). */
static int read_hdf5(sf_source *s, size_t first, size_t count, sf_dtype want, void *buf) {
  int status = 0;
  hid_t fsp = H5I_INVALID_HID, msp = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
  hsize_t start[4] = {first, 0, 0, 0};
  hsize_t cnt[4] = {count, s->meta.h, s->meta.w, s->meta.c};
  double dummy = 0.0;
  if (s->meta.parts) return read_parts(s, first, count, want, buf);
  if (s->independent && count == 0) return 0;
  fsp = H5Dget_space(s->dset);
  dxpl = H5Pcreate(H5P_DATASET_XFER);
  if (!s->independent) H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
  if (count > 0) {
    H5Sselect_hyperslab(fsp, H5S_SELECT_SET, start, NULL, cnt, NULL);
    msp = H5Screate_simple(s->meta.ndims, cnt, NULL);
  } else {
    H5Sselect_none(fsp);
    msp = H5Scopy(fsp);
    H5Sselect_none(msp);
  }
  herr_t rc = H5Dread(s->dset, sf_h5_native_type(want), msp, fsp, dxpl, count ? buf : (void *)&dummy);
  if (count > 0) status = check_shrunk(s, first, count);
  if (rc < 0 && status == 0) {
    char why[512];
    sf_h5_error_text(why, sizeof why);
    if (count > 0)
      status = sf_error_report(SF_ERR_IO, __FILE__, __LINE__, __func__,
                               "%s:%s: reading frames %zu-%zu failed (truncated or corrupt "
                               "file?): %s",
                               s->meta.path, s->meta.dataset, first, first + count - 1, why);
    else
      status = sf_error_report(SF_ERR_IO, __FILE__, __LINE__, __func__,
                               "%s:%s: reading failed (truncated or corrupt file?): %s",
                               s->meta.path, s->meta.dataset, why);
  }
  H5Sclose(msp);
  H5Sclose(fsp);
  H5Pclose(dxpl);
  return status;
}

/* read_hdf5 on every rank, the outcome agreed; a failure met by several ranks (a file
 * truncated under all of them) is reported once, by the lowest of them. Collective. */
static int read_hdf5_agreed(sf_source *s, size_t first, size_t count, sf_dtype want, void *buf) {
  char msg[2048];
  sf_error_defer(msg, sizeof msg);
  int rc = read_hdf5(s, first, count, want, buf);
  sf_error_defer(NULL, 0);
  int agreed = sf_mpi_agree(rc, s->comm);
  if (agreed < 0) sf_mpi_report_lowest(rc < 0, msg[0] ? msg : "reading the input failed", s->comm);
  return agreed;
}

/* Rank 0 reads each rank's request and sends it in pieces; other ranks receive. */
static int read_tiff(sf_source *s, size_t first, size_t count, sf_dtype want, void *buf) {
  int status = 0;
  unsigned long long req[2] = {first, count}, *all = NULL;
  const size_t ue = sf_source_unit_elems(s), esz = sf_dtype_size(s->meta.dtype);
  if (s->rank == 0) SF_ALLOC(all, 2 * (size_t)s->size);
  SF_MPI(MPI_Gather(req, 2, MPI_UNSIGNED_LONG_LONG, all, 2, MPI_UNSIGNED_LONG_LONG, 0, s->comm));
  if (s->rank == 0) {
    int rstat = 0;
    for (int r = 0; r < s->size; r++) {
      size_t f = all[2 * r], c = all[2 * r + 1];
      if (c == 0) continue;
      if (c > s->stage_units) {
        free(s->stage);
        s->stage = malloc(c * ue * (esz + sizeof(float)));
        s->stage_units = s->stage ? c : 0;
      }
      void *fl = s->stage ? (char *)s->stage + c * ue * esz : NULL;
      if (!s->stage) rstat = SF_ERR_NOMEM;
      if (!rstat) rstat = sf_tiff_read_frames(s->tiff, f, c, s->stage);
      int ok = rstat == 0;
      if (r != 0) SF_MPI(MPI_Send(&ok, 1, MPI_INT, r, 80, s->comm));
      if (!ok) continue;
      void *dst = r == 0 ? buf : fl;
      if (want == SF_DTYPE_F32)
        sf_dtype_to_float(s->meta.dtype, s->stage, dst, c * ue);
      else
        memcpy(dst, s->stage, c * ue * esz);
      if (r == 0) continue;
      sf_mpi_xfer_big(fl, c * ue * sf_dtype_size(want), MPI_BYTE, r, 81, 1, s->comm);
    }
    status = rstat;
  } else if (count > 0) {
    int ok = 0;
    SF_MPI(MPI_Recv(&ok, 1, MPI_INT, 0, 80, s->comm, MPI_STATUS_IGNORE));
    if (!ok) status = SF_ERR_IO;
    if (ok) status = sf_mpi_xfer_big(buf, count * ue * sf_dtype_size(want), MPI_BYTE, 0, 81, 0, s->comm);
  }
cleanup:
  free(all);
  return status;
}

int sf_source_custom(MPI_Comm comm, const sf_source_reader *reader, size_t unit_elems,
                     const char *what, sf_source **out) {
  int status = 0;
  sf_source *s = NULL;
  *out = NULL;
  SF_ALLOC(s, 1);
  s->comm = comm;
  s->file = s->dset = s->raw_file = s->raw_dset = H5I_INVALID_HID;
  SF_MPI(MPI_Comm_rank(comm, &s->rank));
  SF_MPI(MPI_Comm_size(comm, &s->size));
  s->reader = *reader;
  s->meta.kind = SF_SOURCE_CUSTOM;
  s->meta.ndims = 3;
  s->meta.h = 1;
  s->meta.w = unit_elems;
  s->meta.c = 1;
  s->meta.dtype = SF_DTYPE_NONE;
  snprintf(s->meta.path, sizeof s->meta.path, "%s", what ? what : "");
  *out = s;
  s = NULL;
cleanup:
  free(s);
  return sf_mpi_agree(status, comm);
}

int sf_source_read_batch(sf_source *s, size_t first, size_t count, size_t core_first,
                         size_t core_count, sf_dtype want, void *buf) {
  int rc;
  if (want == SF_DTYPE_NONE) want = s->meta.dtype;
  if (s->meta.kind == SF_SOURCE_CUSTOM)
    rc = s->reader.read(s->reader.ctx, first, count, core_first, core_count, buf);
  else if (s->meta.kind == SF_SOURCE_HDF5)
    return read_hdf5_agreed(s, first, count, want, buf);
  else
    rc = read_tiff(s, first, count, want, buf);
  return sf_mpi_agree(rc, s->comm);
}

/* This rank's own read-only handle on the dataset for raw chunk reads (H5Dread_chunk is a
 * plain read of the stored bytes; it needs no MPI-IO), and a check that its chunks are one
 * unit each. Local. */
static int raw_open(sf_source *s) {
  int status = 0;
  hid_t dcpl = H5I_INVALID_HID;
  if (s->raw_dset >= 0) return 0;
  SF_CHECK(s->meta.kind == SF_SOURCE_HDF5, SF_ERR_INPUT,
           "%s: raw chunks can only be read from an HDF5 dataset", s->meta.path);
  SF_H5_AS(SF_ERR_IO, s->raw_file = H5Fopen(s->meta.path, H5F_ACC_RDONLY, H5P_DEFAULT),
           "%s: cannot open the file for chunk reads", s->meta.path);
  SF_H5_AS(SF_ERR_IO, s->raw_dset = H5Dopen2(s->raw_file, s->meta.dataset, H5P_DEFAULT),
           "%s:%s: cannot open the dataset for chunk reads", s->meta.path, s->meta.dataset);
  SF_H5_AS(SF_ERR_IO, dcpl = H5Dget_create_plist(s->raw_dset), "%s:%s: no creation properties",
           s->meta.path, s->meta.dataset);
  hsize_t chunk[4] = {0, 0, 0, 0};
  int nd = H5Pget_layout(dcpl) == H5D_CHUNKED ? H5Pget_chunk(dcpl, 4, chunk) : -1;
  SF_CHECK(nd == s->meta.ndims && chunk[0] == 1 && chunk[1] == s->meta.h &&
               chunk[2] == s->meta.w && (nd == 3 || chunk[3] == s->meta.c),
           SF_ERR_INPUT, "%s:%s: raw chunk reads need chunks of one whole frame", s->meta.path,
           s->meta.dataset);
cleanup:
  if (dcpl >= 0) H5Pclose(dcpl);
  return status;
}

/* The handle and frame within it of unit u for a raw chunk read, and names for messages:
 * the dataset's own, or for a master file's stack its part's (which must be chunked as every
 * other part is, one frame a chunk). Local. */
static int raw_unit(sf_source *s, size_t u, hid_t *d, hsize_t *local, const char **file,
                    const char **name) {
  int status = 0;
  if (!s->meta.parts) {
    SF_CALL(raw_open(s));
    *d = s->raw_dset;
    *local = u;
    *file = s->meta.path;
    *name = s->meta.dataset;
    return 0;
  }
  SF_CHECK(s->chunk.one_frame, SF_ERR_INPUT,
           "%s:%s: raw chunk reads need every part of the stack chunked by one whole frame, "
           "with the same filters",
           s->meta.path, s->meta.dataset);
  size_t k = part_of(s, u);
  SF_CALL(part_open(s, k));
  *d = s->parts[k].d;
  *local = u - s->parts[k].first;
  *file = s->parts[k].file;
  *name = s->parts[k].link;
cleanup:
  return status;
}

/* Units [first, first+count) of this rank as stored chunk bytes into rb. Local. */
static int read_raw_local(sf_source *s, size_t first, size_t count, sf_raw_buf *rb) {
  int status = 0;
  if (count == 0) return 0;
  if (!s->meta.parts) SF_CALL(raw_open(s));
  if (count > rb->n_cap) {
    size_t *o = realloc(rb->off, count * sizeof *o), *l = o ? realloc(rb->len, count * sizeof *l) : NULL;
    if (o) rb->off = o;
    if (l) rb->len = l;
    unsigned *f = l ? realloc(rb->filters, count * sizeof *f) : NULL;
    if (f) rb->filters = f;
    SF_CHECK(o && l && f, SF_ERR_NOMEM, "out of memory for %zu chunk offsets", count);
    rb->n_cap = count;
  }
  /* one pass, unit by unit: a batch may span more parts than are kept open */
  size_t total = 0;
  for (size_t k = 0; k < count; k++) {
    hid_t d = H5I_INVALID_HID;
    hsize_t local = 0, bytes = 0;
    const char *file = NULL, *name = NULL;
    SF_CALL(raw_unit(s, first + k, &d, &local, &file, &name));
    hsize_t off[4] = {local, 0, 0, 0};
    SF_H5_AS(SF_ERR_IO, H5Dget_chunk_storage_size(d, off, &bytes), "%s:%s: frame %zu: no stored chunk",
             file, name, (size_t)local);
    rb->off[k] = total;
    rb->len[k] = (size_t)bytes;
    rb->filters[k] = 0;
    total += (size_t)bytes;
    if (total > rb->cap) {
      size_t cap = rb->cap * 2 > total ? rb->cap * 2 : total;
      unsigned char *data = realloc(rb->data, cap);
      SF_CHECK(data, SF_ERR_NOMEM, "out of memory for %zu bytes of chunks", cap);
      rb->data = data;
      rb->cap = cap;
    }
    if (bytes == 0) continue;
    uint32_t filt = 0;
    SF_H5_AS(SF_ERR_IO, H5Dread_chunk(d, H5P_DEFAULT, off, &filt, rb->data + rb->off[k]),
             "%s:%s: reading the chunk of frame %zu failed", file, name, (size_t)local);
    rb->filters[k] = filt;
  }
  if (s->files.n) SF_CALL(check_shrunk(s, first, count));
cleanup:
  return status;
}

int sf_source_read_raw(sf_source *s, size_t first, size_t count, sf_raw_buf *rb) {
  char msg[2048];
  sf_error_defer(msg, sizeof msg);
  int rc = read_raw_local(s, first, count, rb);
  sf_error_defer(NULL, 0);
  int agreed = sf_mpi_agree(rc, s->comm);
  if (agreed < 0) sf_mpi_report_lowest(rc < 0, msg[0] ? msg : "reading the input failed", s->comm);
  return agreed;
}

int sf_source_chunk_filter(const sf_source *s, int *filter, unsigned *cd, size_t *ncd,
                           size_t *nfilters, int *one_frame) {
  const chunk_info *ci = &s->chunk;
  const int h5 = s->meta.kind == SF_SOURCE_HDF5, any = h5 && ci->nfilters > 0;
  if (filter) *filter = any ? ci->id[0] : 0;
  if (nfilters) *nfilters = h5 ? (size_t)ci->nfilters : 0;
  if (one_frame) *one_frame = h5 && ci->one_frame;
  if (ncd) {
    size_t have = any ? ci->ncd[0] : 0, copy = have < *ncd ? have : *ncd;
    if (copy > SF_CD_MAX) copy = SF_CD_MAX;
    if (cd && copy) memcpy(cd, ci->cd[0], copy * sizeof *cd);
    *ncd = have;
  }
  return h5 ? 0 : SF_ERR_INPUT;
}

void sf_raw_buf_free(sf_raw_buf *rb) {
  free(rb->data);
  free(rb->off);
  free(rb->len);
  free(rb->filters);
  memset(rb, 0, sizeof *rb);
}

void sf_source_close(sf_source **ps) {
  if (!ps || !*ps) return;
  sf_source *s = *ps;
  if (s->dset >= 0) H5Dclose(s->dset);
  if (s->file >= 0) H5Fclose(s->file);
  if (s->raw_dset >= 0) H5Dclose(s->raw_dset);
  if (s->raw_file >= 0) H5Fclose(s->raw_file);
  for (size_t k = 0; s->parts && k < s->meta.parts; k++)
    if (s->parts[k].d >= 0) H5Dclose(s->parts[k].d);
  free(s->parts);
  sf_h5_files_free(&s->files);
  sf_tiff_close(&s->tiff);
  free(s->stage);
  free(s);
  *ps = NULL;
}
