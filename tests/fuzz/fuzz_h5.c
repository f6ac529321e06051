/* libFuzzer harness: slabflow's HDF5 input validation. The input does not become the file's
 * bytes (libhdf5 1.10 itself fails on corrupt files: SEGV in H5F__accum_read, terabyte
 * mallocs in H5HG_read, leaks in H5Fopen's failure path, none of it slabflow's); it
 * describes a well-formed file that the harness writes with libhdf5: /data's rank, shape,
 * data type (byte order, compound, string, float16), layout (contiguous, compact, chunked,
 * gzip/shuffle/fletcher32, unallocated), values (NaN included), and its storage: external
 * raw files (present, short, missing, absolute), a virtual dataset (sources in this or other
 * files, missing, short, out of range, printf-style names), or a master file's parts
 * data_NNNNNN (shapes and types that differ, external links to missing files), or no /data.
 * Then the frame source's probe (sf_source_open on one rank) reads the first and last frames,
 * and the volume reader (sf_vol_open "in.h5:/data") its first slice. Every failure must name
 * in.h5, and no HDF5 object may stay open. MPI is initialised once, as a single process. */
#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <sanitizer/lsan_interface.h>

#include "fuzz_common.h"
#include "io/h5_util.h"
#include "io/volume.h"
#include "mpi/unit_source.h"

/* libhdf5 keeps free lists and per-library state that LeakSanitizer cannot follow. */
const char *__lsan_default_suppressions(void) { return "leak:libhdf5_openmpi.so\n"; }
const char *__lsan_default_options(void) { return "print_suppressions=0"; }

static void finalize(void) {
  __lsan_disable();
  MPI_Finalize();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  int provided;
  setenv("OMPI_MCA_opal_signal", "", 0); /* keep libFuzzer's and ASan's crash handlers */
  /* what Open MPI allocates at MPI_Init and keeps is not the readers' leak */
  __lsan_disable();
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  __lsan_enable();
  atexit(finalize);
  sf_h5_quiet();
  return 0;
}

typedef struct {
  const uint8_t *p;
  size_t n;
} fz_in;

/* The next byte (0 once the input is used up). */
static unsigned nb(fz_in *in) {
  if (!in->n) return 0;
  in->n--;
  return *in->p++;
}

static hid_t make_type(unsigned k, hid_t *owned) {
  *owned = H5I_INVALID_HID;
  switch (k % 14) {
  case 0: return H5T_STD_U8LE;
  case 1: return H5T_STD_I8LE;
  case 2: return H5T_STD_U16LE;
  case 3: return H5T_STD_U16BE;
  case 4: return H5T_STD_I16LE;
  case 5: return H5T_STD_U32LE;
  case 6: return H5T_STD_I32BE;
  case 7: return H5T_STD_U64LE;
  case 8: return H5T_STD_I64LE;
  case 9: return H5T_IEEE_F32LE;
  case 10: return H5T_IEEE_F64BE;
  case 11: /* float16 */
    *owned = H5Tcopy(H5T_IEEE_F32LE);
    H5Tset_fields(*owned, 15, 10, 5, 0, 10);
    H5Tset_size(*owned, 2);
    H5Tset_ebias(*owned, 15);
    return *owned;
  case 12:
    *owned = H5Tcreate(H5T_COMPOUND, 4);
    H5Tinsert(*owned, "a", 0, H5T_STD_U16LE);
    H5Tinsert(*owned, "b", 2, H5T_STD_U16LE);
    return *owned;
  default:
    *owned = H5Tcopy(H5T_C_S1);
    H5Tset_size(*owned, 3);
    return *owned;
  }
}

/* Fills n bytes from the input, cycling it; some float inputs become NaN. */
static void fill(fz_in *in, unsigned char *buf, size_t n, const uint8_t *all, size_t size) {
  for (size_t i = 0; i < n; i++) buf[i] = size ? all[(i * 7 + nb(in)) % size] : 0;
}

