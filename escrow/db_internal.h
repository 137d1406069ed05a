/*
 * db_internal.h: what db.c lends the other files of the escrow's SQL
 * (db_*.c, one per group of statements): the statement runner and the
 * parameter and column helpers.  Nothing outside escrow/db*.c includes it.
 */
#ifndef ASSAY_ESCROW_DB_INTERNAL_H
#define ASSAY_ESCROW_DB_INTERNAL_H

#include <libpq-fe.h>

#include "escrow.h"

/* Text size of a bytea parameter of n bytes: "\x" + 2n hex + NUL. */
#define ESCROW_DBI_HEXP(n) (2 + 2 * (n) + 1)

/* One statement (sql a literal: prepared once per session under its
 * address); *out (may be NULL) gets the result to PQclear. */
enum escrow_db_err escrow_dbi_run(struct escrow_db *db, PGresult **out, const char *what,
				  const char *sql, int n, const char *const *params);
/* b as a bytea parameter ("\x..."); out_len >= ESCROW_DBI_HEXP(n). */
void escrow_dbi_hexp(char *out, size_t out_len, const uint8_t *b, size_t n);
/* A bytea column of exactly n bytes; -1 otherwise (NULL included). */
int escrow_dbi_bytes(uint8_t *out, size_t n, const PGresult *res, int row, int col);
/* A bigint column; 0 when NULL. */
uint64_t escrow_dbi_u64(const PGresult *res, int row, int col);
/* Rows an UPDATE, INSERT or DELETE touched. */
int escrow_dbi_affected(PGresult *res);

#endif
