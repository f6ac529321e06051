/* FFT convolution with one filter, the core the FIR filters share (eeg_filter.c's zero-phase
 * overlap-add, eeg_firls.c's filtfilt by overlap-save): the taps' spectrum zero-padded to
 * nfft and scaled by 1/nfft, the two FFTW plans, and one block's circular convolution. */
#ifndef SF_FFT_CONV_H
#define SF_FFT_CONV_H

#include <fftw3.h>
#include <stddef.h>

typedef struct sf_fftconv {
  size_t ntaps, nfft, block; /* block = nfft - ntaps + 1 */
  fftw_complex *H;           /* spectrum of the taps zero-padded to nfft, scaled by 1/nfft */
  fftw_plan fwd, inv;
} sf_fftconv;

/* One thread's buffers: buf (nfft doubles) and spec (nfft / 2 + 1). */
typedef struct sf_fftconv_buf {
  double *buf;
  fftw_complex *spec;
} sf_fftconv_buf;

/* Plans c for the ntaps taps h: nfft is, of the five powers of two from the smallest one
 * >= min_len and >= p_min, the one with the least FFT work per output sample. Returns 0 or
 * SF_ERR_NOMEM (c is then freed). Local. */
int sf_fftconv_init(sf_fftconv *c, const double *h, size_t ntaps, size_t min_len, size_t p_min);
void sf_fftconv_free(sf_fftconv *c);

int sf_fftconv_buf_init(const sf_fftconv *c, sf_fftconv_buf *b);
void sf_fftconv_buf_free(sf_fftconv_buf *b);

/* b->buf[0, m) holds a block's input (m <= nfft): zero-pads it to nfft and writes its circular
 * convolution with the taps (nfft samples) to out, which may be b->buf. */
void sf_fftconv_block(const sf_fftconv *c, sf_fftconv_buf *b, size_t m, double *out);

#endif
