/*
 * httpc.c: see httpc.h.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "httpc.h"
#include "banned.h"

#define HC_ANSWER_MAX (32u << 20)

static int hc_write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void hc_parse(struct hc_resp *r)
{
	char *hdr_end = r->raw ? strstr(r->raw, "\r\n\r\n") : NULL;
	char *line;

	if (!hdr_end || sscanf(r->raw, "HTTP/1.%*d %d", &r->status) != 1) {
		r->status = 0;
		return;
	}
	*hdr_end = '\0';
	for (line = strstr(r->raw, "\r\n"); line && line < hdr_end; line = strstr(line + 2, "\r\n")) {
		if (strncasecmp(line + 2, "Content-Type:", 13) == 0) {
			const char *v = line + 15;
			size_t n = strcspn(v, "\r");
			while (*v == ' ' && n) {
				v++;
				n--;
			}
			if (n >= sizeof(r->ctype))
				n = sizeof(r->ctype) - 1;
			memcpy(r->ctype, v, n);
			r->ctype[n] = '\0';
		}
	}
	*hdr_end = '\r';
	r->body_len = r->raw_len - (size_t)(hdr_end + 4 - r->raw);
	r->body = malloc(r->body_len + 1);
	if (!r->body) {
		r->status = 0;
		return;
	}
	memcpy(r->body, hdr_end + 4, r->body_len);
	r->body[r->body_len] = '\0';
}

int hc_raw(struct hc_resp *r, uint16_t port, const void *req, size_t len)
{
	struct sockaddr_in sa;
	struct timeval tv = { 60, 0 };
	size_t cap = 65536;
	int fd;

	memset(r, 0, sizeof(*r));
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		close(fd);
		return -1;
	}
	/* A server may answer (413) before reading everything: a failed
	 * write is not yet a failed request. */
	(void)hc_write_all(fd, req, len);
	r->raw = malloc(cap + 1);
	while (r->raw) {
		ssize_t n = recv(fd, r->raw + r->raw_len, cap - r->raw_len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		r->raw_len += (size_t)n;
		if (r->raw_len == cap) {
			char *nr = cap < HC_ANSWER_MAX ? realloc(r->raw, cap * 2 + 1) : NULL;
			if (!nr)
				break;
			r->raw = nr;
			cap *= 2;
		}
	}
	close(fd);
	if (!r->raw)
		return -1;
	r->raw[r->raw_len] = '\0';
	hc_parse(r);
	return r->status ? 0 : -1;
}

int hc_request(struct hc_resp *r, uint16_t port, const char *method,
	       const char *target, const char *const *headers,
	       const void *body, size_t body_len)
{
	size_t cap = 1024 + strlen(target) + body_len, n, i;
	char *req = malloc(cap);
	int rc, w, has_ctype = 0;

	memset(r, 0, sizeof(*r));
	if (!req)
		return -1;
	w = snprintf(req, cap, "%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nConnection: close\r\n",
		     method, target, (unsigned)port);
	n = (size_t)w;
	for (i = 0; headers && headers[i]; i++) {
		size_t hl = strlen(headers[i]);
		if (n + hl + 2 + 128 + body_len > cap) {
			char *nr = realloc(req, cap + hl + 128);
			if (!nr) {
				free(req);
				return -1;
			}
			req = nr;
			cap += hl + 128;
		}
		if (strncasecmp(headers[i], "Content-Type:", 13) == 0)
			has_ctype = 1;
		memcpy(req + n, headers[i], hl);
		memcpy(req + n + hl, "\r\n", 2);
		n += hl + 2;
	}
	/* JSON unless the caller names another type (the JSON routes take
	 * nothing else). */
	if (!has_ctype && (body_len || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0))
		n += (size_t)snprintf(req + n, cap - n, "Content-Type: application/json\r\n");
	w = snprintf(req + n, cap - n, "Content-Length: %zu\r\n\r\n", body_len);
	n += (size_t)w;
	if (body_len)
		memcpy(req + n, body, body_len);
	n += body_len;
	rc = hc_raw(r, port, req, n);
	free(req);
	return rc;
}

void hc_resp_free(struct hc_resp *r)
{
	free(r->body);
	free(r->raw);
	r->body = r->raw = NULL;
}
