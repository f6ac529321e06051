#include "io/h5_util.h"

#include <stdio.h>
#include <string.h>

#include "sf_error.h"

void sf_h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

typedef struct {
  char *buf;
  size_t n;
} err_sink;

/* Keeps the message of the last (innermost) stack entry that has one. */
static herr_t walk_cb(unsigned k, const H5E_error2_t *e, void *data) {
  (void)k;
  err_sink *s = data;
  char minor[256] = "";
  if (H5Eget_msg(e->min_num, NULL, minor, sizeof minor) < 0) minor[0] = 0;
  if (e->desc && *e->desc) {
    if (*minor)
      snprintf(s->buf, s->n, "%s (%s)", e->desc, minor);
    else
      snprintf(s->buf, s->n, "%s", e->desc);
  }
  return 0;
}

const char *sf_h5_error_text(char *buf, size_t n) {
  err_sink s = {buf, n};
  snprintf(buf, n, "unknown HDF5 error");
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, &s);
  H5Eclear2(H5E_DEFAULT);
  return buf;
}

void sf_h5_list_names(hid_t loc, char *buf, size_t n) {
  H5G_info_t gi;
  buf[0] = 0;
  if (H5Gget_info(loc, &gi) < 0) {
    H5Eclear2(H5E_DEFAULT);
    return;
  }
  size_t used = 0;
  for (hsize_t i = 0; i < gi.nlinks && i < 6 && used < n; i++) {
    char name[256];
    if (H5Lget_name_by_idx(loc, ".", H5_INDEX_NAME, H5_ITER_INC, i, name, sizeof name,
                           H5P_DEFAULT) < 0)
      break;
    used += (size_t)snprintf(buf + used, n - used, "%s/%s", i ? ", " : "", name);
  }
  if (gi.nlinks > 6 && used < n) snprintf(buf + used, n - used, ", ...");
  H5Eclear2(H5E_DEFAULT);
}

sf_dtype sf_h5_dtype_of(hid_t type, char *name, size_t n) {
  H5T_class_t cls = H5Tget_class(type);
  size_t sz = H5Tget_size(type);
  if (cls == H5T_INTEGER) {
    H5T_sign_t sg = H5Tget_sign(type);
    snprintf(name, n, "%sint%zu", sg == H5T_SGN_NONE ? "u" : "", sz * 8);
    static const sf_dtype u[9] = {
        [1] = SF_DTYPE_U8, [2] = SF_DTYPE_U16, [4] = SF_DTYPE_U32, [8] = SF_DTYPE_U64};
    static const sf_dtype i[9] = {
        [1] = SF_DTYPE_I8, [2] = SF_DTYPE_I16, [4] = SF_DTYPE_I32, [8] = SF_DTYPE_I64};
    return sz <= 8 ? (sg == H5T_SGN_NONE ? u : i)[sz] : SF_DTYPE_NONE;
  }
  if (cls == H5T_FLOAT) {
    snprintf(name, n, "float%zu", sz * 8);
    if (sz == 4) return SF_DTYPE_F32;
    if (sz == 8) return SF_DTYPE_F64;
    return SF_DTYPE_NONE;
  }
  const char *cn = cls == H5T_STRING      ? "string"
                   : cls == H5T_COMPOUND  ? "compound"
                   : cls == H5T_ENUM      ? "enum"
                   : cls == H5T_ARRAY     ? "array"
                   : cls == H5T_BITFIELD  ? "bitfield"
                   : cls == H5T_OPAQUE    ? "opaque"
                   : cls == H5T_REFERENCE ? "reference"
                   : cls == H5T_VLEN      ? "variable-length"
                                          : "unknown";
  snprintf(name, n, "%s", cn);
  return SF_DTYPE_NONE;
}

