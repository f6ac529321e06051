/* SF_HD marks a per-element body that runs both on the host and on a CUDA device: it is
 * `__host__ __device__` when nvcc compiles it and empty in the C build, so that the CPU
 * kernels, the CUDA kernels (src/gpu) and the host tests run the same code over the same
 * grids. Bodies are header-only `static inline SF_HD` functions: C11 and C++ at once (no
 * `restrict`, no <complex.h>, no designated initialisers), pure (no globals, no
 * allocation), and in double where the CPU kernel computes in double. */
#ifndef SF_HD_H
#define SF_HD_H

#if defined(__CUDACC__)
#define SF_HD __host__ __device__
#else
#define SF_HD
#endif

/* pi as M_PI spells it (not every device header defines M_PI) */
#define SF_HD_PI 3.14159265358979323846

#endif
