/* Small HDF5 helpers shared by readers and writers: quiet error stack, messages, types. */
#ifndef SF_H5_UTIL_H
#define SF_H5_UTIL_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/dtype_convert.h"

/* Turns off HDF5's automatic error printing (slabflow prints one message itself). Local. */
void sf_h5_quiet(void);

/* Copies the innermost message of the current HDF5 error stack into buf (or "unknown
 * HDF5 error") and clears the stack; returns buf, for use in a message. Local. */
const char *sf_h5_error_text(char *buf, size_t n);

/* Lists up to six top-level names of an HDF5 file or group into buf as "/a, /b, ..." (empty
 * when there are none or they cannot be read), for "no such dataset" messages. Local. */
void sf_h5_list_names(hid_t loc, char *buf, size_t n);

/* slabflow dtype of an HDF5 datatype, or SF_DTYPE_NONE; name_out gets a readable name of
 * the type (e.g. "int32", "compound") for messages. Local. */
sf_dtype sf_h5_dtype_of(hid_t type, char *name_out, size_t n);

/* Native HDF5 memory type of a slabflow dtype. Local. */
hid_t sf_h5_native_type(sf_dtype t);

/* Writes a scalar attribute (string, double, long long, uint64) on an object, replacing one
 * of that name. Collective when the file is open with the MPI-IO driver (every rank passes the
 * same value). 0 or SF_ERR_IO, unreported (the HDF5 error stack says why). */
int sf_h5_attr_string(hid_t obj, const char *name, const char *value);
int sf_h5_attr_double(hid_t obj, const char *name, double value);
int sf_h5_attr_int(hid_t obj, const char *name, long long value);
int sf_h5_attr_uint64(hid_t obj, const char *name, uint64_t value);

/* Creates dataset name of file type ftype and shape dims[rank] under loc, chunked as
 * chunk[rank] when chunk is not NULL, without modification times (so that the same contents
 * give the same file bytes). The dataset, or a negative id. Local (serial files). */
hid_t sf_h5_dataset_create(hid_t loc, const char *name, hid_t ftype, int rank, const hsize_t *dims,
                           const hsize_t *chunk);

/* Writes count slices along the first dimension, from first on, of a dataset of shape
 * dims[rank] from buf (memory type mtype, row-major). A negative value on failure. Local. */
herr_t sf_h5_write_slices(hid_t dset, hid_t mtype, int rank, const hsize_t *dims, hsize_t first,
                          hsize_t count, const void *buf);

#endif
