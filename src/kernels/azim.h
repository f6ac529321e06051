/* Azimuthal integration (pyFAI's geometry and CSR integration, specs/integrate.md): per-pixel
 * geometry of a flat detector from PONI parameters, the CSR table of pixel fractions per bin
 * for pixel splitting no/bbox/full (1-D, or 2-D radial x azimuthal), and the per-frame sparse
 * products with pyFAI's preprocessing (dark, flat, solid angle, polarisation, mask, dummy)
 * and Poisson variance. Pure, local: no MPI, HDF5 or OpenMP; the table is built once and
 * read by many threads. */
#ifndef SF_AZIM_H
#define SF_AZIM_H

#include <stddef.h>
#include <stdint.h>

#include "kernels/dtype_convert.h"

typedef enum { SF_UNIT_2TH_DEG = 0, SF_UNIT_2TH_RAD, SF_UNIT_Q_NM, SF_UNIT_Q_A, SF_UNIT_R_MM } sf_azim_unit;
typedef enum { SF_SPLIT_NO = 0, SF_SPLIT_BBOX, SF_SPLIT_FULL } sf_azim_split;

/* pyFAI names ("2th_deg", "q_nm^-1", ...; "no", "bbox", "full"); -1 when unknown. */
int sf_azim_unit_parse(const char *name);
const char *sf_azim_unit_name(sf_azim_unit u);
int sf_azim_split_parse(const char *name);

/* A flat detector in the PONI model (SI units: m, rad). */
typedef struct sf_azim_geom {
  double dist, poni1, poni2, rot1, rot2, rot3, wavelength;
  double pixel1, pixel2;   /* along rows (axis 1) and columns (axis 2) */
  size_t h, w;             /* frame rows and columns */
} sf_azim_geom;

/* Per-pixel arrays as pyFAI computes them (float64 internally): at pixel centres, the radial
 * position in unit u (unit scale applied: degrees, nm^-1, mm...), chi in rad (-pi, pi], the
 * relative solid angle cos^3(alpha), and the polarisation factor for factor f (NaN: none,
 * all 1). Any output pointer may be NULL. Returns 0, or SF_ERR_USAGE for a q unit without a
 * wavelength. */
int sf_azim_pixel_arrays(const sf_azim_geom *g, sf_azim_unit u, double polarization,
                         float *radial, float *chi, float *solid_angle, float *polar);

typedef struct sf_azim_opts {
  sf_azim_unit unit;
  sf_azim_split split;
  size_t nbins;            /* radial bins (>= 1) */
  size_t azimuth_bins;     /* 0: 1-D; M >= 1: 2-D with M azimuthal bins over the chi range */
  double radial_lo, radial_hi;   /* radial range in the output unit; NaN: from the data */
  double azimuth_lo, azimuth_hi; /* chi range in degrees; NaN: all */
  double polarization;     /* NaN: no correction */
  int solid_angle;         /* divide by the relative solid angle (pyFAI's default) */
} sf_azim_opts;

/* The integrator: the CSR table (rows = bins, 1-D: nbins rows; 2-D: azimuth_bins x nbins rows,
 * azimuthal bin major), the per-pixel normalisation (flat x solid angle x polarisation) and
 * the bin centres. Built once; read-only afterwards. */
typedef struct sf_azim {
  size_t h, w, npix, nrows, nbins, nazim;
  int32_t *indptr;         /* nrows + 1 */
  int32_t *indices;        /* nnz flat pixel indices (row * w + col) */
  float *data;             /* nnz pixel fractions */
  size_t nnz;
  float *norm;             /* npix: flat x solid angle x polarisation (0 for masked pixels) */
  double *radial;          /* nbins bin centres, output unit */
  double *azimuthal;       /* nazim bin centres in degrees (2-D only) */
  /* Made by the build, or by sf_azim_index from the CSR (internal): the table pixel-major for
   * the per-frame products. */
  int32_t *pix_row;        /* npix: the one row of a pixel of weight 1, -1 none (tables without
                              splitting); NULL otherwise */
  double *row_norm, *row_count; /* nrows: norm and count sums when no pixel is skipped */
  uint16_t *px_row;        /* compact form (2 to 65534 rows, each pixel on consecutive rows; NULL
                              otherwise): npix first row, 0xFFFF none */
  float *px_w;             /* 2 x npix: weights on rows px_row and px_row + 1 (split tables) */
  size_t nov;              /* entries past a pixel's second (split tables) */
  int32_t *ov_pix, *ov_row;
  float *ov_w;
  int32_t *pm_ptr;         /* general form (split tables not compact): npix + 1 entry offsets */
  int32_t *pm_row;         /* nnz rows */
  float *pm_w;             /* nnz weights */
} sf_azim;

