/* Worker mode (`iotdb-backupd --worker ...`): one run in its own process.
 * Reads the task's canonical JSON on stdin, runs the backup engine, writes
 * JSON event lines on stdout: {"event":"log"|"progress"|"result",...}. */
#ifndef IBD_WORKER_H
#define IBD_WORKER_H

#define IBD_WORKER_FLAG "--worker"

/* argv[1] is IBD_WORKER_FLAG. Returns the process exit status: 0 when a
 * result was reported, 2 on bad arguments, 1 otherwise. */
int ibd_worker_main(int argc, char **argv);

#endif
