/* Vector instruction-set levels of the kernels and the one way every kernel picks its code
 * path: a kernel with vector variants keeps them in a table indexed by sf_simd_level (the C
 * variant standing in where a level has none) and takes the entry of sf_simd_best(), or of
 * the level its plan stored. Pure. */
#ifndef SF_SIMD_LEVEL_H
#define SF_SIMD_LEVEL_H

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define SF_SIMD_X86 1
#else
#define SF_SIMD_X86 0
#endif

typedef enum {
  SF_SIMD_C = 0,
  SF_SIMD_AVX2 = 1,
  SF_SIMD_AVX512 = 2,
  SF_SIMD_COUNT = 3
} sf_simd_level;

/* Whether this CPU runs the variants of level l (AVX2 with FMA; AVX-512F). Local. */
int sf_simd_supported(sf_simd_level l);

/* The widest level this CPU supports (SF_SIMD_C off x86). Local. */
sf_simd_level sf_simd_best(void);

#endif