/* Builds the integrator for geometry g and options o. mask (npix, nonzero = invalid) and flat
 * (npix) may be NULL. Masked pixels are left out of the table. Returns 0, SF_ERR_USAGE with
 * *why set for a radial or azimuth range that selects no pixel (or a q unit without
 * wavelength), SF_ERR_NOMEM. */
int sf_azim_build(const sf_azim_geom *g, const sf_azim_opts *o, const uint8_t *mask,
                  const float *flat, sf_azim *out, const char **why);

void sf_azim_free(sf_azim *a);

/* The same build in phases, for a caller that runs the per-range phases on its threads: the
 * frame's pixel rows are cut into ranges (nranges asked, at least 1 and at most h), each
 * per-range phase touches only its range's rows and state, and every combination is made in
 * range order, so the table is byte for byte sf_azim_build's whatever the number of ranges and
 * whatever order or threads run them. Order: create; geometry (every k); extent (every k);
 * bounds; emit (every k); layout; fill (every k); index (every k); finish; destroy. A phase may start only when
 * the one before it has finished for every range. Statuses as sf_azim_build's (why set by
 * create, bounds and layout). Local; the per-range phases of distinct k may run concurrently. */
typedef struct sf_azim_builder sf_azim_builder;

int sf_azim_builder_create(const sf_azim_geom *g, const sf_azim_opts *o, const uint8_t *mask,
                           const float *flat, size_t nranges, sf_azim_builder **out,
                           const char **why);
/* The number of ranges (k = 0..n-1 of the per-range phases). */
size_t sf_azim_builder_ranges(const sf_azim_builder *b);
/* Range k: centres, corners and the normalisation of its pixel rows. */
int sf_azim_builder_geometry(sf_azim_builder *b, size_t k);
/* Range k: bbox half-widths, and the radial and chi extent of its unmasked pixels. */
int sf_azim_builder_extent(sf_azim_builder *b, size_t k);
/* The bins from the ranges' extents and the options' ranges (serial). */
int sf_azim_builder_bounds(sf_azim_builder *b, const char **why);
/* Range k: the entries of its pixels and the count per table row. */
int sf_azim_builder_emit(sf_azim_builder *b, size_t k);
/* The row offsets and each range's slots in every row; the CSR arrays (serial). */
int sf_azim_builder_layout(sf_azim_builder *b, const char **why);
/* Range k: its entries into the CSR (increasing pixel within a row, as the serial build). */
int sf_azim_builder_fill(sf_azim_builder *b, size_t k);
/* Range k: the pixel-major forms of its pixels and the per-row sums of the k-th of n equal
 * parts of the table's rows. */
int sf_azim_builder_index(sf_azim_builder *b, size_t k);
/* The bin centres and the pixel-major form chosen; the table moves to *out (serial). */
int sf_azim_builder_finish(sf_azim_builder *b, sf_azim *out);
/* Accepts NULL and sets *b to NULL. */
void sf_azim_builder_destroy(sf_azim_builder **b);

/* Makes the internal part of a table that arrived without it (sent from another rank):
 * pixel_rows as the build makes it (pix_row != NULL there). The products then give the same
 * bytes as on the building rank. Returns 0 or SF_ERR_NOMEM. */
int sf_azim_index(sf_azim *a, int pixel_rows);

/* Sums of one frame per row of the table: signal, normalisation, variance (Poisson: max(raw,
 * 1) + dark, weights squared) and count, in double. A pixel is skipped for this frame when its
 * value equals the dummy (|raw - dummy| <= delta_dummy; dummy NaN: no dummy) or is not finite.
 * raw is the frame as float (npix), dark may be NULL. */
typedef struct sf_azim_sums {
  double *signal, *norm, *variance, *count; /* nrows each */
} sf_azim_sums;

void sf_azim_integrate(const sf_azim *a, const float *raw, const float *dark, double dummy,
                       double delta_dummy, sf_azim_sums *s);

/* The same for a frame stored as type t (npix elements at raw), read in place: a pixel's value
 * is (float)x as sf_dtype_to_float gives it, so the sums are byte for byte those of the frame
 * converted to float first (the same skipped pixels: non-finite, dummy). Fast paths for the
 * types of sf_azim_dtype_direct; any other type is read through a switch per pixel (slower
 * than converting first). t must have a size (not SF_DTYPE_NONE). */
void sf_azim_integrate_typed(const sf_azim *a, const void *raw, sf_dtype t, const float *dark,
                             double dummy, double delta_dummy, sf_azim_sums *s);

/* 1 for the types sf_azim_integrate_typed and sf_azim_variance_azimuthal_typed read as fast
 * as float32 (float32, uint32, uint16, int32). */
int sf_azim_dtype_direct(sf_dtype t);

/* Results from the sums: I = signal / norm and sigma = sqrt(variance) / norm, empty (0.0) where
 * norm is 0; float32 like pyFAI's. */
void sf_azim_result(const sf_azim *a, const sf_azim_sums *s, float *intensity, float *sigma);

#endif
