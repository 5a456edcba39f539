#!/usr/bin/python3
"""Training speed: the trainer's U-Net in segloss beside the same network in PyTorch.

The network of train/net.h (width 16, 1 input channel, 4 classes: 3 objects and background),
batch 16, 64x64 images, the `ce` loss and AdamW (PyTorch's defaults: lr 1e-3, betas 0.9/0.999,
eps 1e-8, weight decay 1e-2). One training step: forward, loss, backward, optimiser step.

  1. correctness: `train_speed --save DIR` writes segloss's initial weights, images and labels
     and prints the losses of its first three steps; PyTorch loads the same weights and data,
     takes three steps with F.cross_entropy and torch.optim.AdamW, and its losses must agree
     (1e-4 relative), or the script exits 1 before any timing.
  2. timing: for each thread count T, segloss's train_speed (T OpenMP threads, OpenBLAS on one
     thread) and PyTorch (torch.set_num_threads(T), in a fresh process) each time --steps steps
     after three warm-up steps, --reps times, alternating; the best of the reps is kept for each
     (the machine may be shared: the best run is the one least disturbed). Printed: steps per
     second for both and the ratio segloss / PyTorch, with the CPU seconds per step of the
     runs kept, and the machine's load average.

Run from the repository root with Debian's python3-torch, after `make`:

    /usr/bin/python3 bench/train_peers.py --timer build/train_speed [--threads 1,2]
        [--steps 10] [--reps 3] [--json]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import checklib  # noqa: E402  (the U-Net in torch, shared with tests/check_train.py)

BATCH, SIZE, WIDTH, CLASSES = 16, 64, 16, 4


def torch_run(data_dir, threads, steps):
    """Runs in a fresh process: loads the data and weights, returns (first 3 losses, steps/s)."""
    import torch
    from torch import nn
    torch.set_num_threads(threads)
    model = checklib.torch_unet(1, CLASSES, WIDTH)
    checklib.load_flat(model, np.load(os.path.join(data_dir, "params0.npy")))
    x = torch.from_numpy(np.load(os.path.join(data_dir, "images.npy")))
    y = torch.from_numpy(np.load(os.path.join(data_dir, "labels.npy")).astype(np.int64))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8,
                            weight_decay=1e-2)

    def step():
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return float(loss)

    first = [step() for _ in range(3)]
    t0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        step()
    return first, steps / (time.perf_counter() - t0), time.process_time() - c0


def segloss_run(timer, threads, steps, save=None):
    argv = [timer, "--batch", BATCH, "--size", SIZE, "--width", WIDTH, "--classes", CLASSES,
            "--threads", threads, "--steps", steps]
    if save:
        argv += ["--save", save]
    p = subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True)
    if p.returncode != 0:
        sys.exit("train_peers: %s failed: %s" % (timer, p.stderr.strip()))
    return json.loads(p.stdout)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--timer", default="build/train_speed")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--torch-child", nargs=3, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.torch_child:
        first, sps, cpu = torch_run(a.torch_child[0], int(a.torch_child[1]),
                                    int(a.torch_child[2]))
        print(json.dumps({"first_losses": first, "steps_per_second": sps, "cpu_seconds": cpu}))
        return 0

    def torch_child(d, threads, steps):
        env = dict(os.environ, OMP_NUM_THREADS=str(threads))
        p = subprocess.run([sys.executable, __file__, "--torch-child", d, str(threads),
                            str(steps)], stdout=subprocess.PIPE, universal_newlines=True, env=env)
        if p.returncode != 0:
            sys.exit("train_peers: the PyTorch run failed")
        return json.loads(p.stdout)

    with tempfile.TemporaryDirectory(prefix="train_peers.") as d:
        ref = segloss_run(a.timer, 1, 1, save=d)
        tr = torch_child(d, 1, 1)
        bad = [i for i in range(3) if abs(ref["first_losses"][i] - tr["first_losses"][i])
               > 1e-4 * abs(tr["first_losses"][i])]
        print("check: the first three losses, segloss %s, PyTorch %s: %s" % (
            ["%.6f" % v for v in ref["first_losses"]],
            ["%.6f" % v for v in tr["first_losses"]], "agree" if not bad else "DIFFER"))
        if bad:
            return 1
        if not a.json:
            print("training steps per second, U-Net width %d, batch %d, %dx%d, %d classes, ce, "
                  "AdamW (best of %d runs of %d steps)" % (WIDTH, BATCH, SIZE, SIZE, CLASSES,
                                                          a.reps, a.steps))
            print("load average before: %.2f on %d cores" % (os.getloadavg()[0], os.cpu_count()))
            print("%-8s %12s %12s %8s   %s" % ("threads", "segloss", "pytorch", "ratio",
                                              "CPU s/step segloss, pytorch"))
        for t in [int(v) for v in a.threads.split(",")]:
            s_best = p_best = None
            for _ in range(a.reps):
                r = segloss_run(a.timer, t, a.steps)
                if s_best is None or r["steps_per_second"] > s_best["steps_per_second"]:
                    s_best = r
                r = torch_child(d, t, a.steps)
                if p_best is None or r["steps_per_second"] > p_best["steps_per_second"]:
                    p_best = r
            sv, pv = s_best["steps_per_second"], p_best["steps_per_second"]
            sc, pc = s_best["cpu_seconds"] / a.steps, p_best["cpu_seconds"] / a.steps
            if a.json:
                print(json.dumps({"threads": t, "segloss_steps_per_second": sv,
                                  "pytorch_steps_per_second": pv, "ratio": sv / pv,
                                  "segloss_cpu_seconds_per_step": sc,
                                  "pytorch_cpu_seconds_per_step": pc,
                                  "load_average": os.getloadavg()[0]}))
            else:
                print("%-8d %12.3f %12.3f %7.2fx   %.3f, %.3f" % (t, sv, pv, sv / pv, sc, pc))
        if not a.json:
            print("load average after: %.2f (a loaded machine makes the numbers noisy; the CPU "
                  "seconds per step are the steadier measure on one thread)" % os.getloadavg()[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
