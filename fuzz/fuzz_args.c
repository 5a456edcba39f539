/* libFuzzer harness: the CLI's option and number parsing (cli/util.c) on arbitrary arguments.
 * The input is split at NUL bytes into argv; cli_parse runs on a subcommand's options, then
 * every valued option goes through the parsers the subcommands use. Refusals print one line on
 * stderr (the run's log); crashes, sanitizer reports and hangs are what is looked for. */
#include "cli.h"
#include "fuzz.h"

#include <string.h>

#define MAX_ARGS 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = fuzz_text(data, size, 2048);
    if (!buf) return 0;
    char *argv[MAX_ARGS + 1];
    int argc = 0;
    argv[argc++] = (char *)"fuzz";
    for (size_t i = 0; i < size && argc < MAX_ARGS;) {
        argv[argc++] = buf + i;
        i += strlen(buf + i) + 1;
    }
    argv[argc] = NULL;
    const char *a = NULL, *b = NULL, *c = NULL, *d = NULL;
    int flag = 0;
    cli_opt opts[] = {
        {"int", 1, &a, NULL},  {"num", 1, &b, NULL},     {"list", 1, &c, NULL},
        {"size", 1, &d, NULL}, {"json", 0, NULL, &flag},
    };
    const char *pos[2];
    int npos;
    if (cli_parse("fuzz", "usage: fuzz\n", argc, argv, opts, 5, pos, 2, &npos) == CLI_OK) {
        int64_t i64, h, w;
        double v, list[8];
        int count;
        if (a) cli_int("fuzz", "int", a, -1000, 1000, &i64);
        if (b) cli_double("fuzz", "num", b, &v);
        if (c) cli_doubles("fuzz", "list", c, 0, 8, list, &count);
        if (c) cli_doubles("fuzz", "list", c, 3, 3, list, &count);
        if (d) cli_size2("fuzz", "size", d, 65536, &h, &w);
    }
    free(buf);
    return 0;
}
