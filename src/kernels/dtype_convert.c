#include "kernels/dtype_convert.h"

#include <math.h>

size_t sf_dtype_size(sf_dtype t) {
  switch (t) {
  case SF_DTYPE_U8:
  case SF_DTYPE_I8: return 1;
  case SF_DTYPE_U16:
  case SF_DTYPE_I16: return 2;
  case SF_DTYPE_F32:
  case SF_DTYPE_I32:
  case SF_DTYPE_U32: return 4;
  case SF_DTYPE_F64:
  case SF_DTYPE_I64:
  case SF_DTYPE_U64: return 8;
  default: return 0;
  }
}

const char *sf_dtype_name(sf_dtype t) {
  switch (t) {
  case SF_DTYPE_U8: return "uint8";
  case SF_DTYPE_U16: return "uint16";
  case SF_DTYPE_I16: return "int16";
  case SF_DTYPE_F32: return "float32";
  case SF_DTYPE_F64: return "float64";
  case SF_DTYPE_I8: return "int8";
  case SF_DTYPE_I32: return "int32";
  case SF_DTYPE_U32: return "uint32";
  case SF_DTYPE_I64: return "int64";
  case SF_DTYPE_U64: return "uint64";
  default: return "unsupported";
  }
}

int sf_dtype_is_integer(sf_dtype t) {
  return sf_dtype_size(t) > 0 && t != SF_DTYPE_F32 && t != SF_DTYPE_F64;
}

void sf_dtype_to_float(sf_dtype t, const void *restrict src, float *restrict dst, size_t n) {
  switch (t) {
  case SF_DTYPE_U8: {
    const uint8_t *s = src;
    for (size_t i = 0; i < n; i++)
      dst[i] = (float)s[i];
    break;
  }
  case SF_DTYPE_U16: {
    const uint16_t *s = src;
    for (size_t i = 0; i < n; i++)
      dst[i] = (float)s[i];
    break;
  }
  case SF_DTYPE_I16: {
    const int16_t *s = src;
    for (size_t i = 0; i < n; i++)
      dst[i] = (float)s[i];
    break;
  }
  case SF_DTYPE_F32: {
    const float *s = src;
    for (size_t i = 0; i < n; i++)
      dst[i] = s[i];
    break;
  }
  case SF_DTYPE_F64: {
    const double *s = src;
    for (size_t i = 0; i < n; i++)
      dst[i] = (float)s[i];
    break;
  }
  case SF_DTYPE_I8: {
    const int8_t *s = src;
    for (size_t i = 0; i < n; i++)
      dst[i] = (float)s[i];
    break;
  }
  case SF_DTYPE_I32: {
    const int32_t *s = src;
    for (size_t i = 0; i < n; i++)
      dst[i] = (float)s[i];
    break;
  }
  case SF_DTYPE_U32: {
    const uint32_t *s = src;
    for (size_t i = 0; i < n; i++)
      dst[i] = (float)s[i];
    break;
  }
  case SF_DTYPE_I64: {
    const int64_t *s = src;
    for (size_t i = 0; i < n; i++)
      dst[i] = (float)s[i];
    break;
  }
  case SF_DTYPE_U64: {
    const uint64_t *s = src;
    for (size_t i = 0; i < n; i++)
      dst[i] = (float)s[i];
    break;
  }
  default: break;
  }
}

void sf_dtype_to_double(sf_dtype t, const void *restrict src, double *restrict dst, size_t n) {
#define SF_TO_DOUBLE(T)                                                                            \
  do {                                                                                             \
    const T *s_ = src;                                                                             \
    for (size_t i = 0; i < n; i++)                                                                 \
      dst[i] = (double)s_[i];                                                                      \
  } while (0)
  switch (t) {
  case SF_DTYPE_U8: SF_TO_DOUBLE(uint8_t); break;
  case SF_DTYPE_U16: SF_TO_DOUBLE(uint16_t); break;
  case SF_DTYPE_I16: SF_TO_DOUBLE(int16_t); break;
  case SF_DTYPE_F32: SF_TO_DOUBLE(float); break;
  case SF_DTYPE_F64: SF_TO_DOUBLE(double); break;
  case SF_DTYPE_I8: SF_TO_DOUBLE(int8_t); break;
  case SF_DTYPE_I32: SF_TO_DOUBLE(int32_t); break;
  case SF_DTYPE_U32: SF_TO_DOUBLE(uint32_t); break;
  case SF_DTYPE_I64: SF_TO_DOUBLE(int64_t); break;
  case SF_DTYPE_U64: SF_TO_DOUBLE(uint64_t); break;
  default: break;
  }
#undef SF_TO_DOUBLE
}

