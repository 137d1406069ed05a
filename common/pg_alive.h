/*
 * pg_alive.h: whether an idle libpq connection still has its server.
 *
 * A connection whose server went away (a restart, pg_terminate_backend)
 * says CONNECTION_OK until it reads.  The server's goodbye ("FATAL:
 * terminating connection") and the end of the stream wait in the socket:
 * the first PQconsumeInput reads the message, a second one meets the end
 * and marks the connection bad.  Neither waits (libpq's socket is
 * non-blocking).  Called before a session is used, so that a dead one is
 * reset there rather than failing the first statement of a request.
 */
#ifndef ASSAY_PG_ALIVE_H
#define ASSAY_PG_ALIVE_H

#include <libpq-fe.h>

static inline int assay_pg_alive(PGconn *c)
{
	int i;

	if (!c || PQstatus(c) != CONNECTION_OK)
		return 0;
	if (PQtransactionStatus(c) != PQTRANS_IDLE)
		return 1;   /* in a transaction: its statements will tell */
	for (i = 0; i < 3 && PQstatus(c) == CONNECTION_OK; i++)
		if (!PQconsumeInput(c))
			break;
	return PQstatus(c) == CONNECTION_OK;
}

#endif
