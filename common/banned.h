/*
 * banned.h: functions that must not appear in Assay's C.
 *
 * Include this last in every .c file, after all system headers (as git
 * does), so that a use of a banned function fails to compile with a name
 * that says why.  The replacements: snprintf (checked), memcpy with an
 * explicit bound, strtok_r is also refused: parse with explicit lengths.
 */
#ifndef ASSAY_BANNED_H
#define ASSAY_BANNED_H

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) BANNED(strncat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef strtok
#define strtok(x, y) BANNED(strtok)
#undef strtok_r
#define strtok_r(x, y, z) BANNED(strtok_r)
#undef gets
#define gets(x) BANNED(gets)

#endif
