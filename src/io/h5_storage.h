/* Where the values of an HDF5 dataset live, checked before any is read. HDF5 reads zeros for
 * the missing part of an external raw file (H5Pset_external) and the fill value for a
 * virtual dataset's missing source, without an error; slabflow refuses such inputs instead.
 * The files found (the HDF5 file, its raw files, the sources) are listed with their sizes so
 * that a reader can notice one of them shrinking while the job runs. */
#ifndef SF_H5_STORAGE_H
#define SF_H5_STORAGE_H

#include <hdf5.h>
#include <stddef.h>

/* The files a dataset's values are read from, with their sizes in bytes when listed. */
typedef struct sf_h5_files {
  size_t n;
  char **path;
  long long *bytes;
} sf_h5_files;

/* Whether path holds the HDF5 signature where HDF5 looks for it: at byte 0, 512, 1024,
 * 2048, ... (a user block may come first). 1 found, 0 not, -1 unreadable (errno set). Local. */
int sf_h5_has_signature(const char *path);

/* Checks that every value of dset (opened from file, at path; name is "FILE:DATASET" for
 * messages) is backed by data: each external raw file exists and holds its part, each
 * source of a virtual dataset opens and covers its mapping. Lists the files in *files when
 * files is not NULL (the caller frees them with sf_h5_files_free). 0, or SF_ERR_INPUT after
 * reporting. Local. */
int sf_h5_check_storage(hid_t file, hid_t dset, const char *path, const char *name,
                        sf_h5_files *files);

/* Adds path, with its size now, unless it is listed already. 0 or SF_ERR_NOMEM (reported).
 * Local. */
int sf_h5_files_add(sf_h5_files *files, const char *path);

/* The first listed file that is now smaller than when it was listed (or gone): its index,
 * with its size now in *now (-1 when it cannot be read); -1 when none. Local. */
long sf_h5_files_shrunk(const sf_h5_files *files, long long *now);

/* Flattens the list into one malloc'd buffer of *n bytes, and back, for a broadcast.
 * 0 or SF_ERR_NOMEM (reported). Local. */
int sf_h5_files_pack(const sf_h5_files *files, char **buf, size_t *n);
int sf_h5_files_unpack(const char *buf, size_t n, sf_h5_files *files);

/* Frees the list's contents; the list is left empty. Local. */
void sf_h5_files_free(sf_h5_files *files);

#endif
