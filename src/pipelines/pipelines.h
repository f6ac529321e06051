/* Commands: each parses its own options and runs under MPI. Return 0 or SF_ERR_*.
 * Collective over MPI_COMM_WORLD. */
#ifndef SF_PIPELINES_H
#define SF_PIPELINES_H

int sf_cmd_register(int argc, char **argv);
int sf_cmd_synth(int argc, char **argv);
int sf_cmd_slices(int argc, char **argv);
int sf_cmd_integrate(int argc, char **argv);
int sf_cmd_eeg(int argc, char **argv);

#endif
