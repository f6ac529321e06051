/* BrainVision Core Data Format 1.0 reader behind sf_eeg_open / sf_eeg_read_channel /
 * sf_eeg_close (src/io/eeg_edf.h); module-private to src/io.
 *
 * What it reads: a .vhdr header ("Brain Vision Data Exchange Header File Version 1.0", or
 * the same header of Version 2.0) with [Common Infos] DataFile, MarkerFile (optional),
 * DataFormat=BINARY, DataOrientation=MULTIPLEXED or VECTORIZED, NumberOfChannels,
 * SamplingInterval (us), optional DataType=TIMEDOMAIN, DataPoints, SegmentationType=
 * NOTSEGMENTED; [Binary Infos] BinaryFormat=INT_16, INT_32 or IEEE_FLOAT_32 (little-endian,
 * or big-endian with UseBigEndianOrder=YES); [Channel Infos] Ch<n>=<Name>,<Reference>,
 * <Resolution>,<Unit> ("\1" in a name is a comma; resolution empty = 1; unit empty = uV).
 * [Coordinates] and [Comment] are not needed and skipped. DataFile and MarkerFile are
 * relative to the .vhdr's directory (or absolute).
 *
 * What it fills: filetype SF_EEG_BRAINVISION; per channel the label (cut to 16 bytes), the
 * dimension as written (uV, mV, V, nV; the spellings µV and μV, in UTF-8 or Latin-1, become
 * "uV"), the rate 1e6 / SamplingInterval, every sample of the file, and the data type's
 * range: digital -32768..32767 (INT_16) or INT_MIN..INT_MAX (INT_32) with physical range
 * digital x resolution; IEEE_FLOAT_32 has no digital range (dig_min = dig_max = 0) and the
 * physical range +-FLT_MAX x resolution. Samples are physical values in the channel's own
 * unit: raw x resolution (as EDF's are in its dimension); prefilter and transducer are empty.
 * The time base is exact: the decimal SamplingInterval s = p/q us gives record_duration
 * 10 p / g (100 ns) per samples_per_record q / g samples (g their gcd), so a record is the
 * shortest whole number of samples lasting a whole number of 100 ns; records = ceil(samples /
 * samples_per_record), duration = samples x the interval, rounded to 100 ns.
 *
 * Markers (.vmrk, "Brain Vision Data Exchange Marker File, Version 1.0" or 2.0): each
 * Mk<n>=<Type>,<Description>,<Position>,<Size>,<Channel>[,<Date>] in file order becomes one
 * annotation: onset (Position - 1) x the interval in 100 ns, rounded (so sf_eeg_time_to_sample
 * gives Position - 1 back exactly while the interval is over 100 ns), duration Size x the
 * interval (-1 when Size is 0), text the Description verbatim ("S  1", "R128", "T  1"; "\1"
 * is a comma), or the Type ("New Segment") when the description is empty. A trigger regex is
 * matched against that text: `S  1` (two spaces) or `^S +1$` for stimulus 1. */
#ifndef SF_EEG_VHDR_IMPL_H
#define SF_EEG_VHDR_IMPL_H

#include <stddef.h>

#include "io/eeg_edf.h"

/* Opens the BrainVision recording whose header is path, reads its header and markers and
 * checks the data file's size. Returns 0, or reports one message naming the file and the
 * problem and returns SF_ERR_INPUT (not a BrainVision header, missing NumberOfChannels or
 * SamplingInterval, no channels, unsupported DataFormat/DataOrientation/BinaryFormat/
 * DataType/segmentation, a data file that is not a whole number of samples x channels x
 * bytes or disagrees with DataPoints, an empty data file, a malformed channel or marker line,
 * a marker position out of range, a missing .eeg or .vmrk named in the header), SF_ERR_IO
 * (the header cannot be opened, or a file cannot be read) or SF_ERR_NOMEM. Local. */
int sf_eeg_vhdr_open(const char *path, sf_eeg_rec **out);

/* Reads samples [first, first + n) of channel sig as physical values (raw x resolution);
 * pread into a buffer of this call, in blocks of frames (multiplexed) or of samples
 * (vectorized). Returns 0, or reports and returns SF_ERR_USAGE (no such channel, range past
 * the end), SF_ERR_IO (read failure) or SF_ERR_NOMEM. Thread-safe on one record. Local. */
int sf_eeg_vhdr_read(const sf_eeg_rec *r, int sig, size_t first, size_t n, double *out);

/* Closes the data file and frees the reader's part of a record; accepts NULL. Local. */
void sf_eeg_vhdr_free(struct sf_eeg_vhdr *v);

#endif
