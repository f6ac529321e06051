/* pyFAI PONI files (version 1 and 2): the geometry and the detector's pixel sizes and shape. */
#ifndef SF_PONI_H
#define SF_PONI_H

#include <stddef.h>

typedef struct sf_poni {
  int version;                 /* 1 or 2 */
  char detector[64];           /* "Detector", "Eiger4M", ... as written */
  double pixel1, pixel2;       /* m */
  size_t shape[2];             /* max_shape (rows, columns); 0, 0 when neither file nor
                                * detector table says */
  double dist, poni1, poni2, rot1, rot2, rot3; /* m, rad */
  double wavelength;           /* m; 0 when absent */
} sf_poni;

/* Reads path. A known detector name (Eiger 500k/1M/4M/9M/16M, Pilatus 100k/300k/1M/2M/6M)
 * gives pixel sizes and shape where the file leaves them out; a Detector_config's values
 * win. Reports one message naming the file and the problem (not a PONI file, a missing or
 * malformed Distance/Poni1/Poni2/Rot1..3 or pixel size, a negative distance, an unknown
 * detector without pixel sizes) and returns SF_ERR_INPUT; 0 otherwise. Local. */
int sf_poni_read(const char *path, sf_poni *p);

/* Writes a version-2 PONI file (for synthetic data); 0 or SF_ERR_IO (reported). Local. */
int sf_poni_write(const char *path, const sf_poni *p);

#endif
