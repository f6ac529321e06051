/* EEG recordings in EDF, EDF+ (continuous), BDF and BDF+ through EDFlib (specs/eeg.md
 * decision 5), and BrainVision .vhdr/.vmrk/.eeg (src/io/eeg_vhdr.c, what MR-compatible
 * amplifiers record): the header of every ordinary signal, the annotations, and physical
 * samples.
 *
 * Threads: EDFlib keeps its open files in process-wide tables and refuses to open a path
 * that is already open, and neither its open/close nor its reads on one file are
 * thread-safe. So one sf_eeg_rec serves one thread at a time: serialize every call on a
 * record (and every sf_eeg_open / sf_eeg_close) or read all channels from one thread.
 * BrainVision records read with pread into a buffer of each call, so several threads may
 * read channels of one BrainVision record at once. */
#ifndef SF_EEG_EDF_H
#define SF_EEG_EDF_H

#include <stddef.h>

enum { SF_EEG_EDF = 0, SF_EEG_EDFPLUS = 1, SF_EEG_BDF = 2, SF_EEG_BDFPLUS = 3, SF_EEG_BRAINVISION = 4 };

typedef struct sf_eeg_signal {
  char label[17];    /* as in the header, trailing spaces removed */
  char dimension[9]; /* physical dimension ("uV") */
  char prefilter[81];
  char transducer[81];
  double rate; /* Hz = samples per record / record duration */
  int samples_per_record;
  size_t samples; /* in the file */
  double phys_min, phys_max;
  int dig_min, dig_max;
} sf_eeg_signal;

typedef struct sf_eeg_annotation {
  long long onset;    /* from the start of the file, in 100 ns (EDFlib's resolution) */
  long long duration; /* in 100 ns; -1 when the annotation has none */
  char *text;         /* UTF-8; BrainVision: the marker's description ("S  1", "R128") */
} sf_eeg_annotation;

typedef struct sf_eeg_rec {
  char *path;
  int filetype;              /* SF_EEG_EDF .. SF_EEG_BRAINVISION */
  int nsignals;              /* ordinary signals; the EDF+ annotation signals are hidden */
  sf_eeg_signal *signals;    /* nsignals */
  long long records;         /* data records in the file */
  long long record_duration; /* in 100 ns */
  long long duration;        /* of the file, in 100 ns */
  int same_rate;             /* 1 when every signal has the same rate, 0 when the rates differ */
  size_t nannotations;
  sf_eeg_annotation *annotations; /* in file order */
  int handle_;                    /* EDFlib's; private */
  struct sf_eeg_vhdr *vhdr_;      /* the BrainVision reader's; private */
  /* Header fields kept for writing a copy (sf_eeg_write_like); empty or 0 when absent. */
  int start_year, start_month, start_day; /* 0 when unknown */
  int start_hour, start_minute, start_second;
  long long start_subsecond; /* in 100 ns (EDF+/BDF+) */
  char patient[81], recording[81]; /* EDF/BDF: the whole fields, trailing spaces removed */
  char patientcode[81], gender[16], patient_name[81], patient_additional[81]; /* EDF+/BDF+ */
  int birth_year, birth_month, birth_day; /* EDF+/BDF+; 0 when absent */
  char admincode[81], technician[81], equipment[81], recording_additional[81]; /* EDF+/BDF+ */
} sf_eeg_rec;

/* Opens an EDF, EDF+C, BDF or BDF+C file and reads its header and all its annotations; a
 * path ending in .vhdr (any case) is a BrainVision header, read by sf_eeg_vhdr_open (see
 * src/io/eeg_vhdr_impl.h for what it fills and refuses).
 * EDFlib 1.23 reads no EDF+D/BDF+D file, so those are refused; the message says whether the
 * records have a gap (and before which record) or are contiguous, so that relabelling the
 * header EDF+C would do. Returns 0, or reports one message naming the file and returns
 * SF_ERR_INPUT (not EDF/BDF, corrupt or truncated, discontinuous, no signals), SF_ERR_IO
 * (cannot open or read), SF_ERR_USAGE (already open) or SF_ERR_NOMEM. Not thread-safe (see
 * above). Local. */
int sf_eeg_open(const char *path, sf_eeg_rec **out);

/* Reads samples [first, first + n) of signal sig (0-based, annotation signals excluded) as
 * physical values (the signal's dimension) into out. Returns 0, or reports and returns
 * SF_ERR_USAGE (no such signal, range past the end) or SF_ERR_IO (read failure). Not
 * thread-safe on one record. Local. */
int sf_eeg_read_channel(sf_eeg_rec *r, int sig, size_t first, size_t n, double *out);

/* Nearest sample of signal sig to a time in 100 ns units: round(t * rate / 1e7), halves away
 * from zero, never floor (specs/eeg.md: annotation onsets map to the nearest sample); exact
 * integer arithmetic. sig must be a signal of r. Local. */
long long sf_eeg_time_to_sample(const sf_eeg_rec *r, int sig, long long t);

/* Closes the file and frees the record; accepts NULL and sets *r to NULL. Local. */
void sf_eeg_close(sf_eeg_rec **r);

#endif
