"""The ranks of test_ddp.py (spawned by torch.multiprocessing): each holds a shard of one batch
and evaluates segloss.torch.SegLoss with the gloo process group, then trains a small network
under DistributedDataParallel. Results go to OUT/rank{r}.pt."""
import datetime
import os

import torch
import torch.distributed as dist

import segloss.torch as st

N, C, H, W = 5, 4, 12, 10
SPECS = [
    "ce",
    "ce(weight=[0.2,1,2,0.5],ignore_index=255)",
    "focal(ignore_index=255,gamma=1.5)",
    "missing_ce(denominator=valid)",
    "dice(batch=true)",
    "dice(batch=true,include_background=false,squared=true,ignore_index=255)",
    "tversky(batch=true,alpha=0.3,beta=0.7)",
    "log_cosh_dice",
    "generalized_dice(batch=true)",
    "generalized_dice",
    "lovasz(per_image=true)",
    "dice(batch=true,ignore_index=255) + 0.5*ce(weight=[0.2,1,2,0.5],ignore_index=255)",
]
SHARDS = [(0, 3), (3, 5)]  # unequal on purpose
TRAIN_SPEC = "dice(batch=true,ignore_index=255) + ce(weight=[0.2,1,2,0.5],ignore_index=255)"
TRAIN_STEPS = 3


def batch():
    g = torch.Generator().manual_seed(8)
    x = 2 * torch.randn(N, C, H, W, generator=g)
    y = torch.randint(0, C, (N, H, W), generator=g)
    yi = torch.where(torch.rand(N, H, W, generator=g) < 0.1, torch.tensor(255), y)
    return x, y, yi


def labels_for(spec, y, yi):
    return yi if "255" in spec else y


def net():
    torch.manual_seed(3)
    return torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.Conv2d(8, C, 3, padding=1))


def train_batch():
    g = torch.Generator().manual_seed(9)
    img = torch.randn(4, 3, H, W, generator=g)
    y = torch.randint(0, C, (4, H, W), generator=g)
    y = torch.where(torch.rand(4, H, W, generator=g) < 0.1, torch.tensor(255), y)
    return img, y


def train(model, img, y, crit):
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    losses = []
    for _ in range(TRAIN_STEPS):
        opt.zero_grad()
        loss = crit(model(img), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def run(rank, world, port, out):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=60))
    x, y, yi = batch()
    a, b = SHARDS[rank]
    res = {"values": [], "grads": []}
    for spec in SPECS:
        xi = x[a:b].clone().requires_grad_(True)
        v = st.SegLoss(spec, process_group=True, threads=1)(xi, labels_for(spec, y, yi)[a:b])
        v.backward()
        res["values"].append(v.item())
        res["grads"].append(xi.grad.clone())
    # training: equal shards of 2 images under DDP
    img, ty = train_batch()
    model = torch.nn.parallel.DistributedDataParallel(net())
    crit = st.SegLoss(TRAIN_SPEC, process_group=True, threads=1)
    res["train_losses"] = train(model, img[2 * rank:2 * rank + 2], ty[2 * rank:2 * rank + 2], crit)
    res["params"] = [p.detach().clone() for p in model.module.parameters()]
    torch.save(res, os.path.join(out, "rank%d.pt" % rank))
    dist.barrier()
    dist.destroy_process_group()
