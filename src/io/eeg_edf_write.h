/* Writing a corrected copy of an EEG recording as EDF+/BDF+ through EDFlib's writer
 * (`slabflow eeg --edf-out`, issue 14 point 3): the input's header, channel order and
 * annotations, with the samples of the signals a callback replaces. */
#ifndef SF_EEG_EDF_WRITE_H
#define SF_EEG_EDF_WRITE_H

#include <stddef.h>

#include "io/eeg_edf.h"

/* Supplies the samples [first, first+n) of signal sig (0-based, as in the input record) in the
 * signal's physical unit; returns 1 when it filled out (a replaced, i.e. corrected, signal), 0
 * when the writer should copy the input's own samples, or a negative SF_ERR_* (reported). It is
 * called with increasing first, one data record at a time, for every signal in order; for an
 * input that is not EDF/BDF it is called twice for each range (a first pass for the range). */
typedef int (*sf_eeg_sample_fn)(void *ctx, int sig, size_t first, size_t n, double *out);

/* Writes out_path as a copy of the open input recording `in` with the samples the callback
 * replaces (fn NULL: a plain copy): EDF+ for EDF/EDF+, BDF+ for BDF/BDF+; the same signals
 * in the same order with the same labels, dimensions, transducer, prefilter, physical and digital
 * ranges and samples per record, the same record duration, the start date and time (with the
 * sub-second offset), the EDF+ patient and recording subfields (a plain EDF/BDF's whole patient and
 * recording fields go to the "additional" subfields), and every annotation (onset, duration, text).
 * Copied signals keep their digital samples bit for bit; replaced samples are rounded to the
 * nearest digital value, and those outside the physical range are clipped to it: *clipped (may be
 * NULL) gets their count. Any other input type (BrainVision) becomes BDF+ with, per signal, the
 * physical range of what is written widened by 0.1 % (digital -8388608..8388607), data records of 1
 * s at an integer rate, else of the fewest whole seconds holding whole samples (3 s at 333.33
 * Hz), else of the shortest in 10 ms, then 10 us steps; a last partial record is padded with
 * the last sample.
 * EDFlib limits (1.23): annotation onsets and durations are stored to 100 us (rounded; the
 * reader's 100 ns are kept when already on that grid), texts of at most 40 bytes, record
 * durations in steps of 10 us (1 us under 10 ms). The written file is re-opened and checked
 * (signals, ranges, annotation count, onsets, texts) before it is renamed.
 * Reads and writes one data record at a time: memory O(signals * samples_per_record). Writes
 * to a temporary name beside out_path and renames at the end; on failure nothing is left.
 * out_path must not be the input. Returns 0 or SF_ERR_* (USAGE: bad arguments or out_path is
 * the input; INPUT: what EDFlib cannot write; IO; NOMEM; or the callback's) with one message
 * naming out_path. Not thread-safe (EDFlib). Local (rank 0). */
int sf_eeg_write_like(const char *out_path, sf_eeg_rec *in, sf_eeg_sample_fn fn, void *ctx,
                      size_t *clipped);

#endif
