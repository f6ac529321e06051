#include "fft_conv.h"

#include <math.h>
#include <string.h>

#include "fftw_check.h"
#include "sf_error.h"

int sf_fftconv_init(sf_fftconv *c, const double *h, size_t ntaps, size_t min_len, size_t p_min) {
  int status = 0;
  double *pbuf = NULL;
  memset(c, 0, sizeof *c);
  size_t p = p_min, best = 0;
  double best_cost = INFINITY;
  while (p < min_len) p <<= 1;
  for (int k = 0; k < 5; k++, p <<= 1) {
    double cost = (double)p * (log2((double)p) + 1.0) / (double)(p - ntaps + 1);
    if (cost < best_cost) best_cost = cost, best = p;
  }
  c->ntaps = ntaps;
  c->nfft = best;
  c->block = best - ntaps + 1;
  size_t nc = best / 2 + 1;
  pbuf = fftw_malloc(best * sizeof(double));
  c->H = fftw_malloc(nc * sizeof(fftw_complex));
  if (!pbuf || !c->H) SF_FAIL_QUIET(SF_ERR_NOMEM);
  c->fwd = fftw_plan_dft_r2c_1d((int)best, pbuf, c->H, FFTW_ESTIMATE);
  SF_FFTW(c->fwd);
  c->inv = fftw_plan_dft_c2r_1d((int)best, c->H, pbuf, FFTW_ESTIMATE);
  SF_FFTW(c->inv);
  memset(pbuf, 0, best * sizeof(double));
  memcpy(pbuf, h, ntaps * sizeof(double));
  fftw_execute_dft_r2c(c->fwd, pbuf, c->H);
  for (size_t i = 0; i < nc; i++) {
    c->H[i][0] /= (double)best;
    c->H[i][1] /= (double)best;
  }
cleanup:
  fftw_free(pbuf);
  if (status < 0) sf_fftconv_free(c);
  return status;
}

void sf_fftconv_free(sf_fftconv *c) {
  if (c->fwd) fftw_destroy_plan(c->fwd);
  if (c->inv) fftw_destroy_plan(c->inv);
  fftw_free(c->H);
  memset(c, 0, sizeof *c);
}

int sf_fftconv_buf_init(const sf_fftconv *c, sf_fftconv_buf *b) {
  b->buf = fftw_malloc(c->nfft * sizeof(double));
  b->spec = fftw_malloc((c->nfft / 2 + 1) * sizeof(fftw_complex));
  if (b->buf && b->spec) return 0;
  sf_fftconv_buf_free(b);
  return SF_ERR_NOMEM;
}

void sf_fftconv_buf_free(sf_fftconv_buf *b) {
  fftw_free(b->buf);
  fftw_free(b->spec);
  b->buf = NULL;
  b->spec = NULL;
}

void sf_fftconv_block(const sf_fftconv *c, sf_fftconv_buf *b, size_t m, double *out) {
  size_t nfft = c->nfft, nc = nfft / 2 + 1;
  memset(b->buf + m, 0, (nfft - m) * sizeof(double));
  fftw_execute_dft_r2c(c->fwd, b->buf, b->spec);
  for (size_t i = 0; i < nc; i++) {
    double x = b->spec[i][0], y = b->spec[i][1], u = c->H[i][0], v = c->H[i][1];
    b->spec[i][0] = x * u - y * v;
    b->spec[i][1] = x * v + y * u;
  }
  fftw_execute_dft_c2r(c->inv, b->spec, out);
}
