/* A tiny test harness: CHECK counts, failures print file:line and a message, and
 * check_finish() prints "N passed, M failed" and gives the exit status. */
#ifndef SEGLOSS_CHECK_H
#define SEGLOSS_CHECK_H

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (cond) {                                                                            \
            check_passed++;                                                                    \
        } else {                                                                               \
            check_failed++;                                                                    \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                              \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fputc('\n', stderr);                                                               \
        }                                                                                      \
    } while (0)

/* |a - b| <= atol + rtol * |b|, and NaN only equals NaN. */
static inline int check_close(double a, double b, double atol, double rtol)
{
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return fabs(a - b) <= atol + rtol * fabs(b);
}

#define CHECK_CLOSE(a, b, atol, rtol, what)                                                    \
    CHECK(check_close((a), (b), (atol), (rtol)), "%s: got %.10g, want %.10g", (what),         \
          (double)(a), (double)(b))

/* Entries of a folder other than . and .. (-1 when it cannot be read): what a failed write
 * must not have left behind. */
static inline int check_count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) n++;
    closedir(d);
    return n;
}

static inline int check_finish(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
