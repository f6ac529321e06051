/* The output file: created by all ranks together as NAME.partial with every dataset at its
 * final size, written collectively batch by batch, renamed to NAME when complete. */
#ifndef SF_H5_OUTPUT_H
#define SF_H5_OUTPUT_H

#include <hdf5.h>
#include <mpi.h>
#include <stddef.h>

typedef struct sf_output sf_output;

/* Rank 0 checks that the output can be written (its directory exists and is writable, it is
 * not a directory), that none of NAME, NAME.partial, NAME.lock and NAME.once is one of the n_inputs
 * files the run reads (device and inode after symbolic links; a FILE:/dataset spec counts as
 * FILE; NULL entries are skipped), and takes NAME.lock, which refuses a second run aimed at
 * the same output while this one lives. The lock goes at sf_output_finish or at exit; a
 * run that dies loses it with its process. The outcome is agreed. Collective. */
int sf_output_check_path(MPI_Comm comm, const char *out_path, const char *const *inputs,
                         size_t n_inputs);

/* Removes the output lock this process holds, if any (it goes at exit anyway: called before
 * the ranks exit, so that a launcher that kills the others once one rank has exited with an
 * error cannot leave the lock file behind). Local. */
void sf_output_release_lock(void);

/* Creates out_path + ".partial" (removing a stale one) with the MPI-IO driver, a
 * /slabflow/done mark per segment (n_segments, uint8, 0 = not done) and the root attributes
 * resume_identity (see sf_output_begin) and complete = 0. Everything HDF5 keeps in its
 * caches is flushed before the first raw write after a dataset or attribute was made, and
 * every batch's data before its done mark (sf_output_mark_done): a process killed at any
 * point leaves a .partial that HDF5 opens, whose marked segments hold their final bytes.
 * With --resume set (sf_output_begin) and an existing out_path + ".partial", that file
 * is opened instead: refused (SF_ERR_INPUT, one message, "run without --resume") when it is
 * not readable HDF5, complete is not 0, its resume_identity differs from this run's or its
 * segment count differs; its done marks are read (sf_output_segment_done) and sf_output_add
 * opens the existing datasets (same type and shape, else refused). Without a .partial,
 * --resume starts afresh with a note. Collective. */
int sf_output_create(MPI_Comm comm, const char *out_path, size_t n_segments, sf_output **out);
/* The run's output mode, before any work: resume (nonzero: continue an existing .partial)
 * and the run's identity: a string naming everything a result depends on (the input's path,
 * size and modification time, every option that changes results, the segment size) and
 * nothing it does not (ranks, threads); the same on every rank. With resume set, an existing
 * NAME.partial is checked now, read-only, as sf_output_create will (refused with one message
 * and SF_ERR_INPUT, the file untouched), so that a resume that cannot be is refused before the
 * run-once steps spend their time. Begins the journal of run-once results (once_journal.h),
 * which the engine reads and writes for steps that keep theirs. Collective. */
int sf_output_begin(MPI_Comm comm, const char *out_path, int resume, const char *identity, size_t n_segments);
/* The file identity of an input spec (FILE or FILE:/dataset): " SPEC:SIZE:MTIME" (" -" for
 * NULL) appended to buf at *k (n bytes in all). Local. */
void sf_output_identity_file(char *buf, size_t n, size_t *k, const char *spec);
/* Whether o continues a .partial; whether segment seg was marked done there; how many. Local. */
int sf_output_resumed(const sf_output *o);
int sf_output_segment_done(const sf_output *o, long seg);
size_t sf_output_segments_done(const sf_output *o);

/* Creates dataset name (parents created as needed) of HDF5 type type with ndims dims; chunk
 * may be NULL for a contiguous layout. Returns its index in *id. Collective. */
int sf_output_add(sf_output *o, const char *name, hid_t type, int ndims, const hsize_t *dims,
                  const hsize_t *chunk, int *id);

/* Writes rows [first, first+count) along axis 0 of dataset id from buf (memory type mtype,
 * count x the remaining dims, row-major). Every rank calls it; count may be 0 (an empty
 * selection). Collective. */
int sf_output_write_rows(sf_output *o, int id, size_t first, size_t count, hid_t mtype,
                         const void *buf);

/* As sf_output_write_rows with row r of buf starting at element r * stride (stride >= the
 * row's elements; 0: packed), for rows of different widths in one buffer. Collective. */
int sf_output_write_rows_strided(sf_output *o, int id, size_t first, size_t count, hid_t mtype,
                                 const void *buf, size_t stride);

/* Writes a whole dataset from rank 0's buf (other ranks pass anything). Collective. */
int sf_output_write_all(sf_output *o, int id, hid_t mtype, const void *buf);

/* Marks segment seg done (seg < 0: this rank marks nothing at this step), after flushing the
 * data written so far to disk. Collective. */
int sf_output_mark_done(sf_output *o, long seg);

/* Root group, for provenance attributes (every rank writes the same values). */
hid_t sf_output_root(const sf_output *o);

/* Closes. On status 0: writes complete=1 last, closes, and rank 0 renames NAME.partial to
 * NAME, and removes the journal NAME.once. On failure: closes and removes NAME.partial and
 * NAME.once, except after an interruption, when they are kept (complete=0) for a later
 * resume. Returns the agreed status. Accepts *o == NULL. Collective. */
int sf_output_finish(sf_output **o, int status);

#endif