/* Clamp, then round to nearest with ties to even; NaN maps to 0. Adding and subtracting
 * 1.5 * 2^23 rounds any |v| < 2^22 in the default rounding mode, without a libm call. */
static inline float round_clamp(float v, float lo, float hi) {
  if (!(v == v)) return 0.0f;
  v = v < lo ? lo : (v > hi ? hi : v);
  float t = v + 12582912.0f;
  return t - 12582912.0f;
}

/* The wide integers: rounded to nearest (ties to even) in double, where every float32 is
 * exact, then saturated with bounds that are exact in double (2^31, 2^32, 2^63, 2^64 are;
 * INT64_MAX is not), so the cast never overflows. NaN maps to 0. */
static inline double round_wide(float v) { return v == v ? nearbyint((double)v) : 0.0; }

static inline int64_t sat_i64(double d, double lo, double hi_excl, int64_t max) {
  return d >= hi_excl ? max : (d <= lo ? (int64_t)lo : (int64_t)d);
}

static inline uint64_t sat_u64(double d, double hi_excl, uint64_t max) {
  return d >= hi_excl ? max : (d <= 0.0 ? 0 : (uint64_t)d);
}

void sf_dtype_from_float(sf_dtype t, const float *restrict src, void *restrict dst, size_t n) {
  switch (t) {
  case SF_DTYPE_U8: {
    uint8_t *d = dst;
    for (size_t i = 0; i < n; i++)
      d[i] = (uint8_t)round_clamp(src[i], 0.0f, 255.0f);
    break;
  }
  case SF_DTYPE_U16: {
    uint16_t *d = dst;
    for (size_t i = 0; i < n; i++)
      d[i] = (uint16_t)round_clamp(src[i], 0.0f, 65535.0f);
    break;
  }
  case SF_DTYPE_I16: {
    int16_t *d = dst;
    for (size_t i = 0; i < n; i++)
      d[i] = (int16_t)round_clamp(src[i], -32768.0f, 32767.0f);
    break;
  }
  case SF_DTYPE_F32: {
    float *d = dst;
    for (size_t i = 0; i < n; i++)
      d[i] = src[i];
    break;
  }
  case SF_DTYPE_F64: {
    double *d = dst;
    for (size_t i = 0; i < n; i++)
      d[i] = (double)src[i];
    break;
  }
  case SF_DTYPE_I8: {
    int8_t *d = dst;
    for (size_t i = 0; i < n; i++)
      d[i] = (int8_t)round_clamp(src[i], -128.0f, 127.0f);
    break;
  }
  case SF_DTYPE_I32: {
    int32_t *d = dst;
    for (size_t i = 0; i < n; i++)
      d[i] = (int32_t)sat_i64(round_wide(src[i]), -0x1p31, 0x1p31, INT32_MAX);
    break;
  }
  case SF_DTYPE_U32: {
    uint32_t *d = dst;
    for (size_t i = 0; i < n; i++)
      d[i] = (uint32_t)sat_u64(round_wide(src[i]), 0x1p32, UINT32_MAX);
    break;
  }
  case SF_DTYPE_I64: {
    int64_t *d = dst;
    for (size_t i = 0; i < n; i++)
      d[i] = sat_i64(round_wide(src[i]), -0x1p63, 0x1p63, INT64_MAX);
    break;
  }
  case SF_DTYPE_U64: {
    uint64_t *d = dst;
    for (size_t i = 0; i < n; i++)
      d[i] = sat_u64(round_wide(src[i]), 0x1p64, UINT64_MAX);
    break;
  }
  default: break;
  }
}

size_t sf_find_nonfinite(const float *x, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i])) return i;
  return n;
}
