/*
 * cmd_kernel.c: `assay kernel list` and `assay kernel run`.
 *
 *   assay kernel list
 *       one line per kernel: name@version 0x<kernelHash> description
 *   assay kernel run NAME --input IN --params JSON --output OUT
 *                    [--device auto|cpu|cuda] [--threads N] [--model FILE]
 *       {"outputRoot":"0x...","outputSize":N,"device":"..."}
 *
 * Exit 0 on success; 1 when the kernel refuses its input or a file
 * cannot be read or written (one line on stderr naming what and why);
 * 2 for unusable arguments.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd_kernel.h"
#include "kernels.h"
#include "receipts.h"

#include "banned.h"

static const char KERNEL_USAGE[] =
	"usage: assay kernel list\n"
	"       assay kernel run NAME --input IN --params JSON --output OUT\n"
	"                        [--device auto|cpu|cuda] [--threads N] [--model FILE]\n"
	"\n"
	"list: one line per kernel: name@version kernelHash description.\n"
	"run:  runs kernel NAME (name@version, e.g. matmul_f32@1) on the tensors\n"
	"      of the safetensors file IN with the exact params string JSON\n"
	"      (compact, sorted keys; {} when the kernel takes none), writes\n"
	"      OUT and prints {\"outputRoot\":\"0x...\",\"outputSize\":N,\"device\":\"...\"}.\n"
	"      --device auto (default) uses CUDA when present, else the CPU; the\n"
	"      output bytes are the same on every device.  --threads: CPU threads\n"
	"      (default: all online CPUs).  --model: the safetensors model of a\n"
	"      kernel that takes one (gpt2_f32@1); its commitment must be the\n"
	"      \"model\" and \"modelSize\" of JSON.\n"
	"exit: 0 success, 1 the kernel refused its input, 2 unusable arguments.\n";

static int kernel_list(int argc, char **argv)
{
	struct cli_args a;

	if (cli_parse(&a, argc, argv, NULL, 0, 0, 0))
		return 2;
	if (a.help) {
		fputs(KERNEL_USAGE, stdout);
		return 0;
	}
	for (size_t i = 0; i < kern_count(); i++) {
		const struct kern_info *k = kern_info_at(i);
		char hex[RCPT_HASH_HEX_BYTES];
		if (rcpt_hex_encode(hex, sizeof hex, k->hash, KERN_HASH_BYTES) != RCPT_OK) {
			cli_err("kernel list: could not encode a kernelHash");
			return 1;
		}
		printf("%s %s %s\n", k->name, hex, k->description);
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

/* Maps the model at `path` (NULL: none) and checks that params ends with
 * its commitment: "model":"0x<root>","modelSize":<size>} (the kernel's
 * strict parser checks the rest).  The commitment is over the mapped
 * bytes, the very bytes the kernel reads. */
static int open_model(struct kern_model *m, const char *kernel, const char *path,
		      const char *params)
{
	struct kern_diag d = { "" };
	struct rcpt_commitment c;
	char root[RCPT_HASH_HEX_BYTES], want[160];
	size_t pl = strlen(params), wl;

	if (path == NULL)
		return 0;
	if (strncmp(kernel, "gpt2_f32@", 9) != 0) {
		cli_err("kernel run: %.64s takes no --model", kernel);
		return -1;
	}
	if (kern_model_open(m, &d, path) != KERN_OK) {
		cli_err("kernel run: %s", d.msg);
		return -1;
	}
	if (rcpt_commit_buf(&c, m->map, m->map_len) != RCPT_OK ||
	    rcpt_hex_encode(root, sizeof root, c.root, sizeof c.root) != RCPT_OK) {
		cli_err("kernel run: could not commit to the model");
		kern_model_close(m);
		return -1;
	}
	wl = (size_t)snprintf(want, sizeof want, "\"model\":\"%s\",\"modelSize\":%llu}", root,
			      (unsigned long long)c.size);
	if (pl < wl || memcmp(params + pl - wl, want, wl) != 0) {
		cli_err("kernel run: the model '%.128s' is %s (size %llu), not the model "
			"named in --params", path, root, (unsigned long long)c.size);
		kern_model_close(m);
		return -1;
	}
	return 0;
}

