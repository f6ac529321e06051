/* Synthetic EEG-fMRI recording: clean EEG with MR gradient artifacts, written as EDF+/BDF+
 * through EDFlib or as BrainVision .vhdr/.vmrk/.eeg, and the clean truth beside it in HDF5
 * (`slabflow synth eeg`). */
#ifndef SF_SYNTH_EEG_H
#define SF_SYNTH_EEG_H

#include <stddef.h>
#include <stdint.h>

typedef struct sf_synth_eeg_opts {
  size_t channels; /* 2..64: channels - 1 EEG channels (10-20/10-10 labels), then "ECG" */
  size_t rate;     /* Hz, integer (one data record = 1 s = rate samples) */
  size_t seconds;  /* whole seconds */
  double tr;       /* volume repetition time, s */
  size_t slices;   /* slices per volume; slice period tr / slices */
  int jitter;      /* sub-sample trigger jitter (sd 0.15 sample, within +-0.45 sample) */
  uint64_t seed;
  size_t blocks; /* acquisition blocks of equal numbers of volumes; 0 or 1: one */
  double pause;  /* s without gradients or triggers between blocks (blocks > 1) */
} sf_synth_eeg_opts;

/* Checks opts (the same checks sf_synth_eeg_write makes) and gives, where not NULL, the clean
 * stretch before and after the acquisition (s) and the number of volumes (of all blocks; each
 * block has volumes / blocks). The blocks, their pauses and the clean stretches must fit in
 * the recording. Returns 0 or SF_ERR_USAGE, reported. Local. */
int sf_synth_eeg_check(const sf_synth_eeg_opts *opts, double *clean_s, size_t *volumes);

/* Writes the recording to edf_path (EDF+C with 16-bit samples at 0.5 uV when the name ends in
 * .edf, BDF+C with 24-bit samples at 32768/(2^24-1) uV when it ends in .bdf; physical range
 * -16384..16383.5 (EDF) or -16384..16384 (BDF) uV, every sample inside it) and the truth to
 * h5_path: /clean (channels, samples) float32 uV, /channels labels, /triggers true slice
 * onsets in samples (float64; sample n is at time n / rate), attributes rate, tr, slices,
 * volumes, seed, jitter, clean_seconds, resolution. With blocks > 1 the scan is that many
 * acquisition blocks of volumes / blocks volumes, block b starting b (volumes / blocks x tr +
 * pause) s after the first (a pause of `pause` s between the end of one block's last volume
 * and the next block), and the truth adds /trigger_block (int32, the block of each trigger)
 * and attributes blocks, pause, volumes_per_block (absent with one block, whose bytes stay
 * those of a recording without blocks). One EDF+ annotation "1" per slice at its
 * onset rounded to 100 us (EDFlib's writing resolution). A name ending in .vhdr writes
 * BrainVision REC.vhdr, REC.vmrk, REC.eeg: BINARY MULTIPLEXED INT_16 at resolution 0.5 uV,
 * the EDF output's very integers (MR amplifiers record at 0.1 uV, but the synthetic artifact
 * reaches 16 mV, past 16 bits at 0.1 uV); markers "New Segment" at sample 1, then "Stimulus",
 * "S  1" per slice at its onset rounded to the nearest sample (positions are whole samples);
 * the rate must make 1e6 / rate us a finite decimal (2^a 5^b Hz), else SF_ERR_USAGE. The
 * same options give the same bytes.
 * Serial (call on one rank); holds channels x samples floats in memory. Returns 0 or SF_ERR_*
 * (reported); on failure neither file is left. Local. */
int sf_synth_eeg_write(const char *edf_path, const char *h5_path, const sf_synth_eeg_opts *opts);

#endif
