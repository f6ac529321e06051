#include "mpi/unit_source.h"

#include <errno.h>
#include <hdf5.h>
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

/* Rank 0: opens and validates an HDF5 dataset, filling meta, the files its values come
 * from, and whether the ranks must read it each on its own (*independent): HDF5 1.10 has no
 * parallel reads of virtual datasets, and a dataset with no storage allocated (every value
 * the fill value) is filled by each rank without I/O, so a rank with frames skips the
 * collective calls that a rank without frames enters, and both wait for ever. */
static int probe_hdf5(sf_source_meta *m, int *independent, sf_h5_files *files) {
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
static int probe(sf_source_meta *m, size_t min_hw, int *independent, sf_h5_files *files) {
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
    SF_CALL(probe_hdf5(m, independent, files));
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
  if (s->rank == 0) status = probe(&s->meta, min_hw, &s->independent, &s->files);
  SF_MPI(MPI_Bcast(&status, 1, MPI_INT, 0, comm));
  if (status < 0) goto cleanup;
  SF_MPI(MPI_Bcast(&s->meta, (int)sizeof s->meta, MPI_BYTE, 0, comm));
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
    if (s->file >= 0) s->dset = H5Dopen2(s->file, s->meta.dataset, H5P_DEFAULT);
    if (s->dset < 0) sf_h5_error_text(why, sizeof why);
    status = sf_mpi_agree(s->dset >= 0 ? 0 : SF_ERR_IO, comm);
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
  haddr_t at = q == 0 ? H5Dget_offset(s->dset) : HADDR_UNDEF;
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

/* Hyperslab read of units [first, first+count) as dtype want (count may be 0): collective,
 * or each rank on its own in the independent mode (see probe_hdf5). */
static int read_hdf5(sf_source *s, size_t first, size_t count, sf_dtype want, void *buf) {
  int status = 0;
  hid_t fsp = H5I_INVALID_HID, msp = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
  hsize_t start[4] = {first, 0, 0, 0};
  hsize_t cnt[4] = {count, s->meta.h, s->meta.w, s->meta.c};
  double dummy = 0.0;
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

int sf_source_read(sf_source *s, size_t first, size_t count, float *buf) {
  return sf_source_read_batch(s, first, count, first, count, SF_DTYPE_F32, buf);
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

/* Units [first, first+count) of this rank as stored chunk bytes into rb. Local. */
static int read_raw_local(sf_source *s, size_t first, size_t count, sf_raw_buf *rb) {
  int status = 0;
  if (count == 0) return 0;
  SF_CALL(raw_open(s));
  if (count > rb->n_cap) {
    size_t *o = realloc(rb->off, count * sizeof *o), *l = o ? realloc(rb->len, count * sizeof *l) : NULL;
    if (o) rb->off = o;
    if (l) rb->len = l;
    unsigned *f = l ? realloc(rb->filters, count * sizeof *f) : NULL;
    if (f) rb->filters = f;
    SF_CHECK(o && l && f, SF_ERR_NOMEM, "out of memory for %zu chunk offsets", count);
    rb->n_cap = count;
  }
  size_t total = 0;
  for (size_t k = 0; k < count; k++) {
    hsize_t off[4] = {first + k, 0, 0, 0}, bytes = 0;
    SF_H5_AS(SF_ERR_IO, H5Dget_chunk_storage_size(s->raw_dset, off, &bytes),
             "%s:%s: frame %zu: no stored chunk", s->meta.path, s->meta.dataset, first + k);
    rb->off[k] = total;
    rb->len[k] = (size_t)bytes;
    total += (size_t)bytes;
  }
  if (total > rb->cap) {
    unsigned char *d = realloc(rb->data, total);
    SF_CHECK(d, SF_ERR_NOMEM, "out of memory for %zu bytes of chunks", total);
    rb->data = d;
    rb->cap = total;
  }
  for (size_t k = 0; k < count; k++) {
    hsize_t off[4] = {first + k, 0, 0, 0};
    uint32_t filt = 0;
    if (rb->len[k] == 0) {
      rb->filters[k] = 0;
      continue;
    }
    SF_H5_AS(SF_ERR_IO, H5Dread_chunk(s->raw_dset, H5P_DEFAULT, off, &filt, rb->data + rb->off[k]),
             "%s:%s: reading the chunk of frame %zu failed", s->meta.path, s->meta.dataset,
             first + k);
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
  sf_h5_files_free(&s->files);
  sf_tiff_close(&s->tiff);
  free(s->stage);
  free(s);
  *ps = NULL;
}
