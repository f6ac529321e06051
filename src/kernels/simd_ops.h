/* The handful of vector operations the width-generic kernel templates are written in, for
 * one target: define SF_SIMD_W (8: AVX2 + FMA, 16: AVX-512F) and include this file; included
 * again without SF_SIMD_W, it only removes them (a template does so at its end). No include
 * guard on purpose. Every operation is one IEEE operation per lane (or pure data movement),
 * so the widths give the same bytes.
 *
 *   VF, VI, VM      float vector, int32 vector, lane mask;  VW lanes
 *   SIMD_ATTR      the target attribute;  SIMD_FN(f)  f_avx2 / f_avx512
 *   V_FIRST(n)     mask of the lanes i < n (n >= 0, any size)
 *   V_IN(x, lo, hi)  mask of the lanes with lo <= x <= hi (int32 compares)
 *   V_LOADZ(p, n)  the first n lanes at p (unaligned), 0 in the others
 *   V_DIV_NZ(a, d) a / d, 0 in the lanes where d == 0
 *   V_BLEND(m, a, b)  b where m, else a
 *   V_SHIFT_LO(a, b)  (b[VW-1], a[0], ..., a[VW-2]);  V_SHIFT_HI(a, b)  (a[1], ..., a[VW-1], b[0])
 *   V_UNZIP(lo, hi, E, O)  E, O = the even, odd lanes of the 2 VW floats (lo, hi)
 *   V_ZIP(p, q, LO, HI)    LO, HI = p0 q0 p1 q1 ... (the inverse) */
#include <immintrin.h>

#undef VF
#undef VI
#undef VM
#undef VW
#undef SIMD_ATTR
#undef SIMD_FN
#undef V_LOAD
#undef V_LOADU
#undef V_STORE
#undef V_STOREU
#undef V_SET1
#undef V_ZERO
#undef V_ADD
#undef V_SUB
#undef V_MUL
#undef V_DIV
#undef V_FMADD
#undef V_FNMADD
#undef V_MAX
#undef V_MIN
#undef V_CVT_I2F
#undef V_CVTT_F2I
#undef V_AS_I
#undef VI_AS_V
#undef VI_SET1
#undef VI_ADD
#undef VI_SUB
#undef VI_SLLI
#undef VI_SRAI
#undef VI_LANES
#undef VM_AND
#undef VM_NONE
#undef V_FIRST
#undef V_IN
#undef V_LOADZ
#undef V_MASKSTORE
#undef V_DIV_NZ
#undef V_BLEND
#undef V_SHIFT_LO
#undef V_SHIFT_HI
#undef V_UNZIP
#undef V_ZIP

#if !defined(SF_SIMD_W)
/* cleared */
#elif SF_SIMD_W == 8

#define VF __m256
#define VI __m256i
#define VM __m256i
#define VW 8
#define SIMD_ATTR __attribute__((target("avx2,fma")))
#define SIMD_FN(f) f##_avx2
#define V_LOAD _mm256_load_ps
#define V_LOADU _mm256_loadu_ps
#define V_STORE _mm256_store_ps
#define V_STOREU _mm256_storeu_ps
#define V_SET1 _mm256_set1_ps
#define V_ZERO _mm256_setzero_ps
#define V_ADD _mm256_add_ps
#define V_SUB _mm256_sub_ps
#define V_MUL _mm256_mul_ps
#define V_DIV _mm256_div_ps
#define V_FMADD _mm256_fmadd_ps
#define V_FNMADD _mm256_fnmadd_ps
#define V_MAX _mm256_max_ps
#define V_MIN _mm256_min_ps
#define V_CVT_I2F _mm256_cvtepi32_ps
#define V_CVTT_F2I _mm256_cvttps_epi32
#define V_AS_I _mm256_castps_si256
#define VI_AS_V _mm256_castsi256_ps
#define VI_SET1 _mm256_set1_epi32
#define VI_ADD _mm256_add_epi32
#define VI_SUB _mm256_sub_epi32
#define VI_SLLI _mm256_slli_epi32
#define VI_SRAI _mm256_srai_epi32
#define VI_LANES() _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)
#define VM_AND _mm256_and_si256
#define VM_NONE(m) _mm256_testz_si256((m), (m))
#define V_FIRST(n) _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(n)), VI_LANES())
#define V_IN(x, lo, hi)                                                                            \
  _mm256_and_si256(_mm256_cmpgt_epi32((x), _mm256_set1_epi32((int)(lo)-1)),                        \
                   _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(hi) + 1), (x)))
#define V_LOADZ(p, n) _mm256_maskload_ps((p), V_FIRST(n))
#define V_MASKSTORE(p, m, x) _mm256_maskstore_ps((p), (m), (x))
#define V_DIV_NZ(a, d)                                                                             \
  _mm256_and_ps(_mm256_div_ps((a), (d)), _mm256_cmp_ps((d), _mm256_setzero_ps(), _CMP_NEQ_UQ))
#define V_BLEND(m, a, b) _mm256_blendv_ps((a), (b), _mm256_castsi256_ps(m))
#define V_SHIFT_LO(a, b)                                                                           \
  _mm256_blend_ps(_mm256_permutevar8x32_ps((a), _mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6)),        \
                  _mm256_permutevar8x32_ps((b), _mm256_setr_epi32(7, 0, 1, 2, 3, 4, 5, 6)), 0x01)
