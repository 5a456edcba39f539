"""segloss.torch: a PyTorch loss module over libsegloss, with autograd and exact global losses
under torch.distributed (DDP).

    import segloss.torch
    crit = segloss.torch.SegLoss("dice + ce")
    loss = crit(logits, labels)      # a 0-d tensor; loss.backward() fills logits.grad

The library computes the value and its analytic gradient in one pass on the CPU; backward
multiplies that gradient by the incoming one. CPU tensors of any float dtype; label maps of any
integer dtype, or per-class targets of the input's shape. CUDA tensors are refused (the library
has no CUDA kernels yet).

With process_group (a torch.distributed group; True for the default one), each rank holds a
shard of the batch and gets the loss of the WHOLE batch: the loss's statistics (a mean's
normaliser, Dice sums with batch=true, ...) are all-reduced across the group, the value
returned is the global loss on every rank, and each rank's input gradient is the global loss's
gradient times the group's size, so that DDP's averaging of parameter gradients reproduces
single-process training on the concatenated batch. Losses whose value is not a function of
summed statistics (lovasz over the batch, the distance losses, the partial-label Dice losses)
raise ValueError then.
"""

import numpy as np
import torch
import torch.distributed as dist

import segloss as _sl

__all__ = ["SegLoss"]

_REDUCTIONS = ("mean", "sum", "none")


def _with_reduction(spec, reduction):
    """The spec with reduction=... set in every term."""
    if "reduction" in spec:
        raise ValueError("give the reduction in the spec or as reduction=, not both")
    terms, depth, start = [], 0, 0
    for i, ch in enumerate(spec):
        depth += ch in "([" 
        depth -= ch in ")]"
        if ch == "+" and depth == 0:
            terms.append(spec[start:i])
            start = i + 1
    terms.append(spec[start:])
    out = []
    for t in terms:
        t = t.strip()
        if t.endswith(")"):
            inner = t[t.index("(") + 1:-1].strip()
            t = t[:-1] + (", " if inner else "") + "reduction=%s)" % reduction
        else:
            t = t + "(reduction=%s)" % reduction
        out.append(t)
    return " + ".join(out)


def _numpy_input(x):
    if not isinstance(x, torch.Tensor):
        raise TypeError("input must be a torch.Tensor")
    if x.device.type != "cpu":
        raise NotImplementedError(
            "segloss: input is on %s; the library computes on the CPU only (no CUDA kernels "
            "yet): pass CPU tensors (tensor.cpu())" % x.device
        )
    if not x.is_floating_point():
        raise ValueError("input has dtype %s: need a floating-point tensor" % x.dtype)
    return x.detach().to(torch.float32).contiguous().numpy()


def _numpy_other(t, what):
    if t is None:
        return None
    if not isinstance(t, torch.Tensor):
        return np.asarray(t)
    if t.device.type != "cpu":
        raise NotImplementedError(
            "segloss: %s is on %s; the library computes on the CPU only (no CUDA kernels "
            "yet): pass CPU tensors (tensor.cpu())" % (what, t.device)
        )
    t = t.detach()
    if t.dtype in (torch.float16, torch.bfloat16):
        t = t.to(torch.float32)
    return t.contiguous().numpy()


class SegLossFunction(torch.autograd.Function):
    """value (a 0-d tensor or a map) with the library's gradient; backward scales it."""

    @staticmethod
    def forward(ctx, input, value, grad, per_pixel):
        ctx.save_for_backward(grad)
        ctx.per_pixel = per_pixel
        return value

    @staticmethod
    def backward(ctx, g):
        (grad,) = ctx.saved_tensors
        if g is None:
            return None, None, None, None
        if g.dim() == 0 or g.numel() == 1:
            out = grad * g.reshape(())
        elif ctx.per_pixel == "pixel":  # map [N, spatial...]: each entry is its own pixel's
            out = grad * g.unsqueeze(1)
        elif ctx.per_pixel == "element":
            out = grad * g
        else:
            first = g.reshape(-1)[0]
            if not bool(torch.all(g == first)):
                raise RuntimeError(
                    "segloss: this loss's unreduced map couples pixels (each entry depends on "
                    "many pixels); backward takes only a uniform gradient of it (e.g. "
                    "map.sum() or map.mean())"
                )
            out = grad * first
        return out.to(ctx.saved_tensors[0].dtype), None, None, None