static hid_t make_dataset(hid_t loc, const char *name, fz_in *in, const uint8_t *all, size_t size,
                          int layout_ok) {
  hsize_t dims[5], maxd[5], chunk[5];
  int nd = 1 + (int)(nb(in) % 5), unlimited = nb(in) & 1;
  size_t elems = 1;
  for (int i = 0; i < nd; i++) {
    dims[i] = i == 0 ? nb(in) % 5 : nb(in) % 20;
    maxd[i] = unlimited && i == 0 ? H5S_UNLIMITED : dims[i];
    chunk[i] = 1 + (dims[i] ? nb(in) % dims[i] : 0);
    elems *= dims[i];
  }
  hid_t owned, t = make_type(nb(in), &owned);
  hid_t sp = H5Screate_simple(nd, dims, maxd), dcpl = H5Pcreate(H5P_DATASET_CREATE), d = -1;
  unsigned lay = layout_ok ? nb(in) % 6 : 0;
  if (unlimited || lay >= 2) {
    H5Pset_chunk(dcpl, nd, chunk);
    if (lay == 3) H5Pset_deflate(dcpl, nb(in) % 10);
    if (lay == 4) H5Pset_shuffle(dcpl);
    if (lay == 5) H5Pset_fletcher32(dcpl);
  } else if (lay == 1) {
    H5Pset_layout(dcpl, H5D_COMPACT);
  }
  d = H5Dcreate2(loc, name, t, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  size_t tsize = H5Tget_size(t);
  if (d >= 0 && elems && elems * tsize <= 65536 && (nb(in) & 3)) {
    unsigned char *buf = malloc(elems * tsize);
    if (buf) {
      fill(in, buf, elems * tsize, all, size);
      if ((t == H5T_IEEE_F32LE) && (nb(in) & 1)) ((float *)buf)[elems / 2] = NAN;
      H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
    }
    free(buf);
  }
  if (owned >= 0) H5Tclose(owned);
  H5Pclose(dcpl);
  H5Sclose(sp);
  return d;
}

/* A small file name from the input: in the scratch folder, or absolute and missing. */
static const char *file_name(fz_in *in, char *buf, size_t n, const char *stem) {
  unsigned k = nb(in);
  if (k % 8 == 7)
    snprintf(buf, n, "/nonexistent/%s%u.h5", stem, k % 3);
  else if (k % 8 == 6)
    snprintf(buf, n, ".");
  else
    snprintf(buf, n, "%s%u.h5", stem, k % 3);
  return buf;
}

static void write_file(const char *path, fz_in *in, const uint8_t *all, size_t size) {
  char name[1024], full[1024];
  hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  if (f < 0) return;
  switch (nb(in) % 5) {
  case 0: { /* a plain dataset */
    hid_t d = make_dataset(f, "data", in, all, size, 1);
    if (d >= 0) H5Dclose(d);
    break;
  }
  case 1: { /* external raw files */
    hsize_t dims[3] = {1 + nb(in) % 3, 8 + nb(in) % 3, 8};
    hid_t sp = H5Screate_simple(3, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    int nf = 1 + (int)(nb(in) % 3);
    for (int q = 0; q < nf; q++) {
      unsigned k = nb(in);
      snprintf(name, sizeof name, k % 5 == 4 ? "/nonexistent/ext%d.raw" : "ext%d.raw", q);
      size_t have = (size_t)(nb(in) % 4) * 64;
      if (k % 5 < 3) {
        unsigned char raw[192];
        fill(in, raw, have, all, size);
        fz_write(name, raw, have, full, sizeof full);
      } else if (k % 5 == 3) {
        unlink(fz_path(name, full, sizeof full));
      }
      hsize_t sz = nb(in) & 1 ? H5F_UNLIMITED : (hsize_t)(nb(in) % 4) * 64;
      H5Pset_external(dcpl, name, (off_t)(nb(in) % 3) * 32, sz);
    }
    hid_t dapl = H5Pcreate(H5P_DATASET_ACCESS);
    H5Pset_efile_prefix(dapl, "${ORIGIN}");
    hid_t d = H5Dcreate2(f, "data", H5T_STD_U8LE, sp, H5P_DEFAULT, dcpl, dapl);
    if (d >= 0) H5Dclose(d);
    H5Pclose(dapl);
    H5Pclose(dcpl);
    H5Sclose(sp);
    break;
  }
  case 2: { /* a virtual dataset */
    hsize_t dims[3] = {1 + nb(in) % 4, 8, 8 + nb(in) % 2};
    hid_t sp = H5Screate_simple(3, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    int nm = 1 + (int)(nb(in) % 3);
    for (int q = 0; q < nm; q++) {
      file_name(in, name, sizeof name, "src");
      unsigned k = nb(in);
      hsize_t sdims[3] = {1 + nb(in) % 3, 8 - (k & 1), 8 + nb(in) % 2};
      char dname[16];
      snprintf(dname, sizeof dname, k & 2 ? "s%d" : "missing", q);
      if (strcmp(name, ".") == 0) {
        hid_t ssp = H5Screate_simple(3, sdims, NULL);
        hid_t sd = H5Dcreate2(f, dname, H5T_STD_U16LE, ssp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (sd >= 0) H5Dclose(sd);
        H5Sclose(ssp);
      } else if (name[0] != '/' && (k & 4)) {
        hid_t sf = H5Fcreate(fz_path(name, full, sizeof full), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        hid_t ssp = H5Screate_simple(3, sdims, NULL);
        hid_t sd = sf >= 0 ? H5Dcreate2(sf, dname, (k & 8) ? H5T_IEEE_F32LE : H5T_STD_U16LE, ssp,
                                        H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT)
                           : -1;
        if (sd >= 0) H5Dclose(sd);
        if (sf >= 0) H5Fclose(sf);
        H5Sclose(ssp);
      }
      if (k & 16) strcat(name, "%%"); /* an escaped percent: a name that is not found */
      if ((k & 96) == 96) snprintf(name, sizeof name, "src%%b.h5"); /* printf-style */
      hsize_t start[3] = {nb(in) % 4, 0, 0}, count[3] = {1, 8, 8};
      hid_t vsel = H5Screate_simple(3, dims, NULL);
      H5Sselect_hyperslab(vsel, H5S_SELECT_SET, start, NULL, count, NULL);
      hid_t ssel = H5Screate_simple(3, sdims, NULL);
      hsize_t sstart[3] = {nb(in) % 3, 0, 0};
      H5Sselect_hyperslab(ssel, H5S_SELECT_SET, sstart, NULL, count, NULL);
      H5Pset_virtual(dcpl, vsel, name, dname, ssel);
      H5Sclose(vsel);
      H5Sclose(ssel);
    }
    hid_t d = H5Dcreate2(f, "data", H5T_STD_U16LE, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d >= 0) H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(sp);
    break;
  }
  case 3: { /* a master file's parts */
    int np = (int)(nb(in) % 4);
    for (int q = 1; q <= np; q++) {
      snprintf(name, sizeof name, "data_%06d", nb(in) % 5 == 4 ? q + 1 : q);
      if (nb(in) % 4 == 3) {
        file_name(in, full, sizeof full, "part");
        H5Lcreate_external(full, "/data", f, name, H5P_DEFAULT, H5P_DEFAULT);
      } else {
        hid_t d = make_dataset(f, name, in, all, size, 0);
        if (d >= 0) H5Dclose(d);
      }
    }
    break;
  }
  default: { /* /data is a group, or absent */
    hid_t g = H5Gcreate2(f, nb(in) & 1 ? "data" : "movie", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g >= 0) H5Gclose(g);
  }
  }
  H5Fclose(f);
  H5Eclear2(H5E_DEFAULT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[1024], spec[1100];
  fz_in in = {data, size};
  fz_path("in.h5", path, sizeof path);
  write_file(path, &in, data, size);
  fz_begin();
  sf_source *s = NULL;
  void *buf = NULL;
  int status = sf_source_open(MPI_COMM_SELF, path, "/data", 8, &s);
  fz_end(status, "in.h5");
  if (status == 0) {
    /* a read's failure is agreed over the ranks and printed by the agreement (not held) */
    const sf_source_meta *m = sf_source_get_meta(s);
    size_t bytes = sf_source_unit_elems(s) * sizeof(float);
    if (bytes <= ((size_t)64 << 20) && (buf = malloc(bytes))) {
      status = sf_source_read_batch(s, 0, 1, 0, 1, SF_DTYPE_F32, buf);
      if (status == 0) sf_source_read_batch(s, m->t - 1, 1, m->t - 1, 1, SF_DTYPE_F32, buf);
    }
  }
  free(buf);
  sf_source_close(&s);

  fz_begin();
  sf_vol *v = NULL;
  snprintf(spec, sizeof spec, "%s:/data", path);
  status = sf_vol_open(spec, 0, &v);
  if (status == 0) {
    size_t n = sf_vol_slice_elems(v, 2);
    float *f = n && n <= ((size_t)16 << 20) ? malloc(n * sizeof *f) : NULL;
    if (f) status = sf_vol_read_slices(v, 2, 0, 1, f);
    free(f);
  }
  fz_end(status, "in.h5");
  sf_vol_close(&v);
  H5garbage_collect();
  ssize_t open = H5Fget_obj_count((hid_t)H5F_OBJ_ALL, H5F_OBJ_ALL);
  if (open != 0) {
    fprintf(stderr, "fuzz: %zd HDF5 objects left open\n", open);
    abort();
  }
  return 0;
}
