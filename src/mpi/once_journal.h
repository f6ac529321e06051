/* The journal of run-once results, NAME.once beside the output NAME: what the steps that run
 * before the output exists computed (per-slice statistics, the EEG alignment, integration
 * tables), kept so that a --resume does not compute them again. The output file is created
 * after those steps, and keeping them there would put scratch tables into every result, so
 * they go beside it, as NAME.partial does, and go with it: removed when the output is
 * complete, kept with a partial left for --resume.
 *
 * The file: a header ("slabflow once 1\n", the run's identity) and records appended one per
 * kept step (its name, its bytes, an FNV-1a checksum of both), each written and fsynced
 * before the step's successor starts. A record cut short by a crash, a checksum that does not
 * match, or a header with another identity (another input, other options) makes the journal,
 * or the rest of it, not count: the steps run again, which gives the same bytes (run-once
 * results are deterministic), and the journal is written anew. Only rank 0 touches the file;
 * it holds the output's lock meanwhile (sf_output_check_path). */
#ifndef SF_ONCE_JOURNAL_H
#define SF_ONCE_JOURNAL_H

#include <mpi.h>
#include <stddef.h>

/* The run's output and identity. With resume set, rank 0 reads an existing NAME.once and
 * keeps the records it trusts (a note on stderr says when one is ignored and why); without,
 * a stale NAME.once is removed. Collective. */
int sf_journal_begin(MPI_Comm comm, const char *out_path, int resume, const char *identity);

/* The bytes of record name, on every rank (*data malloc'ed, free it): 1 when the journal
 * holds it, 0 when not (or not resuming). Collective. */
int sf_journal_load(MPI_Comm comm, const char *name, void **data, size_t *n);

/* Appends record name with rank 0's n bytes (other ranks pass anything), fsynced before it
 * returns; the first record of a run that found no journal it trusts starts a new file.
 * Collective; the status is agreed. */
int sf_journal_store(MPI_Comm comm, const char *name, const void *data, size_t n);

/* The reader, on a journal's bytes (exposed for the fuzz harness): returns 1 when buf is not a
 * journal, 2 when its identity is not identity, else 0 after fn got every record up to the
 * first one cut short or with a wrong checksum (its offset in *bad_at; sz when none), or fn's
 * negative status. Local. */
int sf_journal_parse(const unsigned char *buf, size_t sz, const char *identity,
                     int (*fn)(void *arg, const char *name, size_t len, const void *data, size_t n), void *arg,
                     size_t *bad_at);

/* Removes NAME.once (the output is complete, or its partial was removed). Rank 0; local. */
void sf_journal_remove(void);

#endif