hid_t sf_h5_native_type(sf_dtype t) {
  switch (t) {
  case SF_DTYPE_U8: return H5T_NATIVE_UINT8;
  case SF_DTYPE_U16: return H5T_NATIVE_UINT16;
  case SF_DTYPE_I16: return H5T_NATIVE_INT16;
  case SF_DTYPE_F32: return H5T_NATIVE_FLOAT;
  case SF_DTYPE_F64: return H5T_NATIVE_DOUBLE;
  case SF_DTYPE_I8: return H5T_NATIVE_INT8;
  case SF_DTYPE_I32: return H5T_NATIVE_INT32;
  case SF_DTYPE_U32: return H5T_NATIVE_UINT32;
  case SF_DTYPE_I64: return H5T_NATIVE_INT64;
  case SF_DTYPE_U64: return H5T_NATIVE_UINT64;
  default: return H5I_INVALID_HID;
  }
}

/* Creates (or replaces) attribute name of type t and writes value. */
static int attr_write(hid_t obj, const char *name, hid_t t, const void *value) {
  int status = 0;
  hid_t sp = H5I_INVALID_HID, a = H5I_INVALID_HID;
  if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
  sp = H5Screate(H5S_SCALAR);
  if (sp < 0) SF_FAIL_QUIET(SF_ERR_IO);
  a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  if (a < 0 || H5Awrite(a, t, value) < 0) SF_FAIL_QUIET(SF_ERR_IO);
cleanup:
  if (a >= 0) H5Aclose(a);
  if (sp >= 0) H5Sclose(sp);
  return status;
}

int sf_h5_attr_string(hid_t obj, const char *name, const char *value) {
  hid_t t = H5Tcopy(H5T_C_S1);
  if (t < 0) return SF_ERR_IO;
  H5Tset_size(t, strlen(value) + 1);
  H5Tset_strpad(t, H5T_STR_NULLTERM);
  int rc = attr_write(obj, name, t, value);
  H5Tclose(t);
  return rc;
}

int sf_h5_attr_double(hid_t obj, const char *name, double value) {
  return attr_write(obj, name, H5T_NATIVE_DOUBLE, &value);
}

int sf_h5_attr_int(hid_t obj, const char *name, long long value) {
  return attr_write(obj, name, H5T_NATIVE_LLONG, &value);
}

int sf_h5_attr_uint64(hid_t obj, const char *name, uint64_t value) {
  return attr_write(obj, name, H5T_NATIVE_UINT64, &value);
}

hid_t sf_h5_dataset_create(hid_t loc, const char *name, hid_t ftype, int rank, const hsize_t *dims,
                           const hsize_t *chunk) {
  hid_t space = H5Screate_simple(rank, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  hid_t d = H5I_INVALID_HID;
  if (space >= 0 && dcpl >= 0 && H5Pset_obj_track_times(dcpl, 0) >= 0 &&
      (!chunk || H5Pset_chunk(dcpl, rank, chunk) >= 0))
    d = H5Dcreate2(loc, name, ftype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  if (dcpl >= 0) H5Pclose(dcpl);
  if (space >= 0) H5Sclose(space);
  return d;
}

herr_t sf_h5_write_slices(hid_t dset, hid_t mtype, int rank, const hsize_t *dims, hsize_t first,
                          hsize_t count, const void *buf) {
  if (rank < 1 || rank > H5S_MAX_RANK) return -1;
  hsize_t start[H5S_MAX_RANK] = {first}, cnt[H5S_MAX_RANK];
  memcpy(cnt, dims, (size_t)rank * sizeof *cnt);
  cnt[0] = count;
  hid_t fs = H5Dget_space(dset), ms = H5Screate_simple(rank, cnt, NULL);
  herr_t e = -1;
  if (fs >= 0 && ms >= 0 && H5Sselect_hyperslab(fs, H5S_SELECT_SET, start, NULL, cnt, NULL) >= 0)
    e = H5Dwrite(dset, mtype, ms, fs, H5P_DEFAULT, buf);
  if (ms >= 0) H5Sclose(ms);
  if (fs >= 0) H5Sclose(fs);
  return e;
}
