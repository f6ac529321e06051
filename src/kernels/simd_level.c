/* CPU feature query behind every kernel's choice of code path (simd_level.h). */
#include "kernels/simd_level.h"

int sf_simd_supported(sf_simd_level l) {
#if SF_SIMD_X86
  __builtin_cpu_init();
  if (l == SF_SIMD_AVX2) return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (l == SF_SIMD_AVX512) return __builtin_cpu_supports("avx512f");
#endif
  return l == SF_SIMD_C;
}

sf_simd_level sf_simd_best(void) {
  return sf_simd_supported(SF_SIMD_AVX512) ? SF_SIMD_AVX512
         : sf_simd_supported(SF_SIMD_AVX2) ? SF_SIMD_AVX2
                                           : SF_SIMD_C;
}
