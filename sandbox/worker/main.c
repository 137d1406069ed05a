/*
 * assay-worker: the sandboxed job worker of exec mode (sbx_use_worker in
 * sandbox/sandbox.h).  Not run by hand: sbx_run forks and execs it with
 * the job file on fd 3 and the report pipe on fd 4.  Every daemon finds
 * it beside its own executable (or at $ASSAY_WORKER).
 */
#include <stdio.h>

#include "sbx_internal.h"

int main(int argc, char **argv)
{
	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "assay-worker: the job worker of assay's sandbox; the daemons "
				"start it (docs/sandbox.md)\n");
		return 2;
	}
	sbx_worker_main();
}
