/* segloss: the command-line program. Subcommands live in cli/cmd_*.c. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *summary;
} commands[] = {
    {"loss", cmd_loss, "evaluate a loss spec on .npy input and target; value, gradient, map"},
    {"list", cmd_list, "every loss with its parameters, defaults and a description"},
    {"demo", cmd_demo, "the post's experiment: standard vs custom loss with missing annotations"},
    {"play", cmd_play, "which loss notices which mistake: losses against controlled mistakes"},
    {"metrics", cmd_metrics, "Dice, IoU, HD95 and ASSD per image and class"},
    {"draw", cmd_draw, "rasterise an ellipse, polygon or disk as scikit-image does"},
    {"masks", cmd_masks, "the post's synthetic masks (genMasks), labels, one-hot, picture"},
    {"predict", cmd_predict, "simulated typical model predictions for a label map"},
    {"drop", cmd_drop, "drop k annotations (objects set to background) from a label map"},
    {"bench", cmd_bench, "time value + gradient against the memory floor, beside a check"},
    {"images", cmd_images,
     "grey images of the post's objects with clutter and noise, for training"},
    {"train", cmd_train, "train a small U-Net with any loss spec; held-out Dice and IoU, model"},
    {"infer", cmd_infer, "run a trained model on images: class probabilities"},
    {"compare", cmd_compare,
     "the post's claim: losses trained at several missing-annotation rates"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: segloss COMMAND [options]   (segloss COMMAND --help for its options)\n");
    fprintf(f, "       segloss --version\n\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("segloss %s\n", sl_version());
        return CLI_OK;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            int rc = commands[i].fn(argc - 1, argv + 1);
            return rc == CLI_HELP ? CLI_OK : rc;
        }
    }
    fprintf(stderr, "segloss: unknown command '%s' (try segloss --help)\n", argv[1]);
    return CLI_USAGE;
}
