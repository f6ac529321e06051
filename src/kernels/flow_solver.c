/* The flow solver's workspace and entry point (spec register.md §1.5, §1.6, slabflow
 * decisions 1 and 2). Our own C; nothing here is taken from the upstream tools.
 *
 * Solver paths. "c", "avx2" and "avx512" (the sf_simd_level of the workspace) sweep in
 * float32 (decision 2) and give the same bytes: every pixel goes through the same sequence
 * of IEEE operations, fused multiply-adds written out explicitly (fmaf / V_FMADD) and no
 * other contraction (flow_solver_impl.h), and the same polynomial pow. The vector kernels
 * are written once per solver in a width-generic template compiled for 8 and 16 lanes
 * (flow_solver_*_template.h, in the operations of simd_ops.h). "gs64" is the reference's
 * column-outer Gauss-Seidel in double precision, for parity experiments.
 *
 * The solvers, one file each: flow_solver_lexico.c (a_smooth = 1, the reference's sweep
 * order), flow_solver_redblack.c (a_smooth = 1, red-black order, decision 1),
 * flow_solver_asmooth.c (a_smooth != 1, red-black on the padded layout, one code for every
 * float path), flow_solver_gs64.c; the motion tensors are in flow_solver_tensor.c. */
#include <stdlib.h>
#include <string.h>

#include "sf_error.h"

#include "kernels/flow_solver_impl.h"

static const char *const path_names[SF_SOLVER_PATHS] = {
    [SF_SIMD_C] = "c", [SF_SIMD_AVX2] = "avx2", [SF_SIMD_AVX512] = "avx512",
    [SF_SOLVER_GS64] = "gs64"};

static size_t workspace_floats(size_t h, size_t w, int nch) {
  size_t fast = sf_sor_redblack_floats(h, w);
  size_t gen = sf_sor_asmooth_floats(h, w);
  size_t gs = sf_sor_gs64_floats(h, w, nch);
  size_t m = fast > gen ? fast : gen;
  m = m > gs ? m : gs;
  size_t wf = sf_sor_lexico_floats(h, w, nch);
  return m > wf ? m : wf;
}

static int path_supported(int path) {
  return path == SF_SOLVER_GS64 || sf_simd_supported((sf_simd_level)path);
}

int sf_solver_create(size_t max_h, size_t max_w, int nch, sf_solver **out) {
  int status = 0;
  sf_solver *s = NULL;
  *out = NULL;
  if (max_h == 0 || max_w == 0 || nch < 1 || nch > SF_FLOW_MAX_CH) SF_FAIL_QUIET(SF_ERR_USAGE);
  s = calloc(1, sizeof *s);
  if (!s) SF_FAIL_QUIET(SF_ERR_NOMEM);
  s->max_h = max_h;
  s->max_w = max_w;
  s->nch = nch;
  s->buf_floats = workspace_floats(max_h, max_w, nch);
  s->buf = aligned_alloc(64, s->buf_floats * sizeof(float));
  if (!s->buf) SF_FAIL_QUIET(SF_ERR_NOMEM);
  /* Zero once: vector tails compute on (and discard) slack lanes, never uninitialised. */
  memset(s->buf, 0, s->buf_floats * sizeof(float));
  s->best = (int)sf_simd_best();
  s->path = s->best;
  *out = s;
  s = NULL;
cleanup:
  sf_solver_destroy(&s);
  return status;
}

const char *sf_solver_path(const sf_solver *s) { return s ? path_names[s->path] : "none"; }

int sf_solver_force_path(sf_solver *s, const char *path) {
  if (!s || !path) return SF_ERR_USAGE;
  for (int i = 0; i < SF_SOLVER_PATHS; i++) {
    if (strcmp(path, path_names[i]) == 0) {
      if (!path_supported(i)) return SF_ERR_USAGE;
      s->path = i;
      return 0;
    }
  }
  return SF_ERR_USAGE;
}

void sf_solver_destroy(sf_solver **s) {
  if (!s || !*s) return;
  free((*s)->buf);
  free(*s);
  *s = NULL;
}

void sf_solver_execute(sf_solver *s, size_t h, size_t w, const float *const *J, const float *u,
                       const float *v, const sf_solver_params *p, float *du, float *dv) {
  if (!s || !J || !u || !v || !p || !du || !dv || h == 0 || w == 0) return;
  const size_t N = (h + 2) * (w + 2);
  /* The call cannot report an error: a level the workspace was not planned for gives NaN
   * increments, which the caller's validation catches, instead of a silent wrong flow. */
  if (h > s->max_h || w > s->max_w || p->nch < 1 || p->nch > s->nch) {
    for (size_t i = 0; i < N; i++) du[i] = dv[i] = NAN;
    return;
  }
  if (p->iterations <= 0) {
    memset(du, 0, N * sizeof *du);
    memset(dv, 0, N * sizeof *dv);
    return;
  }
  if (s->path == SF_SOLVER_GS64)
    sf_sor_gs64(s, h, w, J, u, v, p, du, dv);
  else if (p->a_smooth != 1.0)
    sf_sor_asmooth(s, h, w, J, u, v, p, du, dv);
  else if (p->order == SF_SWEEP_REFERENCE)
    sf_sor_lexico(s, h, w, J, u, v, p, du, dv);
  else
    sf_sor_redblack(s, h, w, J, u, v, p, du, dv);
}
