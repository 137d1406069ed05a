/*
 * cmd_kernel.h: `assay kernel list` and `assay kernel run` (PROTOCOL.md
 * section 5).  Also declared in cli.h, where the client's commands meet.
 */
#ifndef ASSAY_CMD_KERNEL_H
#define ASSAY_CMD_KERNEL_H

/* argv[0] is "kernel".  Exit status: 0 success, 1 the kernel refused its
 * input (or a file could not be read or written), 2 unusable arguments. */
int cmd_kernel(int argc, char **argv);

#endif