static int kernel_run(int argc, char **argv)
{
	static const struct cli_opt opts[] = {
		{ "input", 0, 1 }, { "params", 0, 1 }, { "output", 0, 1 },
		{ "device", 0, 0 }, { "threads", 0, 0 }, { "model", 0, 0 },
	};
	struct kern_run_opts ro = { KERN_DEVICE_AUTO, 0, NULL };
	struct kern_model model = { 0 };
	struct kern_diag d = { "" };
	struct rcpt_diag rd = { "" };
	struct rcpt_commitment c;
	char dev[KERN_DEVICE_BYTES], root[RCPT_HASH_HEX_BYTES];
	enum kern_err rc;

	struct cli_args a;
	if (cli_parse(&a, argc, argv, opts, sizeof opts / sizeof opts[0], 0, 1))
		return 2;
	if (a.help) {
		fputs(KERNEL_USAGE, stdout);
		return 0;
	}
	if (a.npos != 1 || !a.val[0] || !a.val[1] || !a.val[2]) {
		fputs(KERNEL_USAGE, stderr);
		return 2;
	}
	if (kern_find(a.pos[0]) == NULL) {
		cli_err("kernel run: unknown kernel '%.64s' (see `assay kernel list`)", a.pos[0]);
		return 2;
	}
	if (a.val[3] && kern_device_parse(&ro.device, a.val[3]) != KERN_OK) {
		cli_err("kernel run: --device must be auto, cpu or cuda, not '%.32s'", a.val[3]);
		return 2;
	}
	if (a.val[4]) {
		char *end = NULL;
		unsigned long t = strtoul(a.val[4], &end, 10);
		if (a.val[4][0] < '1' || a.val[4][0] > '9' || *end != '\0' ||
		    t > KERN_THREADS_MAX) {
			cli_err("kernel run: --threads must be 1 to %d", KERN_THREADS_MAX);
			return 2;
		}
		ro.threads = (unsigned)t;
	}
	if (strlen(a.val[1]) > KERN_PARAMS_BYTES_MAX) {
		cli_err("kernel run: --params longer than %d bytes", KERN_PARAMS_BYTES_MAX);
		return 2;
	}
	if (open_model(&model, a.pos[0], a.val[5], a.val[1]) != 0)
		return 1;
	ro.model = a.val[5] ? &model.tensors : NULL;
	rc = kern_run_file(dev, &d, a.pos[0], a.val[0], a.val[1], strlen(a.val[1]),
			   a.val[2], &ro);
	kern_model_close(&model);
	if (rc != KERN_OK) {
		cli_err("kernel run: %s", d.msg[0] ? d.msg : kern_strerror(rc));
		return rc == KERN_ERR_ARG ? 2 : 1;
	}
	if (rcpt_commit_file(&c, &rd, a.val[2], 0) != RCPT_OK) {
		cli_err("kernel run: could not commit to '%.128s': %s", a.val[2], rd.msg);
		return 1;
	}
	if (rcpt_hex_encode(root, sizeof root, c.root, sizeof c.root) != RCPT_OK)
		return 1;
	printf("{\"outputRoot\":\"%s\",\"outputSize\":%llu,\"device\":\"%s\"}\n", root,
	       (unsigned long long)c.size, dev);
	return fflush(stdout) == 0 ? 0 : 1;
}

int cmd_kernel(int argc, char **argv)
{
	if (argc < 2) {
		fputs(KERNEL_USAGE, stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(KERNEL_USAGE, stdout);
		return 0;
	}
	if (strcmp(argv[1], "list") == 0)
		return kernel_list(argc - 1, argv + 1);
	if (strcmp(argv[1], "run") == 0)
		return kernel_run(argc - 1, argv + 1);
	cli_err("kernel: unknown subcommand '%.32s' (list or run)", argv[1]);
	return 2;
}
