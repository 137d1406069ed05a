/*
 * ca_file.h: the one check of a CA bundle named by --ca-file or
 * ASSAY_CA_FILE, shared by the HTTP client (httpd/client.c) and the EVM
 * JSON-RPC client (chain-adapter/evm_rpc.c), each of which keeps the
 * path for its own libcurl handles.
 */
#ifndef ASSAY_CA_FILE_H
#define ASSAY_CA_FILE_H

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A bundle is a readable regular file of 1 byte to 1 MiB. */
#define CA_FILE_BYTES_MAX (1 << 20)

/* Copies path into dst (dst_len bytes) when it names a usable bundle:
 * 0, or -1 with why (may be NULL) filled and dst unchanged.  NULL
 * empties dst (back to the system's bundle). */
static inline int ca_file_take(char *dst, size_t dst_len, const char *path, char *why,
			       size_t why_len)
{
	struct stat st;

	if (!path) {
		dst[0] = '\0';
		return 0;
	}
	if (strlen(path) >= dst_len || stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
	    access(path, R_OK) != 0 || st.st_size <= 0 || st.st_size > CA_FILE_BYTES_MAX) {
		if (why && why_len)
			(void)snprintf(why, why_len, "CA file '%.200s' is not a readable regular "
				       "file of 1 byte to 1 MiB", path);
		return -1;
	}
	(void)snprintf(dst, dst_len, "%s", path);
	return 0;
}

#endif
