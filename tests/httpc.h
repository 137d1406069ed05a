/*
 * httpc.h: a minimal HTTP/1.1 client over a loopback socket for the
 * test suites (prefix hc_).  One request per connection
 * ("Connection: close"), the answer read to EOF.
 */
#ifndef ASSAY_HTTPC_H
#define ASSAY_HTTPC_H

#include <stddef.h>
#include <stdint.h>

struct hc_resp {
	int status;              /* 0 when no answer could be read */
	char ctype[128];         /* Content-Type, "" when absent */
	char *body;              /* NUL-terminated; free with hc_resp_free */
	size_t body_len;
	char *raw;               /* the whole answer as received */
	size_t raw_len;
};

/* Sends METHOD TARGET with the extra header lines (each "Name: value",
 * NULL-terminated list, may be NULL) and body (may be NULL).  Returns 0,
 * or -1 when the connection failed (resp->status 0). */
int hc_request(struct hc_resp *resp, uint16_t port, const char *method,
	       const char *target, const char *const *headers,
	       const void *body, size_t body_len);
/* Sends raw bytes as the request and reads the answer. */
int hc_raw(struct hc_resp *resp, uint16_t port, const void *req, size_t len);
void hc_resp_free(struct hc_resp *resp);

#endif
