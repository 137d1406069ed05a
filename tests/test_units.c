/*
 * test_units.c: what `make install` ships beside the programs: the
 * daemons' systemd units (contrib/systemd, made by scripts/units.sh) and
 * the man pages (man/).
 *
 * - every hardening setting docs/operations.md promises is in each unit,
 *   with exactly that value, once (a table written here, not read from
 *   hardening.conf);
 * - every flag a unit's ExecStart passes is one the daemon takes (its
 *   own usage text says so);
 * - systemd-analyze (Debian's systemd, an independent reader) verifies
 *   each unit and rates its exposure at most 2.5 of 10;
 * - every flag in a daemon's --help, and every command of `assay
 *   --help`, is in its man page, and groff reads each page without a
 *   warning.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"

#include "banned.h"

static char dir[4096];

static void setup(void)
{
	tu_tmpdir(dir, sizeof(dir));
}

static void teardown(void)
{
	tu_rmtree(dir);
}

TestSuite(units, .init = setup, .fini = teardown, .timeout = 120);

static const char *const daemons[] = { "assay-escrow", "assay-provider", "assay-validator" };

/* The units, made with the build's bin/ as BINDIR, into dir/units. */
static void make_units(void)
{
	char script[4096], out[4200], bindir[4096];
	struct tu_run r;

	tu_src(script, sizeof(script), "scripts/units.sh");
	snprintf(out, sizeof(out), "%s/units", dir);
	snprintf(bindir, sizeof(bindir), "%s/bin", getenv("ASSAY_BUILD"));
	{
		const char *argv[] = { script, bindir, out, NULL };
		tu_run(&r, argv);
	}
	cr_assert_eq(r.status, 0, "units.sh: %s", r.err);
	tu_run_free(&r);
}

/* A whole file as a string (tu_read_file's bytes end with no NUL). */
static char *read_text(const char *path)
{
	uint8_t *buf;
	size_t len;
	char *text;

	tu_read_file(path, &buf, &len);
	text = malloc(len + 1);
	cr_assert_not_null(text);
	memcpy(text, buf, len);
	text[len] = '\0';
	free(buf);
	return text;
}

static char *read_unit(const char *daemon)
{
	char path[4400];

	snprintf(path, sizeof(path), "%s/units/%s.service", dir, daemon);
	return read_text(path);
}

/* How many lines of `unit` are exactly "key=value". */
static int count_setting(const char *unit, const char *key, const char *value)
{
	char want[512];
	const char *p = unit;
	int n = 0;
	size_t wl;

	snprintf(want, sizeof(want), "%s=%s", key, value);
	wl = strlen(want);
	while (p && *p) {
		const char *eol = strchr(p, '\n');
		size_t ll = eol ? (size_t)(eol - p) : strlen(p);

		if (ll == wl && memcmp(p, want, wl) == 0)
			n++;
		p = eol ? eol + 1 : NULL;
	}
	return n;
}

/* How many lines of `unit` set `key` at all. */
static int count_key(const char *unit, const char *key)
{
	char want[256];
	const char *p = unit;
	int n = 0;

	snprintf(want, sizeof(want), "%s=", key);
	while (p && *p) {
		if (strncmp(p, want, strlen(want)) == 0)
			n++;
		p = strchr(p, '\n');
		if (p)
			p++;
	}
	return n;
}

/* The hardening docs/operations.md promises, setting by setting. */
static const struct {
	const char *key, *value;
} hardening[] = {
	{ "DynamicUser", "yes" },
	{ "UMask", "0077" },
	{ "NoNewPrivileges", "yes" },
	{ "CapabilityBoundingSet", "" },
	{ "AmbientCapabilities", "" },
	{ "ProtectSystem", "strict" },
	{ "ProtectHome", "yes" },
	{ "PrivateTmp", "yes" },
	{ "PrivateDevices", "yes" },
	{ "PrivateMounts", "yes" },
	{ "ProtectKernelTunables", "yes" },
	{ "ProtectKernelModules", "yes" },
	{ "ProtectKernelLogs", "yes" },
	{ "ProtectControlGroups", "yes" },
	{ "ProtectClock", "yes" },
	{ "ProtectHostname", "yes" },
	{ "ProtectProc", "invisible" },
	{ "ProcSubset", "pid" },
	{ "RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6" },
	{ "RestrictRealtime", "yes" },
	{ "RestrictSUIDSGID", "yes" },
	{ "LockPersonality", "yes" },
	{ "RemoveIPC", "yes" },
	{ "MemoryDenyWriteExecute", "yes" },
	{ "SystemCallArchitectures", "native" },
	{ "SystemCallFilter", "@system-service @mount seccomp landlock_create_ruleset "
			      "landlock_add_rule landlock_restrict_self" },
	{ "SystemCallErrorNumber", "EPERM" },
	{ "RestrictNamespaces", "user mnt pid ipc uts net" },
	{ "LimitCORE", "0" },
};

