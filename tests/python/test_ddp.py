"""Exact global losses under torch.distributed: 2 ranks (gloo, this machine) each hold a shard
of a batch; SegLoss with the process group must give every rank the loss of the whole batch
and each rank the whole batch's gradient on its shard (times the world size, for DDP's
averaging), and a few DDP training steps must match single-process steps on the whole batch."""
import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

import ddp_worker as w
import segloss.torch as st

WORLD = 2


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("ddp"))
    # fork: the ranks inherit the imported torch and segloss (a spawn re-imports them, seconds)
    mp.start_processes(w.run, args=(WORLD, free_port(), out), nprocs=WORLD, join=True,
                       start_method="fork")
    return [torch.load(os.path.join(out, "rank%d.pt" % r)) for r in range(WORLD)]


def whole(spec):
    x, y, yi = w.batch()
    xi = x.clone().requires_grad_(True)
    v = st.SegLoss(spec, threads=1)(xi, w.labels_for(spec, y, yi))
    v.backward()
    return v.item(), xi.grad


@pytest.mark.parametrize("i", range(len(w.SPECS)), ids=w.SPECS)
def test_value_and_gradient_equal_the_whole_batch(ranks, i):
    spec = w.SPECS[i]
    want_v, want_g = whole(spec)
    for r in range(WORLD):
        a, b = w.SHARDS[r]
        got_v, got_g = ranks[r]["values"][i], ranks[r]["grads"][i]
        assert abs(got_v - want_v) <= 2e-6 * max(1.0, abs(want_v)), (r, got_v, want_v)
        scale = want_g.abs().max().item()
        err = (got_g / WORLD - want_g[a:b]).abs().max().item()
        assert err <= 1e-5 * scale, (r, err, scale)


def test_without_the_group_the_shards_disagree():
    """What the test guards against: each rank's own loss, averaged, is not the whole batch's."""
    x, y, yi = w.batch()
    for spec in ("dice(batch=true)", "ce(weight=[0.2,1,2,0.5],ignore_index=255)"):
        lab = w.labels_for(spec, y, yi)
        parts = [st.SegLoss(spec)(x[a:b], lab[a:b]).item() for a, b in w.SHARDS]
        assert abs(sum(parts) / WORLD - whole(spec)[0]) > 1e-4


def test_ddp_training_matches_single_process(ranks):
    img, y = w.train_batch()
    model = w.net()
    losses = w.train(model, img, y, st.SegLoss(w.TRAIN_SPEC, threads=1))
    for r in range(WORLD):
        assert ranks[r]["train_losses"] == pytest.approx(losses, rel=1e-5)
        for p, q in zip(ranks[r]["params"], model.parameters()):
            assert torch.allclose(p, q.detach(), rtol=1e-4, atol=1e-6), (p - q).abs().max()
    # and the steps did change the network
    assert losses[-1] < losses[0]
