/* Multi-page TIFF stacks (ScanImage-style): one page per frame, channels as samples per pixel. */
#ifndef SF_TIFF_STACK_H
#define SF_TIFF_STACK_H

#include <stddef.h>

#include "kernels/dtype_convert.h"

typedef struct sf_tiff sf_tiff;

/* Opens a multi-page TIFF read-only and indexes every page (offsets kept, so any frame is reached
 * in O(1)). Checks that all pages share width, height, samples per pixel and sample type, which
 * must be uint8, uint16, int16 or float32 (float64 too). Reports a clear message naming the file
 * and the problem (not a TIFF, truncated, inconsistent page N, unsupported type, ...) and returns
 * SF_ERR_INPUT, or SF_ERR_IO when the file cannot be opened. Local. */
int sf_tiff_open(const char *path, sf_tiff **out);

/* Shape and type of an open stack: frames (pages), height, width, channels (samples per pixel). */
void sf_tiff_info(const sf_tiff *t, size_t *frames, size_t *height, size_t *width,
                  size_t *channels, sf_dtype *dtype);

/* Reads frames [first, first+count) into buf in the file's dtype, row-major (count,H,W,C).
 * Returns 0, or SF_ERR_IO/SF_ERR_INPUT with a message naming the file and the page. Local. */
int sf_tiff_read_frames(sf_tiff *t, size_t first, size_t count, void *buf);

/* Closes the stack; accepts NULL and sets *t to NULL. Local. */
void sf_tiff_close(sf_tiff **t);

/* Streaming writer for a multi-page TIFF (used by synth and tests). */
typedef struct sf_tiff_writer sf_tiff_writer;
int sf_tiff_writer_open(const char *path, size_t height, size_t width, size_t channels,
                        sf_dtype dtype, sf_tiff_writer **out);
/* Appends count frames (count,H,W,C) in the writer's dtype. */
int sf_tiff_writer_append(sf_tiff_writer *w, const void *frames, size_t count);
/* Finishes the file; returns 0 or SF_ERR_IO. Accepts NULL; sets *w to NULL. */
int sf_tiff_writer_close(sf_tiff_writer **w);

#endif
