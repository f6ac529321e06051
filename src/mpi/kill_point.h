/* Crash points for the resume tests: SLABFLOW_TEST_KILL=POINT:N[:RANK] makes the process of
 * rank RANK (default 0) kill itself with SIGKILL the N-th time it reaches POINT (1-based), as
 * a node failure or Slurm's final SIGKILL would. Points: "once" (a run-once step begins),
 * "reduce" (a reduction sweep has computed a batch), "commit" (a batch is about to be
 * written), "mark" (a batch's done mark is written), "finish" (the output is about to be
 * completed), "keep" (a run-once result has been written to the
 * journal). Unset (production): a getenv once, then nothing. */
#ifndef SF_KILL_POINT_H
#define SF_KILL_POINT_H

/* Counts a passage through point on this rank and dies there when the test asks. Local. */
void sf_kill_point(const char *point, int rank);

#endif
