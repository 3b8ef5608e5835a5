/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Minimal assertions for the C unit tests: report every failure, count them. */
#ifndef VS_CHECK_H
#define VS_CHECK_H
#include <stdio.h>
static int failures;
#define CHECK(cond) do { if (!(cond)) { failures++; \
	fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); } } while (0)
#define CHECK_EQ(a, b) do { unsigned long long _a = (a), _b = (b); if (_a != _b) { failures++; \
	fprintf(stderr, "%s:%d: %s == %llu, expected %s == %llu\n", __FILE__, __LINE__, #a, _a, #b, _b); } } while (0)
#endif