Test(units, every_hardening_setting_once_with_its_value)
{
	make_units();
	for (size_t d = 0; d < sizeof(daemons) / sizeof(daemons[0]); d++) {
		char *u = read_unit(daemons[d]);

		for (size_t i = 0; i < sizeof(hardening) / sizeof(hardening[0]); i++) {
			cr_expect_eq(count_setting(u, hardening[i].key, hardening[i].value), 1,
				     "%s: want exactly one '%s=%s'", daemons[d], hardening[i].key,
				     hardening[i].value);
			cr_expect_eq(count_key(u, hardening[i].key), 1,
				     "%s: '%s' set more than once", daemons[d], hardening[i].key);
		}
		/* A key never reaches the command line or the environment: it
		 * is a credential. */
		cr_expect(strstr(u, "LoadCredential=") != NULL, "%s: no credential", daemons[d]);
		cr_expect(strstr(u, "@BINDIR@") == NULL && strstr(u, "@HARDENING@") == NULL);
		free(u);
	}
}

/* Whether `needle` occurs in `hay` not followed by a letter or '-' (so
 * that "--data" is not found in "--data-dir"; a roff "\-" counts as '-'). */
static int has_flag(const char *hay, const char *needle)
{
	size_t n = strlen(needle);

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle)) {
		char c = p[n];

		if (!(c >= 'a' && c <= 'z') && c != '-' && c != '\\')
			return 1;
	}
	return 0;
}

/* The daemon's own usage text: --help, which exits 0 with it on stdout. */
static char *usage_of(const char *daemon)
{
	char bin[4200];
	struct tu_run r;
	char *text;

	snprintf(bin, sizeof(bin), "%s/bin/%s", getenv("ASSAY_BUILD"), daemon);
	{
		const char *argv[] = { bin, "--help", NULL };
		tu_run(&r, argv);
	}
	cr_assert(asprintf(&text, "%s%s", r.out, r.err) > 0);
	cr_expect_eq(r.status, 0, "%s --help exits %d", daemon, r.status);
	cr_expect(strstr(r.out, "usage:") != NULL, "%s --help: the usage is not on stdout", daemon);
	tu_run_free(&r);
	cr_assert(strstr(text, "usage:") != NULL, "%s printed no usage", daemon);
	return text;
}

Test(units, exec_start_passes_only_real_flags)
{
	make_units();
	for (size_t d = 0; d < sizeof(daemons) / sizeof(daemons[0]); d++) {
		char *u = read_unit(daemons[d]), *usage = usage_of(daemons[d]);
		char *line = strstr(u, "\nExecStart=");
		char *eol, *p;
		int flags = 0;

		cr_assert_not_null(line, "%s: no ExecStart", daemons[d]);
		eol = strchr(line + 1, '\n');
		cr_assert_not_null(eol);
		*eol = '\0';
		for (p = strstr(line, " --"); p; p = strstr(p + 1, " --")) {
			char flag[64];
			size_t n = strcspn(p + 1, " ");

			cr_assert(n < sizeof(flag));
			memcpy(flag, p + 1, n);
			flag[n] = '\0';
			cr_expect(has_flag(usage, flag), "%s: ExecStart passes %s, not in its usage",
				  daemons[d], flag);
			flags++;
		}
		cr_expect(flags >= 1, "%s: ExecStart passes no flag", daemons[d]);
		free(usage);
		free(u);
	}
}

Test(units, systemd_analyze_verifies_and_rates_each_unit)
{
	const char *sa = "/usr/bin/systemd-analyze";

	cr_assert_eq(access(sa, X_OK), 0, "%s is missing (scripts/deps.sh installs systemd)", sa);
	make_units();
	for (size_t d = 0; d < sizeof(daemons) / sizeof(daemons[0]); d++) {
		char unit[4400];
		struct tu_run r;

		snprintf(unit, sizeof(unit), "%s/units/%s.service", dir, daemons[d]);
		{
			/* --man=no: the pages are groff's to check (below),
			 * and man(1) need not be installed. */
			const char *argv[] = { sa, "verify", "--man=no", unit, NULL };
			tu_run(&r, argv);
		}
		cr_expect_eq(r.status, 0, "systemd-analyze verify %s: %s%s", daemons[d], r.out, r.err);
		tu_run_free(&r);
		{
			const char *argv[] = { sa, "security", "--offline=true", "--threshold=25",
					       "--no-pager", unit, NULL };
			tu_run(&r, argv);
		}
		cr_expect_eq(r.status, 0, "%s: exposure over 2.5:\n%s", daemons[d],
			     strstr(r.out, "Overall") ? strstr(r.out, "Overall") : r.out);
		tu_run_free(&r);
	}
}