#define V_SHIFT_HI(a, b)                                                                           \
  _mm256_blend_ps(_mm256_permutevar8x32_ps((a), _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 0)),        \
                  _mm256_permutevar8x32_ps((b), _mm256_setr_epi32(1, 2, 3, 4, 5, 6, 7, 0)), 0x80)
/* shuffle within the 128-bit lanes, then put the 64-bit pairs in order */
#define V_UNZIP(lo, hi, E, O)                                                                      \
  do {                                                                                             \
    const __m256 e_ = _mm256_shuffle_ps((lo), (hi), _MM_SHUFFLE(2, 0, 2, 0));                      \
    const __m256 o_ = _mm256_shuffle_ps((lo), (hi), _MM_SHUFFLE(3, 1, 3, 1));                      \
    (E) = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(e_), _MM_SHUFFLE(3, 1, 2, 0)));  \
    (O) = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(o_), _MM_SHUFFLE(3, 1, 2, 0)));  \
  } while (0)
#define V_ZIP(p, q, LO, HI)                                                                        \
  do {                                                                                             \
    const __m256 a_ = _mm256_unpacklo_ps((p), (q)), b_ = _mm256_unpackhi_ps((p), (q));             \
    (LO) = _mm256_permute2f128_ps(a_, b_, 0x20);                                                   \
    (HI) = _mm256_permute2f128_ps(a_, b_, 0x31);                                                   \
  } while (0)

#elif SF_SIMD_W == 16

#define VF __m512
#define VI __m512i
#define VM __mmask16
#define VW 16
#define SIMD_ATTR __attribute__((target("avx512f")))
#define SIMD_FN(f) f##_avx512
#define V_LOAD _mm512_load_ps
#define V_LOADU _mm512_loadu_ps
#define V_STORE _mm512_store_ps
#define V_STOREU _mm512_storeu_ps
#define V_SET1 _mm512_set1_ps
#define V_ZERO _mm512_setzero_ps
#define V_ADD _mm512_add_ps
#define V_SUB _mm512_sub_ps
#define V_MUL _mm512_mul_ps
#define V_DIV _mm512_div_ps
#define V_FMADD _mm512_fmadd_ps
#define V_FNMADD _mm512_fnmadd_ps
#define V_MAX _mm512_max_ps
#define V_MIN _mm512_min_ps
#define V_CVT_I2F _mm512_cvtepi32_ps
#define V_CVTT_F2I _mm512_cvttps_epi32
#define V_AS_I _mm512_castps_si512
#define VI_AS_V _mm512_castsi512_ps
#define VI_SET1 _mm512_set1_epi32
#define VI_ADD _mm512_add_epi32
#define VI_SUB _mm512_sub_epi32
#define VI_SLLI _mm512_slli_epi32
#define VI_SRAI _mm512_srai_epi32
#define VI_LANES() _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
#define VM_AND(a, b) ((__mmask16)((a) & (b)))
#define VM_NONE(m) ((m) == 0)
#define V_FIRST(n) ((__mmask16)((n) >= 16 ? 0xffffu : (1u << (n)) - 1u))
#define V_IN(x, lo, hi)                                                                            \
  ((__mmask16)(_mm512_cmpge_epi32_mask((x), _mm512_set1_epi32((int)(lo))) &                        \
               _mm512_cmple_epi32_mask((x), _mm512_set1_epi32((int)(hi)))))
#define V_LOADZ(p, n) _mm512_maskz_loadu_ps(V_FIRST(n), (p))
#define V_MASKSTORE(p, m, x) _mm512_mask_store_ps((p), (m), (x))
#define V_DIV_NZ(a, d)                                                                             \
  _mm512_maskz_div_ps(_mm512_cmp_ps_mask((d), _mm512_setzero_ps(), _CMP_NEQ_UQ), (a), (d))
#define V_BLEND(m, a, b) _mm512_mask_blend_ps((m), (a), (b))
/* valignd: one shuffle, and the aligned loads it shifts never split a cache line */
#define V_SHIFT_LO(a, b)                                                                           \
  _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(a), _mm512_castps_si512(b), 15))
#define V_SHIFT_HI(a, b)                                                                           \
  _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(b), _mm512_castps_si512(a), 1))
#define V_UNZIP(lo, hi, E, O)                                                                      \
  do {                                                                                             \
    const __m512i ie_ =                                                                            \
        _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);              \
    (E) = _mm512_permutex2var_ps((lo), ie_, (hi));                                                 \
    (O) = _mm512_permutex2var_ps((lo), _mm512_add_epi32(ie_, _mm512_set1_epi32(1)), (hi));         \
  } while (0)
#define V_ZIP(p, q, LO, HI)                                                                        \
  do {                                                                                             \
    const __m512i il_ = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23); \
    (LO) = _mm512_permutex2var_ps((p), il_, (q));                                                  \
    (HI) = _mm512_permutex2var_ps((p), _mm512_add_epi32(il_, _mm512_set1_epi32(8)), (q));          \
  } while (0)

#else
#error "SF_SIMD_W must be 8 or 16"
#endif
