/* Shared by the libFuzzer harnesses: the invariants every parser of untrusted input keeps. */
#ifndef SEGLOSS_FUZZ_H
#define SEGLOSS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input as a NUL-terminated string (malloc'd), or NULL when it is longer than max bytes or
 * memory runs out: the text harnesses skip such an input. */
static inline char *fuzz_text(const uint8_t *data, size_t size, size_t max)
{
    char *text = size <= max ? malloc(size + 1) : NULL;
    if (!text) return NULL;
    memcpy(text, data, size);
    text[size] = 0;
    return text;
}

/* An error message is one line of printable text: no control character, whatever the input. */
static inline void fuzz_one_line(const char *msg)
{
    for (const unsigned char *p = (const unsigned char *)msg; *p; p++)
        if (*p < 0x20 || *p == 0x7f) abort();
    if (!msg[0]) abort(); /* and never empty */
}

#endif
