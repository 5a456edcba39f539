"""The numpy API against PyTorch and numpy, dtype conversions, and bad input."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import segloss


def rng(seed=0):
    return np.random.RandomState(seed)


def close(a, b, rtol=2e-5, atol=1e-6):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    scale = max(np.abs(b).max(initial=0.0), 1e-3)
    return np.allclose(a, b, rtol=rtol, atol=atol * scale)


def torch_ce(x, y, **kw):
    xt = torch.tensor(np.asarray(x, np.float32), dtype=torch.float64, requires_grad=True)
    v = F.cross_entropy(xt, torch.tensor(y, dtype=torch.int64), **kw)
    v.backward()
    return v.item(), xt.grad.numpy()


@pytest.mark.parametrize("kw,spec", [
    ({}, "ce"),
    ({"weight": [0.2, 1.0, 3.0]}, "ce(weight=[0.2,1,3])"),
    ({"ignore_index": 2}, "ce(ignore_index=2)"),
    ({"label_smoothing": 0.1}, "ce(label_smoothing=0.1)"),
    ({"reduction": "sum"}, "ce(reduction=sum)"),
])
def test_ce_against_torch(kw, spec):
    r = rng(1)
    x = r.normal(0, 2, (3, 3, 7, 5)).astype(np.float32)
    y = r.randint(0, 3, (3, 7, 5))
    tk = dict(kw)
    if "weight" in tk:
        tk["weight"] = torch.tensor(tk["weight"], dtype=torch.float64)
    want, gwant = torch_ce(x, y, **tk)
    got, g = segloss.loss(spec, x, y, grad=True)
    assert close(got, want) and close(g, gwant)
    assert g.dtype == np.float32 and g.shape == x.shape


def test_dtypes_are_converted():
    r = rng(2)
    x = r.normal(0, 1, (2, 4, 6, 6))
    y = r.randint(0, 4, (2, 6, 6))
    base = segloss.loss("ce", x.astype(np.float32), y.astype(np.int32))
    assert segloss.loss("ce", x, y.astype(np.int64)) == base  # float64, int64
    assert segloss.loss("ce", x, y.astype(np.uint8)) == base
    assert segloss.loss("ce", x, y.astype(np.float64)) == base  # whole-number float labels
    half = x.astype(np.float16)
    assert close(segloss.loss("ce", half, y), segloss.loss("ce", half.astype(np.float32), y))
    # non-contiguous: a transposed view
    xt = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    assert not xt.flags.c_contiguous
    assert segloss.loss("ce", xt, y) == base
    # bool annotation matrix, int annotation matrix
    ann = np.ones((2, 4), dtype=bool)
    ann[0, 2] = False
    a = segloss.loss("missing_ce", x, y, annotated=ann)
    assert a == segloss.loss("missing_ce", x, y, annotated=ann.astype(np.int64))
    # one-hot target of any dtype as a per-class target
    onehot = np.eye(4, dtype=np.int64)[y].transpose(0, 3, 1, 2)
    assert close(segloss.loss("ce", x, onehot), base)


def test_loss_map_and_grad_shapes():
    r = rng(3)
    x = r.normal(0, 1, (2, 3, 5, 4)).astype(np.float32)
    y = r.randint(0, 3, (2, 5, 4))
    assert segloss.loss_map("ce", x, y).shape == (2, 5, 4)
    assert segloss.loss_map("dice", x, y).shape == (2, 3)
    assert segloss.loss_map("dice(include_background=false)", x, y).shape == (2, 2)
    assert segloss.loss_map("bce", x, y).shape == (2, 3, 5, 4)
    m = segloss.loss_map("ce", x, y)
    assert close(m.mean(), segloss.loss("ce", x, y))
    v, g = segloss.loss("dice + ce", x, y, grad=True)
    assert close(v, segloss.loss("dice", x, y) + segloss.loss("ce", x, y))
    # 3-d volumes and 1-d signals
    assert segloss.loss_map("ce", r.normal(0, 1, (1, 2, 3, 4, 5)), r.randint(0, 2, (1, 3, 4, 5))).shape == (1, 3, 4, 5)
    assert np.isfinite(segloss.loss("ce", r.normal(0, 1, (2, 2, 9)), r.randint(0, 2, (2, 9))))


def test_losses_lists_the_registry():
    ls = segloss.losses()
    names = [l["name"] for l in ls]
    for n in ("ce", "dice", "missing_ce", "lovasz", "generalized_dice"):
        assert n in names
    ce = ls[names.index("ce")]
    params = {p["key"]: p for p in ce["params"]}
    assert params["ignore_index"]["default"] == "-100"
    assert params["reduction"]["words"] == ["mean", "sum", "none"]
    assert ce["map"] == "pixel"
    assert len(set(names)) == len(names)


def test_metrics_against_numpy():
    r = rng(4)
    p = r.randint(0, 3, (2, 16, 16))
    t = r.randint(0, 3, (2, 16, 16))
    m = segloss.metrics(p, t)
    for n in range(2):
        for c in range(3):
            inter = np.sum((p[n] == c) & (t[n] == c))
            d = 2 * inter / (np.sum(p[n] == c) + np.sum(t[n] == c))
            iou = inter / np.sum((p[n] == c) | (t[n] == c))
            assert close(m["dice"][n, c], d) and close(m["iou"][n, c], iou)
    assert m["hd95"].shape == (2, 3)


def test_metrics_options():
    r = rng(5)
    p = r.randint(0, 3, (2, 16, 16))
    t = r.randint(0, 3, (2, 16, 16))
    t[:, :4, :] = 255  # ignored rows: in neither mask
    m = segloss.metrics(p, t, include_background=False, ignore_index=255)
    assert m["dice"].shape == (2, 3) and np.all(np.isnan(m["dice"][:, 0]))
    keep = t != 255
    for n in range(2):
        for c in (1, 2):
            pc, tc = (p[n] == c) & keep[n], (t[n] == c)
            d = 2 * np.sum(pc & tc) / (np.sum(pc) + np.sum(tc))
            assert close(m["dice"][n, c], d)
    # without ignore_index, 255 is a class: 256 columns, and the ignored rows count for it
    assert segloss.metrics(p, t)["dice"].shape == (2, 256)


def test_post_data():
    m = segloss.masks(3, 64, 64, rng=0)
    assert m.shape == (3, 3, 64, 64) and m.dtype == np.uint8
    y = segloss.labels_from_masks(m)
    assert set(np.unique(y)) <= {0, 1, 2, 3}
    assert np.array_equal(segloss.masks(3, 64, 64, rng=0), m)  # the same seed, the same masks
    y2, dropped = segloss.drop_annotations(y, 2, rng=1)
    assert dropped.shape == (2, 2)
    for n, c in dropped:
        assert not np.any(y2[n] == c) and np.any(y[n] == c)
    p = segloss.simulate_predictions(y, rng=2)
    assert p.shape == (3, 4, 64, 64) and np.allclose(p.sum(axis=1), 1, atol=1e-5)
    disk = segloss.draw_disk((20, 20), 10, 10, 5)
    rr, cc = np.mgrid[:20, :20]
    assert np.array_equal(disk, ((rr - 10) ** 2 + (cc - 10) ** 2 < 25).astype(np.uint8))
    e = segloss.draw_ellipse((20, 30), 10, 15, 4, 8)
    assert e.sum() > 0 and segloss.draw_polygon((10, 10), [1, 1, 8, 8], [1, 8, 8, 1]).sum() > 0


@pytest.mark.parametrize("call,msg", [
    (lambda x, y: segloss.loss("lovsz", x, y), "unknown loss 'lovsz'"),
    (lambda x, y: segloss.loss("ce(foo=1)", x, y), "foo"),
    (lambda x, y: segloss.loss("ce", x, y + 7), "is out of range [0, 3)"),
    (lambda x, y: segloss.loss("ce", np.where(x > 1, np.nan, x), y), "NaN"),
    (lambda x, y: segloss.loss("ce", np.where(x > 1, np.inf, x), y), "Inf"),
    (lambda x, y: segloss.loss("ce", x, y[:, :3]), "matches neither"),
    (lambda x, y: segloss.loss("ce", x[0, 0], y), "need [N, C, spatial...]"),
    (lambda x, y: segloss.loss("ce", x, y + 0.5), "whole numbers"),
    (lambda x, y: segloss.loss("missing_ce", x, y, annotated=np.ones((2, 2))), "annotation"),
    (lambda x, y: segloss.loss("missing_ce", x, y, annotated=np.full((2, 3), 2)), "0 or 1"),
    (lambda x, y: segloss.loss("ce", x, y, input_kind="prob"), "input_kind"),
    (lambda x, y: segloss.loss("ce", -np.abs(x), y, input_kind="probs"), "negative"),
    (lambda x, y: segloss.loss("ce(weight=[1,2])", x, y), "weight"),
    (lambda x, y: segloss.loss("ce", x, y, threads=-1), "threads"),
    (lambda x, y: segloss.metrics(y, y[:1]), "differ"),
])
def test_bad_input_is_a_value_error(call, msg):
    r = rng(5)
    x = r.normal(0, 1, (2, 3, 4, 4)).astype(np.float32)
    y = r.randint(0, 3, (2, 4, 4))
    with pytest.raises(ValueError) as e:
        call(x, y)
    assert msg in str(e.value), str(e.value)
    assert "\n" not in str(e.value)


def test_spec_must_be_a_string():
    with pytest.raises(TypeError):
        segloss.loss(3, np.zeros((1, 2, 2)), np.zeros((1, 2)))
