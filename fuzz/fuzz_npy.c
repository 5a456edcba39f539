/* libFuzzer harness: the .npy reader (sl_npy_parse) on arbitrary bytes. A file it refuses gets
 * one printable line; a file it accepts is written back (sl_npy_write_fd) and must read again
 * to the same dtype, shape and bytes. */
#include "fuzz.h"
#include "segloss_data.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *scratch; /* one temporary file for the whole run, emptied each time */
    sl_array a;
    sl_error err;
    if (sl_npy_parse(data, size, &a, &err) != SL_OK) {
        fuzz_one_line(err.msg);
        return 0;
    }
    if (!scratch) scratch = tmpfile();
    int fd = scratch ? fileno(scratch) : -1;
    if (fd >= 0 && ftruncate(fd, 0) == 0 && lseek(fd, 0, SEEK_SET) == 0 &&
        sl_npy_write_fd(fd, &a, &err) == SL_OK) {
        off_t len = lseek(fd, 0, SEEK_CUR);
        unsigned char *buf = malloc(len > 0 ? (size_t)len : 1);
        if (buf && len > 0 && pread(fd, buf, (size_t)len, 0) == len) {
            sl_array b;
            if (sl_npy_parse(buf, (size_t)len, &b, &err) != SL_OK) abort();
            if (b.dtype != a.dtype || b.ndim != a.ndim) abort();
            for (int i = 0; i < a.ndim; i++)
                if (b.shape[i] != a.shape[i]) abort();
            size_t bytes = (size_t)sl_array_numel(&a) * sl_dtype_size(a.dtype);
            if (bytes && memcmp(a.data, b.data, bytes) != 0) abort();
            sl_array_free(&b);
        }
        free(buf);
    }
    sl_array_free(&a);
    return 0;
}
