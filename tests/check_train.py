#!/usr/bin/python3
"""The trainer's network against PyTorch: same weights -> same logits, gradients and AdamW steps.

`test_train --dump DIR` builds a small network (1 input channel, 4 classes, width 4, images
16x12, batch 3) with nonzero biases, runs forward, backward with the gradient dlogits of the
loss L = sum(logits * dlogits), and an AdamW step (lr 0.01, weight decay 0.05), twice, and writes
each stage as .npy. Here the same U-Net is written with torch.nn layers (Conv2d, ReLU, MaxPool2d,
ConvTranspose2d, torch.cat, a 1x1 Conv2d), loaded with the same weights, and driven with the same
loss and torch.optim.AdamW; every stage must agree to float32 rounding.

Run with /usr/bin/python3 (Debian's python3-torch). The binary is $BUILD/tests/test_train (BUILD
defaults to build). Last line: `check_train: N passed, M failed`; exit 1 when anything failed.
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import checklib  # noqa: E402
from checklib import check  # noqa: E402

BUILD = os.environ.get("BUILD", "build")
BIN = os.path.join(BUILD, "tests", "test_train")


def flat_grads(model):
    return torch.cat([p.grad.reshape(-1) for p in model.parameters()]).numpy()


def main():
    torch.set_num_threads(1)
    with checklib.temp_dir("check_train") as d:
        rc, out, err = checklib.run_program([BIN, "--dump", d])
        check(rc == 0, "test_train --dump failed: %s" % err.strip())
        if rc != 0:
            return checklib.summary("check_train")
        a = {n[:-4]: np.load(os.path.join(d, n)) for n in os.listdir(d) if n.endswith(".npy")}
    model = checklib.torch_unet(1, 4, 4)
    params = list(model.parameters())
    total = sum(p.numel() for p in params)
    check(total == a["params0"].size, "parameter count %d, segloss has %d" %
          (total, a["params0"].size))
    checklib.load_flat(model, a["params0"])
    # the C side used lr and weight decay as float32
    opt = torch.optim.AdamW(model.parameters(), lr=float(np.float32(0.01)), betas=(0.9, 0.999),
                            eps=1e-8, weight_decay=float(np.float32(0.05)))
    x = torch.from_numpy(a["images"])
    r = torch.from_numpy(a["dlogits"])
    for s in (1, 2):
        opt.zero_grad()
        logits = model(x)
        (logits * r).sum().backward()
        lg = logits.detach().numpy()
        err = np.abs(lg - a["logits%d" % s]).max() / np.abs(lg).max()
        check(err < 1e-5, "step %d: logits differ from PyTorch's by %.3g (relative to the largest)"
              % (s, err))
        g = flat_grads(model)
        off = 0
        for i, p in enumerate(params):
            n = p.numel()
            gi, ci = g[off:off + n], a["grads%d" % s][off:off + n]
            e = np.abs(gi - ci).max() / max(np.abs(gi).max(), 1e-30)
            check(e < 1e-4, "step %d: gradient of parameter %d (%s) differs by %.3g relative"
                  % (s, i, tuple(p.shape), e))
            off += n
        opt.step()
        pt = torch.cat([p.detach().reshape(-1) for p in params]).numpy()
        # AdamW moves each weight by about lr (0.01): the weights must agree to a thousandth of it
        e = np.abs(pt - a["params%d" % s])
        print("step %d: weights after AdamW: largest difference %.3g" % (s, e.max()))
        check(e.max() < 1e-5,
              "step %d: weights after AdamW differ by up to %.3g (%d entries above 1e-5)"
              % (s, e.max(), int(np.sum(e > 1e-5))))
    return checklib.summary("check_train")


if __name__ == "__main__":
    sys.exit(main())
