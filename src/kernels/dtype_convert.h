/* Element types slabflow reads and writes, and conversions to and from float32. Pure, local. */
#ifndef SF_DTYPE_CONVERT_H
#define SF_DTYPE_CONVERT_H

#include <stddef.h>
#include <stdint.h>

/* Every HDF5 integer and float type up to 64 bits (float16 aside). */
typedef enum {
  SF_DTYPE_NONE = 0,
  SF_DTYPE_U8,
  SF_DTYPE_U16,
  SF_DTYPE_I16,
  SF_DTYPE_F32,
  SF_DTYPE_F64,
  SF_DTYPE_I8,
  SF_DTYPE_I32,
  SF_DTYPE_U32,
  SF_DTYPE_I64,
  SF_DTYPE_U64
} sf_dtype;

/* Bytes per element of a dtype (0 for SF_DTYPE_NONE). */
size_t sf_dtype_size(sf_dtype t);

/* Short name ("uint16", "float32", ...). */
const char *sf_dtype_name(sf_dtype t);

/* 1 for the integer dtypes, 0 for the floats and SF_DTYPE_NONE. */
int sf_dtype_is_integer(sf_dtype t);

/* Converts n elements of type t at src to float32 at dst. */
void sf_dtype_to_float(sf_dtype t, const void *restrict src, float *restrict dst, size_t n);

/* Converts n elements of type t at src to double at dst: exact but for 64-bit integers above
 * 2^53, which are rounded to nearest (ties to even). */
void sf_dtype_to_double(sf_dtype t, const void *restrict src, double *restrict dst, size_t n);

/* Converts n float32 values to type t: integers are rounded to nearest (ties to even) and
 * saturated to the type's range (NaN becomes 0); floats are copied. 32- and 64-bit integers
 * above 2^24 come back only as exactly as float32 holds them. */
void sf_dtype_from_float(sf_dtype t, const float *restrict src, void *restrict dst, size_t n);

/* Element i of an array of type t as float32, exactly as sf_dtype_to_float converts it (NaN for
 * SF_DTYPE_NONE). Inline, so that a constant t selects one load. */
static inline float sf_dtype_load_float(const void *p, size_t i, sf_dtype t) {
  switch (t) {
  case SF_DTYPE_U8: return (float)((const uint8_t *)p)[i];
  case SF_DTYPE_I8: return (float)((const int8_t *)p)[i];
  case SF_DTYPE_U16: return (float)((const uint16_t *)p)[i];
  case SF_DTYPE_I16: return (float)((const int16_t *)p)[i];
  case SF_DTYPE_U32: return (float)((const uint32_t *)p)[i];
  case SF_DTYPE_I32: return (float)((const int32_t *)p)[i];
  case SF_DTYPE_U64: return (float)((const uint64_t *)p)[i];
  case SF_DTYPE_I64: return (float)((const int64_t *)p)[i];
  case SF_DTYPE_F32: return ((const float *)p)[i];
  case SF_DTYPE_F64: return (float)((const double *)p)[i];
  default: return __builtin_nanf("");
  }
}

/* Index of the first non-finite value among n floats, or n if all are finite. */
size_t sf_find_nonfinite(const float *x, size_t n);

#endif
