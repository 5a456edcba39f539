#!/usr/bin/python3
"""Train a small PyTorch network on the post's data, where half of the object annotations are
missing from the training labels (the object is labelled background), once with the standard
cross-entropy and once with the post's loss, missing_ce; print the IoU of each on held-out
images whose labels are complete.

    make && PYTHONPATH=python /usr/bin/python3 examples/train_torch.py [--steps 300]

The images: the post's masks (ellipse, square, circle) painted in a colour per object on a grey
background, with Gaussian noise. The standard loss learns that a missing object is
background; missing_ce does not punish a pixel predicted as a class the image's labels do not
annotate, so the network keeps finding every object.
"""
import argparse
import time

import numpy as np
import torch

import segloss
import segloss.torch as st

COLOURS = np.array([[0.5, 0.5, 0.5], [0.9, 0.2, 0.2], [0.2, 0.8, 0.3], [0.25, 0.35, 0.95]])
NAMES = ["background", "ellipse", "square", "circle"]


def make_images(labels, rng):
    """RGB images [n, 3, h, w]: each class's colour plus noise."""
    img = COLOURS[labels].transpose(0, 3, 1, 2)
    return (img + rng.normal(0, 0.25, img.shape)).astype(np.float32)


def network():
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 16, 3, padding=2, dilation=2), torch.nn.ReLU(),
        torch.nn.Conv2d(16, 4, 1),
    )


def train(spec, x, y, steps, seed, batch=16):
    torch.manual_seed(seed)
    net = network()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    crit = st.SegLoss(spec)
    g = torch.Generator().manual_seed(seed)
    for step in range(steps):
        idx = torch.randint(0, x.shape[0], (batch,), generator=g)
        opt.zero_grad()
        loss = crit(net(x[idx]), y[idx])
        loss.backward()
        opt.step()
    return net, loss.item()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--train", type=int, default=64, help="training images")
    ap.add_argument("--test", type=int, default=32, help="held-out images")
    ap.add_argument("--size", type=int, default=48, help="image height and width")
    ap.add_argument("--missing", type=float, default=0.5, help="fraction of objects dropped")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    torch.set_num_threads(1)
    rng = segloss.Rng(a.seed)
    n = a.train + a.test
    labels = segloss.labels_from_masks(segloss.masks(n, a.size, a.size, rng=rng))
    images = make_images(labels, np.random.RandomState(a.seed))
    train_y, test_y = labels[:a.train], labels[a.train:]
    objects = sum(len(set(np.unique(l)) - {0}) for l in train_y)
    k = int(a.missing * objects)
    train_missing, _ = segloss.drop_annotations(train_y, k, rng=rng)
    print("segloss %s (%s): %d training images of %dx%d with %d of their %d objects unlabelled, "
          "%d held-out images" % (segloss.__version__, segloss.isa(), a.train, a.size, a.size,
                                  k, objects, a.test))
    x = torch.from_numpy(images[:a.train])
    y = torch.from_numpy(train_missing.astype(np.int64))
    xt = torch.from_numpy(images[a.train:])
    print("%-12s %10s %8s  %s" % ("loss", "final", "time", "held-out IoU: " + ", ".join(NAMES[1:]) + ", mean"))
    for spec in ("ce", "missing_ce"):
        t0 = time.time()
        net, last = train(spec, x, y, a.steps, a.seed)
        with torch.no_grad():
            pred = net(xt).argmax(1).numpy()
        iou = segloss.metrics(pred, test_y, num_classes=4)["iou"]
        per_class = np.nanmean(iou, axis=0)[1:]
        print("%-12s %10.4f %7.1fs  %s  %.3f" % (spec, last, time.time() - t0,
                                                ", ".join("%.3f" % v for v in per_class),
                                                per_class.mean()))


if __name__ == "__main__":
    main()
