/* CUnit tests of the pure kernels against known answers. */
#include <CUnit/Basic.h>
#include <complex.h>
#include <fftw3.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/dtype_convert.h"
#include "kernels/warp_shift.h"
#include "kernels/xcorr_rigid.h"
#include "sf_cunit.h"

/* Deterministic uniform in [0,1). */
static double urand(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (double)(z >> 11) / 9007199254740992.0;
}

static double nrand(uint64_t *s) {
  double u = urand(s) + 1e-300, v = urand(s);
  return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

/* A smooth random periodic image, band-limited, given by its spectrum; renders the image
 * moved by (dx, dy): out(y,x) = img(y - dy, x - dx), exactly (Fourier shift). */
static void render_shifted(size_t h, size_t w, uint64_t seed, double dx, double dy, float *out) {
  size_t wc = w / 2 + 1;
  fftw_complex *spec = fftw_malloc(sizeof(fftw_complex) * h * wc);
  double *img = fftw_malloc(sizeof(double) * h * w);
  uint64_t s = seed;
  for (size_t ky = 0; ky < h; ky++) {
    double fy = (ky > h / 2 ? (double)ky - (double)h : (double)ky) / (double)h;
    for (size_t kx = 0; kx < wc; kx++) {
      double fx = (double)kx / (double)w;
      double f2 = fx * fx + fy * fy;
      double amp = exp(-f2 / (2 * 0.08 * 0.08)) / (0.01 + sqrt(f2));
      double re = nrand(&s) * amp, im = nrand(&s) * amp;
      double ph = -2.0 * M_PI * (fx * dx + fy * dy);
      double complex z = (re + I * im) * cexp(I * ph);
      spec[ky * wc + kx] = z;
    }
  }
  fftw_plan p = fftw_plan_dft_c2r_2d((int)h, (int)w, spec, img, FFTW_ESTIMATE);
  fftw_execute(p);
  double mn = 1e300, mx = -1e300;
  for (size_t i = 0; i < h * w; i++) {
    mn = fmin(mn, img[i]);
    mx = fmax(mx, img[i]);
  }
  for (size_t i = 0; i < h * w; i++) out[i] = (float)(1000.0 * (img[i] - mn) / (mx - mn) + 100.0);
  fftw_destroy_plan(p);
  fftw_free(spec);
  fftw_free(img);
}

/* Shift estimates of exactly shifted images are within tol of the truth. */
static void check_xcorr(size_t h, size_t w, int up, double noise, double tol) {
  float *ref = malloc(sizeof(float) * h * w), *mov = malloc(sizeof(float) * h * w);
  sf_xcorr_plan *p = NULL;
  sf_xcorr_ws *ws = NULL;
  CU_ASSERT_FATAL(sf_xcorr_plan_create(h, w, up, 1.5f, &p) == 0);
  CU_ASSERT_FATAL(sf_xcorr_ws_create(p, &ws) == 0);
  render_shifted(h, w, 7, 0, 0, ref);
  sf_xcorr_set_reference(p, ws, ref);
  uint64_t s = 99;
  double se = 0.0;
  int n = 0;
  for (int t = 0; t < 12; t++) {
    double dx = (urand(&s) - 0.5) * 20.0, dy = (urand(&s) - 0.5) * 20.0;
    render_shifted(h, w, 7, dx, dy, mov);
    for (size_t i = 0; i < h * w; i++) mov[i] += (float)(noise * nrand(&s));
    float sh[2];
    sf_xcorr_execute(p, ws, mov, sh);
    /* mov(p) = ref(p - d)  =>  ref(y,x) = mov(y + v, x + u) with (u,v) = d. */
    se += (sh[0] - dx) * (sh[0] - dx) + (sh[1] - dy) * (sh[1] - dy);
    n += 2;
  }
  double rms = sqrt(se / n);
  CU_ASSERT(rms <= tol);
  fprintf(stderr, "\n  xcorr %zux%zu up=%d noise=%g: rms %.4f px (tolerance %.4f)\n", h, w, up, noise, rms, tol);
  sf_xcorr_ws_destroy(&ws);
  sf_xcorr_plan_destroy(&p);
  CU_ASSERT(p == NULL && ws == NULL);
  free(ref);
  free(mov);
}

static void test_xcorr_integer(void) {
  /* Integer shifts at up=1 are found exactly. */
  size_t h = 128, w = 96;
  float *ref = malloc(sizeof(float) * h * w), *mov = malloc(sizeof(float) * h * w);
  sf_xcorr_plan *p = NULL;
  sf_xcorr_ws *ws = NULL;
  CU_ASSERT_FATAL(sf_xcorr_plan_create(h, w, 1, 1.0f, &p) == 0);
  CU_ASSERT_FATAL(sf_xcorr_ws_create(p, &ws) == 0);
  render_shifted(h, w, 3, 0, 0, ref);
  sf_xcorr_set_reference(p, ws, ref);
  int shifts[][2] = {{0, 0}, {5, -3}, {-7, 9}, {12, 12}};
  for (int k = 0; k < 4; k++) {
    render_shifted(h, w, 3, shifts[k][0], shifts[k][1], mov);
    float sh[2];
    sf_xcorr_execute(p, ws, mov, sh);
    CU_ASSERT_DOUBLE_EQUAL(sh[0], shifts[k][0], 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(sh[1], shifts[k][1], 1e-6);
  }
  sf_xcorr_ws_destroy(&ws);
  sf_xcorr_plan_destroy(&p);
  free(ref);
  free(mov);
}

static void test_xcorr_subpixel_clean(void) { check_xcorr(256, 256, 20, 0.0, 0.03); }
static void test_xcorr_subpixel_noisy(void) { check_xcorr(256, 256, 20, 30.0, 0.05); }
static void test_xcorr_nonsquare(void) { check_xcorr(160, 224, 10, 5.0, 0.06); }

static void test_xcorr_identical(void) {
  size_t h = 64, w = 64;
  float *ref = malloc(sizeof(float) * h * w);
  sf_xcorr_plan *p = NULL;
  sf_xcorr_ws *ws = NULL;
  CU_ASSERT_FATAL(sf_xcorr_plan_create(h, w, 20, 1.0f, &p) == 0);
  CU_ASSERT_FATAL(sf_xcorr_ws_create(p, &ws) == 0);
  render_shifted(h, w, 11, 0, 0, ref);
  sf_xcorr_set_reference(p, ws, ref);
  float sh[2];
  sf_xcorr_execute(p, ws, ref, sh);
  CU_ASSERT(fabsf(sh[0]) < 1e-3f && fabsf(sh[1]) < 1e-3f);
  sf_xcorr_ws_destroy(&ws);
  sf_xcorr_plan_destroy(&p);
  free(ref);
}

/* A frame without contrast (constant, e.g. never-written data) against any reference, and a
 * constant reference, give no shift rather than a corner of the refinement grid. */
static void test_xcorr_flat(void) {
  size_t h = 64, w = 64;
  float *ref = malloc(sizeof(float) * h * w), *flat = malloc(sizeof(float) * h * w);
  for (size_t i = 0; i < h * w; i++) flat[i] = 7.0f;
  render_shifted(h, w, 11, 0, 0, ref);
  for (int r = 0; r < 2; r++) {
    sf_xcorr_plan *p = NULL;
    sf_xcorr_ws *ws = NULL;
    CU_ASSERT_FATAL(sf_xcorr_plan_create(h, w, 20, 1.0f, &p) == 0);
    CU_ASSERT_FATAL(sf_xcorr_ws_create(p, &ws) == 0);
    sf_xcorr_set_reference(p, ws, r ? flat : ref);
    float sh[2] = {1, 1};
    sf_xcorr_execute(p, ws, r ? ref : flat, sh);
    CU_ASSERT(sh[0] == 0.0f && sh[1] == 0.0f);
    sf_xcorr_ws_destroy(&ws);
    sf_xcorr_plan_destroy(&p);
  }
  free(ref);
  free(flat);
}

static void test_xcorr_bad_plan(void) {
  sf_xcorr_plan *p = (sf_xcorr_plan *)1;
  CU_ASSERT(sf_xcorr_plan_create(2, 64, 1, 1.0f, &p) < 0);
  CU_ASSERT(p == NULL);
  CU_ASSERT(sf_xcorr_plan_create(64, 64, 0, 1.0f, &p) < 0);
  sf_xcorr_plan_destroy(NULL);
}

static void test_keys_kernel(void) {
  CU_ASSERT_DOUBLE_EQUAL(sf_keys_cubic(0.0f), 1.0, 1e-7);
  CU_ASSERT_DOUBLE_EQUAL(sf_keys_cubic(1.0f), 0.0, 1e-7);
  CU_ASSERT_DOUBLE_EQUAL(sf_keys_cubic(2.0f), 0.0, 1e-7);
  /* a = -0.75: K(0.5) = (a+2)/8 - (a+3)/4 + 1 = 0.15625 - 0.5625 + 1 */
  CU_ASSERT_DOUBLE_EQUAL(sf_keys_cubic(0.5f), 0.59375, 1e-6);
  CU_ASSERT_DOUBLE_EQUAL(sf_keys_cubic(-1.5f), -0.09375, 1e-6);
  /* Partition of unity at any fractional offset. */
  for (float t = 0.0f; t < 1.0f; t += 0.125f) {
    float s = sf_keys_cubic(t + 1) + sf_keys_cubic(t) + sf_keys_cubic(1 - t) + sf_keys_cubic(2 - t);
    CU_ASSERT_DOUBLE_EQUAL(s, 1.0, 1e-6);
  }
}

static void test_warp_integer_exact(void) {
  size_t h = 20, w = 24, c = 2;
  float *src = malloc(sizeof(float) * h * w * c), *ref = malloc(sizeof(float) * h * w * c);
  float *tmp = malloc(sizeof(float) * h * w * c), *out = malloc(sizeof(float) * h * w * c);
  for (size_t i = 0; i < h * w * c; i++) {
    src[i] = (float)(i * 7 % 101);
    ref[i] = -1.0f - (float)i;
  }
  for (int interp = 0; interp < 2; interp++) {
    sf_interp m = interp ? SF_INTERP_CUBIC : SF_INTERP_LINEAR;
    sf_warp_shift(src, ref, h, w, c, 3.0f, -2.0f, m, tmp, out);
    for (size_t y = 0; y < h; y++)
      for (size_t x = 0; x < w; x++)
        for (size_t k = 0; k < c; k++) {
          long sx = (long)x + 3, sy = (long)y - 2;
          size_t i = (y * w + x) * c + k;
          float want = (sx < 0 || sx >= (long)w || sy < 0 || sy >= (long)h)
                           ? ref[i]
                           : src[((size_t)sy * w + (size_t)sx) * c + k];
          CU_ASSERT_EQUAL(out[i], want);
        }
  }
  free(src);
  free(ref);
  free(tmp);
  free(out);
}

static void test_warp_subpixel(void) {
  /* Bilinear reproduces a ramp exactly; cubic equals a direct evaluation of the 4x4 Keys
   * convolution (computed here independently of the separable implementation). */
  size_t h = 32, w = 32;
  float src[32 * 32], ref[32 * 32], tmp[32 * 32], out[32 * 32];
  for (size_t y = 0; y < h; y++)
    for (size_t x = 0; x < w; x++) {
      src[y * w + x] = 2.0f * (float)x + 3.0f * (float)y + (float)((x * 13 + y * 7) % 5);
      ref[y * w + x] = 0.0f;
    }
  float u = 1.3f, v = -0.6f;
  sf_warp_shift(src, ref, h, w, 1, u, v, SF_INTERP_CUBIC, tmp, out);
  for (size_t y = 3; y < h - 4; y++)
    for (size_t x = 3; x < w - 4; x++) {
      double xs = x + u, ys = y + v, want = 0.0;
      long x0 = (long)floor(xs), y0 = (long)floor(ys);
      for (long i = y0 - 1; i <= y0 + 2; i++)
        for (long j = x0 - 1; j <= x0 + 2; j++)
          want += sf_keys_cubic((float)(ys - i)) * sf_keys_cubic((float)(xs - j)) * src[i * w + j];
      CU_ASSERT_DOUBLE_EQUAL(out[y * w + x], want, 1e-3);
    }
  for (size_t y = 0; y < h; y++)
    for (size_t x = 0; x < w; x++) src[y * w + x] = 2.0f * (float)x + 3.0f * (float)y;
  sf_warp_shift(src, ref, h, w, 1, u, v, SF_INTERP_LINEAR, tmp, out);
  for (size_t y = 1; y < h - 2; y++)
    for (size_t x = 0; x < w - 3; x++)
      CU_ASSERT_DOUBLE_EQUAL(out[y * w + x], 2.0 * (x + u) + 3.0 * (y + v), 1e-3);
  /* Out-of-bounds positions take the reference. */
  CU_ASSERT_EQUAL(out[0 * w + 5], 0.0f); /* y + v < 0 */
  CU_ASSERT_EQUAL(out[5 * w + (w - 1)], 0.0f); /* x + u >= w */
}

static void test_dtype_roundtrip(void) {
  float in[] = {-5.0f, 0.4f, 0.5f, 1.5f, 2.5f, 254.6f, 300.0f, NAN, 65535.4f, 70000.0f};
  uint8_t u8[10];
  uint16_t u16[10];
  int16_t i16[10];
  sf_dtype_from_float(SF_DTYPE_U8, in, u8, 10);
  uint8_t want8[] = {0, 0, 0, 2, 2, 255, 255, 0, 255, 255};
  CU_ASSERT(memcmp(u8, want8, 10) == 0);
  sf_dtype_from_float(SF_DTYPE_U16, in, u16, 10);
  CU_ASSERT(u16[0] == 0 && u16[3] == 2 && u16[5] == 255 && u16[6] == 300 && u16[7] == 0 &&
            u16[8] == 65535 && u16[9] == 65535);
  sf_dtype_from_float(SF_DTYPE_I16, in, i16, 10);
  CU_ASSERT(i16[0] == -5 && i16[9] == 32767);
  float back[10];
  sf_dtype_to_float(SF_DTYPE_U16, u16, back, 10);
  CU_ASSERT(back[6] == 300.0f);
  CU_ASSERT(sf_find_nonfinite(in, 10) == 7);
  CU_ASSERT(sf_find_nonfinite(in, 7) == 7);
  CU_ASSERT(sf_dtype_size(SF_DTYPE_F64) == 8 && sf_dtype_size(SF_DTYPE_NONE) == 0);
}

/* The wide and signed 8-bit integers: ties to even, saturation at both ends (no overflowing
 * cast even at the float32 values next to 2^31, 2^32, 2^63 and 2^64), NaN to 0, and a round
 * trip through float of every value float32 holds exactly. */
static void test_dtype_wide(void) {
  float in[] = {-5.0f, 0.5f, 1.5f, 2.5f, NAN, -3e9f, 3e9f, 5e9f, 2147483520.0f, -2147483648.0f,
                1e19f, -1e19f, 2e19f, 16777216.0f, 130.0f, -130.0f};
  enum { N = sizeof in / sizeof *in };
  int8_t i8[N];
  int32_t i32[N];
  uint32_t u32[N];
  int64_t i64[N];
  uint64_t u64[N];
  sf_dtype_from_float(SF_DTYPE_I8, in, i8, N);
  CU_ASSERT(i8[0] == -5 && i8[1] == 0 && i8[2] == 2 && i8[3] == 2 && i8[4] == 0 && i8[14] == 127 &&
            i8[15] == -128);
  sf_dtype_from_float(SF_DTYPE_I32, in, i32, N);
  CU_ASSERT(i32[0] == -5 && i32[1] == 0 && i32[2] == 2 && i32[3] == 2 && i32[4] == 0);
  CU_ASSERT(i32[5] == INT32_MIN && i32[6] == INT32_MAX && i32[8] == 2147483520 &&
            i32[9] == INT32_MIN && i32[13] == 16777216);
  sf_dtype_from_float(SF_DTYPE_U32, in, u32, N);
  CU_ASSERT(u32[0] == 0 && u32[3] == 2 && u32[4] == 0 && u32[5] == 0 && u32[6] == 3000000000u &&
            u32[7] == UINT32_MAX);
  sf_dtype_from_float(SF_DTYPE_I64, in, i64, N);
  CU_ASSERT(i64[0] == -5 && i64[7] == 5000000000LL && i64[10] == INT64_MAX && i64[11] == INT64_MIN);
  sf_dtype_from_float(SF_DTYPE_U64, in, u64, N);
  CU_ASSERT(u64[0] == 0 && u64[10] == 9999999980506447872ULL && u64[12] == UINT64_MAX);
  float back[N];
  sf_dtype_to_float(SF_DTYPE_I64, i64, back, N);
  CU_ASSERT(back[7] == 5e9f && back[13] == 16777216.0f);
  sf_dtype_to_float(SF_DTYPE_U32, u32, back, N);
  CU_ASSERT(back[6] == 3e9f);
  sf_dtype_to_float(SF_DTYPE_I8, i8, back, N);
  CU_ASSERT(back[15] == -128.0f);
  CU_ASSERT(sf_dtype_size(SF_DTYPE_I8) == 1 && sf_dtype_size(SF_DTYPE_U32) == 4 &&
            sf_dtype_size(SF_DTYPE_U64) == 8);
  CU_ASSERT(!strcmp(sf_dtype_name(SF_DTYPE_I32), "int32") && !strcmp(sf_dtype_name(SF_DTYPE_U64), "uint64"));
}

/* Widening to double: exact up to 2^53, then one rounding to nearest (ties to even); the
 * integer dtypes are the integer ones. */
static void test_dtype_to_double(void) {
  int64_t i64[] = {INT64_MIN, -((INT64_C(1) << 53) + 1), (INT64_C(1) << 53) + 3, INT64_MAX, -7};
  uint64_t u64[] = {UINT64_MAX, (UINT64_C(1) << 53) + 1, 0, 4294967295u};
  int8_t i8[] = {-128, 127};
  float f32[] = {0.1f, -INFINITY};
  double d[5];
  sf_dtype_to_double(SF_DTYPE_I64, i64, d, 5);
  CU_ASSERT(d[0] == -0x1p63 && d[1] == -0x1p53 && d[2] == 0x1p53 + 4 && d[3] == 0x1p63 &&
            d[4] == -7);
  sf_dtype_to_double(SF_DTYPE_U64, u64, d, 4);
  CU_ASSERT(d[0] == 0x1p64 && d[1] == 0x1p53 && d[2] == 0 && d[3] == 4294967295.0);
  sf_dtype_to_double(SF_DTYPE_I8, i8, d, 2);
  CU_ASSERT(d[0] == -128 && d[1] == 127);
  sf_dtype_to_double(SF_DTYPE_F32, f32, d, 2);
  CU_ASSERT(d[0] == (double)0.1f && isinf(d[1]) && d[1] < 0);
  CU_ASSERT(sf_dtype_is_integer(SF_DTYPE_U8) && sf_dtype_is_integer(SF_DTYPE_I64) &&
            !sf_dtype_is_integer(SF_DTYPE_F32) && !sf_dtype_is_integer(SF_DTYPE_F64) &&
            !sf_dtype_is_integer(SF_DTYPE_NONE));
}

int main(void) {
  static const sf_test tests[] = {
      {"xcorr integer shifts exact", test_xcorr_integer},
      {"xcorr identical frames give zero", test_xcorr_identical},
      {"xcorr subpixel, clean", test_xcorr_subpixel_clean},
      {"xcorr subpixel, noisy", test_xcorr_subpixel_noisy},
      {"xcorr non-square", test_xcorr_nonsquare},
      {"xcorr rejects bad plans", test_xcorr_bad_plan},
      {"xcorr without contrast gives zero", test_xcorr_flat},
      {"dtype conversions of the wide and 8-bit signed integers", test_dtype_wide},
      {"Keys cubic kernel values", test_keys_kernel},
      {"warp integer shift exact with reference fill", test_warp_integer_exact},
      {"warp subpixel: Keys and bilinear values", test_warp_subpixel},
      {"dtype rounding and saturation", test_dtype_roundtrip},
      {"dtype widening to double", test_dtype_to_double},
      {NULL, NULL}};
  return sf_cunit_run("kernels", tests);
}
