"""segloss.torch.SegLoss against PyTorch's own losses (value and autograd gradient), dtypes,
reduction="none", and the errors."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import segloss
import segloss.torch as st

torch.set_num_threads(1)


def data(seed=0, N=2, C=4, H=9, W=7):
    g = torch.Generator().manual_seed(seed)
    x = (2 * torch.randn(N, C, H, W, generator=g)).float()
    y = torch.randint(0, C, (N, H, W), generator=g)
    return x, y


def ours(spec, x, y, **kw):
    """Value and input gradient of SegLoss on a float32 copy."""
    xi = x.detach().clone().requires_grad_(True)
    v = st.SegLoss(spec, **kw)(xi, y)
    v.backward()
    return v.detach().double(), xi.grad.double()


def theirs(fn, x, *args):
    """Value and autograd gradient of a torch reference in float64 on the same float32 values."""
    xd = x.detach().double().requires_grad_(True)
    v = fn(xd, *args)
    v.backward()
    return v.detach(), xd.grad


def same(a, b, rtol=2e-5):
    (va, ga), (vb, gb) = a, b
    gscale = gb.abs().max().clamp(min=1e-6)
    ok_v = torch.allclose(va, vb, rtol=rtol, atol=1e-7)
    ok_g = (ga - gb).abs().max() <= rtol * gscale + 1e-9
    return bool(ok_v and ok_g)


@pytest.mark.parametrize("spec,kw", [
    ("ce", {}),
    ("ce(weight=[0.5,1,2,0.25])", {"weight": [0.5, 1, 2, 0.25]}),
    ("ce(ignore_index=3)", {"ignore_index": 3}),
    ("ce(label_smoothing=0.2)", {"label_smoothing": 0.2}),
    ("ce(reduction=sum,weight=[1,2,3,4])", {"reduction": "sum", "weight": [1, 2, 3, 4]}),
])
def test_cross_entropy(spec, kw):
    x, y = data(1)
    if "weight" in kw:
        kw["weight"] = torch.tensor(kw["weight"], dtype=torch.float64)
    assert same(ours(spec, x, y), theirs(lambda z: F.cross_entropy(z, y, **kw), x))


def test_bce_with_logits():
    x, _ = data(2)
    t = torch.rand(x.shape, generator=torch.Generator().manual_seed(3))
    pw = torch.tensor([1.0, 2.0, 0.5, 3.0]).view(1, 4, 1, 1)
    ref = torch.nn.BCEWithLogitsLoss(pos_weight=pw.double())
    assert same(ours("bce(pos_weight=[1,2,0.5,3])", x, t), theirs(lambda z: ref(z, t.double()), x))


def torchvision_sigmoid_focal(x, t, alpha=0.25, gamma=2.0):
    """torchvision.ops.sigmoid_focal_loss (reduction="mean") in torch ops."""
    p = torch.sigmoid(x)
    ce = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    p_t = p * t + (1 - p) * (1 - t)
    loss = ce * (1 - p_t) ** gamma
    loss = (alpha * t + (1 - alpha) * (1 - t)) * loss
    return loss.mean()


def test_sigmoid_focal():
    x, y = data(4)
    t = F.one_hot(y, 4).permute(0, 3, 1, 2).float()
    assert same(ours("sigmoid_focal", x, t), theirs(lambda z: torchvision_sigmoid_focal(z, t.double()), x))
    assert same(ours("sigmoid_focal(alpha=0.6,gamma=1.5)", x, y),
                theirs(lambda z: torchvision_sigmoid_focal(z, t.double(), 0.6, 1.5), x))


def monai_dice(x, y, batch=False, include_background=True, squared=False, smooth=1e-5):
    """MONAI DiceLoss(softmax=True, to_onehot_y=True) in torch ops."""
    p = torch.softmax(x, 1)
    g = F.one_hot(y, x.shape[1]).permute(0, 3, 1, 2).to(p.dtype)
    if not include_background:
        p, g = p[:, 1:], g[:, 1:]
    axes = [0, 2, 3] if batch else [2, 3]
    inter = (p * g).sum(axes)
    den = ((p * p).sum(axes) + (g * g).sum(axes)) if squared else (p.sum(axes) + g.sum(axes))
    return (1 - (2 * inter + smooth) / (den + smooth)).mean()


@pytest.mark.parametrize("spec,kw", [
    ("dice", {}),
    ("dice(batch=true)", {"batch": True}),
    ("dice(include_background=false,squared=true)", {"include_background": False, "squared": True}),
])
def test_dice(spec, kw):
    x, y = data(5)
    assert same(ours(spec, x, y), theirs(lambda z: monai_dice(z, y, **kw), x))


def test_softmax_focal_and_a_sum_of_terms():
    x, y = data(6)

    def focal(z):
        lp = F.log_softmax(z, 1).gather(1, y.unsqueeze(1)).squeeze(1)
        return (-(1 - lp.exp()) ** 2 * lp).mean()

    assert same(ours("focal", x, y), theirs(focal, x))
    assert same(ours("0.5*dice + ce", x, y),
                theirs(lambda z: 0.5 * monai_dice(z, y) + F.cross_entropy(z, y), x))


def test_dtypes():
    x, y = data(7)
    v32, g32 = ours("ce", x, y)
    for dt in (torch.float64, torch.float16, torch.bfloat16):
        xi = x.to(dt).requires_grad_(True)
        v = st.SegLoss("ce")(xi, y)
        assert v.dtype == dt
        v.backward()
        assert xi.grad.dtype == dt
    for it in (torch.int32, torch.int16, torch.uint8):  # label maps of any integer dtype
        assert torch.equal(st.SegLoss("ce")(x, y.to(it)), st.SegLoss("ce")(x, y))
    xi = x.double().requires_grad_(True)
    st.SegLoss("ce")(xi, y).backward()
    assert torch.allclose(xi.grad, g32, rtol=1e-6, atol=1e-9)


def test_incoming_gradient_scales():
    x, y = data(8)
    xi = x.clone().requires_grad_(True)
    (3.0 * st.SegLoss("dice + ce")(xi, y)).backward()
    _, g = ours("dice + ce", x, y)
    assert torch.allclose(xi.grad.double(), 3.0 * g, rtol=1e-6, atol=1e-9)


def test_reduction_none():
    x, y = data(9)
    w = torch.rand(y.shape, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    xi = x.clone().requires_grad_(True)
    m = st.SegLoss("ce", reduction="none")(xi, y)
    assert m.shape == y.shape
    assert torch.equal(st.SegLoss("ce(reduction=none)")(x, y), m.detach())
    (m.double() * w).sum().backward()
    want = theirs(lambda z: (F.cross_entropy(z, y, reduction="none") * w).sum(), x)
    assert same(((m.double() * w).sum().detach(), xi.grad.double()), want)
    # a per-(image, class) map takes a uniform gradient, and refuses another
    xi = x.clone().requires_grad_(True)
    d = st.SegLoss("dice", reduction="none")(xi, y)
    assert d.shape == (2, 4)
    d.mean().backward()
    assert same((d.mean().double().detach(), xi.grad.double()), ours("dice", x, y))
    xi = x.clone().requires_grad_(True)
    d = st.SegLoss("dice", reduction="none")(xi, y)
    with pytest.raises(RuntimeError, match="couples pixels"):
        (d * torch.arange(8.0).view(2, 4)).sum().backward()


def test_missing_ce_matches_the_numpy_api():
    x, y = data(10)
    ann = torch.ones(2, 4, dtype=torch.bool)
    ann[1, 2] = False
    v = st.SegLoss("missing_ce")(x, y, ann)
    assert abs(v.item() - segloss.loss("missing_ce", x.numpy(), y.numpy(), annotated=ann.numpy())) < 1e-6


def test_probabilities_as_input():
    x, y = data(11)
    p = torch.softmax(x, 1)
    assert same(ours("ce", p, y, input_kind="probs"),
                theirs(lambda z: F.nll_loss(torch.log(torch.clamp(z / z.sum(1, keepdim=True), 1e-7, 1 - 1e-7)), y), p))


def test_errors():
    x, y = data(12)
    with pytest.raises(NotImplementedError, match="CPU only"):
        st.SegLoss("ce")(torch.empty(2, 4, 3, 3, device="meta"), y)
    with pytest.raises(ValueError, match="out of range"):
        st.SegLoss("ce")(x, y + 4)
    with pytest.raises(ValueError, match="unknown loss"):
        st.SegLoss("cee")
    with pytest.raises(ValueError, match="not both"):
        st.SegLoss("ce(reduction=sum)", reduction="mean")
    with pytest.raises(ValueError, match="reduction"):
        st.SegLoss("ce", reduction="avg")
    with pytest.raises(ValueError, match="floating-point"):
        st.SegLoss("ce")(y.unsqueeze(1), y)
    with pytest.raises(ValueError, match="cannot be evaluated in shards"):
        st.SegLoss("dice + lovasz", process_group=True)
    with pytest.raises(ValueError, match="NaN"):
        st.SegLoss("ce")(torch.where(x > 1, torch.tensor(float("nan")), x), y)


def test_no_grad_and_module_use():
    x, y = data(13)
    crit = st.SegLoss("dice + ce")
    with torch.no_grad():
        v = crit(x.clone().requires_grad_(True), y)
    assert not v.requires_grad
    assert "dice + ce" in repr(crit)
    assert isinstance(crit, torch.nn.Module)
