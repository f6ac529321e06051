#include "kernels/dtype_convert.h"

#include <math.h>

size_t sf_dtype_size(sf_dtype t) {
  switch (t) {
  case SF_DTYPE_U8: return 1;
  case SF_DTYPE_U16:
  case SF_DTYPE_I16: return 2;
  case SF_DTYPE_F32: return 4;
  case SF_DTYPE_F64: return 8;
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
  default: return "unsupported";
  }
}

void sf_dtype_to_float(sf_dtype t, const void *restrict src, float *restrict dst, size_t n) {
  switch (t) {
  case SF_DTYPE_U8: { const uint8_t *s = src; for (size_t i = 0; i < n; i++) dst[i] = (float)s[i]; break; }
  case SF_DTYPE_U16: { const uint16_t *s = src; for (size_t i = 0; i < n; i++) dst[i] = (float)s[i]; break; }
  case SF_DTYPE_I16: { const int16_t *s = src; for (size_t i = 0; i < n; i++) dst[i] = (float)s[i]; break; }
  case SF_DTYPE_F32: { const float *s = src; for (size_t i = 0; i < n; i++) dst[i] = s[i]; break; }
  case SF_DTYPE_F64: { const double *s = src; for (size_t i = 0; i < n; i++) dst[i] = (float)s[i]; break; }
  default: break;
  }
}

/* Clamp, then round to nearest with ties to even; NaN maps to 0. Adding and subtracting
 * 1.5 * 2^23 rounds any |v| < 2^22 in the default rounding mode, without a libm call. */
static inline float round_clamp(float v, float lo, float hi) {
  if (!(v == v)) return 0.0f;
  v = v < lo ? lo : (v > hi ? hi : v);
  float t = v + 12582912.0f;
  return t - 12582912.0f;
}

void sf_dtype_from_float(sf_dtype t, const float *restrict src, void *restrict dst, size_t n) {
  switch (t) {
  case SF_DTYPE_U8: { uint8_t *d = dst; for (size_t i = 0; i < n; i++) d[i] = (uint8_t)round_clamp(src[i], 0.0f, 255.0f); break; }
  case SF_DTYPE_U16: { uint16_t *d = dst; for (size_t i = 0; i < n; i++) d[i] = (uint16_t)round_clamp(src[i], 0.0f, 65535.0f); break; }
  case SF_DTYPE_I16: { int16_t *d = dst; for (size_t i = 0; i < n; i++) d[i] = (int16_t)round_clamp(src[i], -32768.0f, 32767.0f); break; }
  case SF_DTYPE_F32: { float *d = dst; for (size_t i = 0; i < n; i++) d[i] = src[i]; break; }
  case SF_DTYPE_F64: { double *d = dst; for (size_t i = 0; i < n; i++) d[i] = (double)src[i]; break; }
  default: break;
  }
}

size_t sf_find_nonfinite(const float *x, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(x[i])) return i;
  return n;
}