class SegLoss(torch.nn.Module):
    """A segloss spec as a loss module.

    spec:          a loss spec: "ce", "dice(batch=true) + ce(ignore_index=255)", "missing_ce", ...
                   (`segloss.losses()` and docs/ list them with their parameters).
    input_kind:    "logits" (softmax inside) or "probs".
    reduction:     None (the spec's own), or "mean", "sum", "none" set in every term.
    process_group: None; or a torch.distributed group (True: the default group) for the exact
                   loss of the whole batch across ranks (see the module's docstring).
    threads:       CPU threads of the library (None: OpenMP's default).

    forward(input, target, annotated=None): input [N, C, spatial...]; target a label map
    [N, spatial...] (any integer dtype) or a per-class target of the input's shape; annotated
    [N, C] 0/1 (bool or integer), which classes are annotated in which image (None: inferred).
    Returns a 0-d tensor of the input's dtype, or with reduction "none" the unreduced map.
    """

    def __init__(self, spec, input_kind="logits", reduction=None, process_group=None,
                 threads=None):
        super().__init__()
        if reduction is not None:
            if reduction not in _REDUCTIONS:
                raise ValueError("reduction %r: need one of %s" % (reduction, ", ".join(_REDUCTIONS)))
            spec = _with_reduction(spec, reduction)
        if input_kind not in ("logits", "probs"):
            raise ValueError("input_kind %r: need 'logits' or 'probs'" % (input_kind,))
        self.spec_text = spec
        self._spec = _sl._Spec(spec)
        self.input_kind = input_kind
        self.reduction = reduction
        # the map comes back with reduction="none", as an argument or in the spec
        self._unreduced = reduction == "none" or "reduction=none" in spec.replace(" ", "")
        self.threads = threads
        self.process_group = process_group
        kinds = {kind for _, _, kind in self._spec.terms()}
        self._map_kind = kinds.pop() if len(kinds) == 1 else "mixed"
        if process_group is not None:
            if self._unreduced:
                raise ValueError("reduction='none' gives each rank its own map; with a "
                                 "process_group use 'mean' or 'sum'")
            # fail now, not at the first batch, when a term has no statistics
            probe = _sl._Batch(np.zeros((1, 2, 1), np.float32), np.zeros((1, 1), np.int32))
            _sl._stats_size(self._spec, probe)

    def extra_repr(self):
        return "spec=%r, input_kind=%r%s" % (
            self.spec_text, self.input_kind,
            ", process_group=set" if self.process_group is not None else "")

    def _group(self):
        return None if self.process_group is True else self.process_group

    def forward(self, input, target, annotated=None):
        x = _numpy_input(input)
        t = _numpy_other(target, "target")
        a = _numpy_other(annotated, "annotated")
        batch = _sl._Batch(x, t, self.input_kind, a)
        unreduced = self._unreduced
        want_grad = input.requires_grad and torch.is_grad_enabled()
        if self.process_group is None:
            v, g, m = _sl._run(self._spec, batch, want_grad, unreduced, self.threads)
        else:
            group = self._group()
            stats = _sl._run(self._spec, batch, False, False, self.threads, phase=1)
            st = torch.from_numpy(stats)
            dist.all_reduce(st, op=dist.ReduceOp.SUM, group=group)
            v, g, m = _sl._run(self._spec, batch, want_grad, False, self.threads, phase=2,
                               stats=st.numpy())
            total = torch.tensor([v], dtype=torch.float64)
            dist.all_reduce(total, op=dist.ReduceOp.SUM, group=group)
            v = float(total[0])
            if g is not None:
                g *= dist.get_world_size(group)
        value = torch.from_numpy(m) if unreduced else torch.tensor(v, dtype=torch.float64)
        value = value.to(input.dtype)
        if not want_grad:
            return value
        grad = torch.from_numpy(g).to(input.dtype)
        return SegLossFunction.apply(input, value, grad, self._map_kind)
