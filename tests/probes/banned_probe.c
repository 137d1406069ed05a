/* Compiled by `make check-banned`: clean it must compile; with any
 * PROBE_x defined, banned.h must make it fail. */
#include <stdio.h>
#include <string.h>

#include "banned.h"

int banned_probe(char *dst, const char *src, size_t n);
int banned_probe(char *dst, const char *src, size_t n)
{
	(void)dst; (void)src; (void)n;
#ifdef PROBE_strcpy
	strcpy(dst, src);
#endif
#ifdef PROBE_strcat
	strcat(dst, src);
#endif
#ifdef PROBE_strncpy
	strncpy(dst, src, n);
#endif
#ifdef PROBE_strncat
	strncat(dst, src, n);
#endif
#ifdef PROBE_sprintf
	sprintf(dst, "%s", src);
#endif
#ifdef PROBE_vsprintf
	vsprintf(dst, "%s", NULL);
#endif
#ifdef PROBE_strtok
	strtok(dst, src);
#endif
#ifdef PROBE_strtok_r
	{ char *save; strtok_r(dst, src, &save); }
#endif
#ifdef PROBE_gets
	gets(dst);
#endif
	return snprintf(dst, n, "%s", src);
}