/* Every "--flag" of `usage` (from its "usage:" on) is in the man page,
 * as roff writes it (\-\-flag). */
static void flags_in_page(const char *usage, const char *page, const char *name)
{
	const char *from = strstr(usage, "usage:");

	cr_assert_not_null(from);
	for (const char *p = strstr(from, "--"); p; p = strstr(p + 2, "--")) {
		char flag[64], roff[160];
		size_t n = 2 + strspn(p + 2, "abcdefghijklmnopqrstuvwxyz-"), k = 0;

		if (n <= 2 || n >= sizeof(flag))
			continue;
		memcpy(flag, p, n);
		flag[n] = '\0';
		for (size_t i = 0; i < n; i++) {
			if (flag[i] == '-')
				roff[k++] = '\\';
			roff[k++] = flag[i];
		}
		roff[k] = '\0';
		cr_expect(has_flag(page, roff), "%s's man page lacks %s", name, flag);
	}
}

/* Whether a bold macro line (.B, .BI, .BR) of `page` begins with `word`. */
__attribute__((noinline)) static int page_has_command(const char *page, const char *word)
{
	size_t wl = strlen(word);

	for (const char *p = strstr(page, "\n.B"); p; p = strstr(p + 1, "\n.B")) {
		const char *q = p + 3;

		q += strspn(q, "BIR");
		q += strspn(q, " ");
		if (*q == '"')
			q++;
		if (strncmp(q, word, wl) == 0 && strchr(" \"\n", q[wl]))
			return 1;
	}
	return 0;
}

static char *read_page(const char *file)
{
	char path[4096];

	tu_src(path, sizeof(path), file);
	return read_text(path);
}

Test(units, man_pages_name_every_flag_and_command)
{
	static const char *const pages[] = { "man/assay-escrow.8", "man/assay-provider.8",
					      "man/assay-validator.8" };
	char bin[4200];
	struct tu_run r;
	char *page;

	for (size_t d = 0; d < sizeof(daemons) / sizeof(daemons[0]); d++) {
		char *usage = usage_of(daemons[d]);

		page = read_page(pages[d]);
		flags_in_page(usage, page, daemons[d]);
		free(page);
		free(usage);
	}
	snprintf(bin, sizeof(bin), "%s/bin/assay", getenv("ASSAY_BUILD"));
	{
		const char *argv[] = { bin, "--help", NULL };
		tu_run(&r, argv);
	}
	page = read_page("man/assay.1");
	/* Each command: the first word of each "  word ..." line. */
	for (char *p = r.out; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		char word[32];
		size_t n;

		if (strncmp(p, "  ", 2) != 0 || p[2] == ' ')
			continue;
		n = strspn(p + 2, "abcdefghijklmnopqrstuvwxyz");
		if (n == 0 || n >= sizeof(word))
			continue;
		memcpy(word, p + 2, n);
		word[n] = '\0';
		cr_expect(page_has_command(page, word), "assay.1 lacks the command '%s'", word);
	}
	free(page);
	tu_run_free(&r);
}

Test(units, groff_reads_every_page_without_a_warning)
{
	static const char *const pages[] = { "man/assay.1", "man/assay-sim.1",
					      "man/assay-escrow.8", "man/assay-provider.8",
					      "man/assay-validator.8", "man/assay-worker.8" };
	const char *groff = "/usr/bin/groff";

	cr_assert_eq(access(groff, X_OK), 0, "%s is missing (scripts/deps.sh installs groff-base)",
		     groff);
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		char path[4096];
		struct tu_run r;

		tu_src(path, sizeof(path), pages[i]);
		{
			const char *argv[] = { groff, "-man", "-ww", "-z", path, NULL };
			tu_run(&r, argv);
		}
		cr_expect_eq(r.status, 0, "%s", pages[i]);
		cr_expect_str_eq(r.err, "", "groff on %s: %s", pages[i], r.err);
		tu_run_free(&r);
	}
}
