/* PLACEHOLDER: being written; replaced whole by its owner. */
#include "cli.h"

int cmd_metrics(int argc, char **argv)
{
    (void)argc;
    return cli_fail(argv[0], CLI_USAGE, "not built yet");
}
