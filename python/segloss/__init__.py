"""segloss: loss functions for semantic segmentation with analytic gradients, from Python.

The numpy API (this module) and a PyTorch module (`segloss.torch.SegLoss`) over the C library
libsegloss, bound with ctypes. Arrays of any dtype are converted (inputs to float32, label maps
to int32, annotation matrices to 0/1 bytes) and non-contiguous arrays are copied. Errors of the
library become ValueError (bad arguments, shapes, labels, values, specs) with its one-line
message as the text.

    >>> import numpy as np, segloss
    >>> x = np.zeros((1, 3, 2, 2)); y = np.array([[[0, 1], [2, 0]]])
    >>> round(segloss.loss("ce", x, y), 6)
    1.098612
"""

import ctypes

import numpy as np

from . import _lib
from ._lib import lib

__all__ = [
    "loss", "loss_map", "losses", "metrics", "version", "isa", "Rng", "masks",
    "labels_from_masks", "draw_ellipse", "draw_polygon", "draw_disk", "simulate_predictions",
    "drop_annotations",
]


def version():
    """The library's version (SL_VERSION_STRING)."""
    return lib.sl_version().decode()


__version__ = version()


def isa():
    """The vector path the library's kernels take: "avx512", "avx2" or "scalar"."""
    return lib.sl_isa().decode()


def __getattr__(name):  # `import segloss; segloss.torch` without importing torch up front
    if name == "torch":
        import importlib

        return importlib.import_module(".torch", __name__)
    raise AttributeError("module 'segloss' has no attribute %r" % name)


def _ptr(a):
    return None if a is None else a.ctypes.data_as(ctypes.c_void_p)


def _shape_str(shape):
    return "[" + ", ".join(str(int(d)) for d in shape) + "]"


# ---------------------------------------------------------------------------------------------
# Specs and batches


class _Spec:
    """A parsed loss spec (owns the library's sl_spec)."""

    def __init__(self, text):
        if not isinstance(text, str):
            raise TypeError("a loss spec is a string such as 'ce' or 'dice + ce'")
        self.text = text
        self.ptr = ctypes.c_void_p()
        err = _lib.Error()
        _lib.check(lib.sl_spec_parse(text.encode(), ctypes.byref(self.ptr), ctypes.byref(err)), err)

    def __del__(self):
        if getattr(self, "ptr", None) and self.ptr.value and lib is not None:
            lib.sl_spec_free(self.ptr)
            self.ptr = ctypes.c_void_p()

    def terms(self):
        """[(factor, loss name, map kind)] of the spec's terms."""
        out = []
        for i in range(lib.sl_spec_nterms(self.ptr)):
            k = ctypes.c_double()
            loss = ctypes.c_void_p()
            lib.sl_spec_term(self.ptr, i, ctypes.byref(k), ctypes.byref(loss), None)
            out.append((k.value, lib.sl_loss_name(loss).decode(),
                        _lib.MAP_KINDS[lib.sl_loss_map_kind(loss)]))
        return out


def _spec(spec):
    return spec if isinstance(spec, _Spec) else _Spec(spec)


def _as_input(x):
    a = np.asarray(x)
    if a.dtype.kind not in "fiub":
        raise ValueError("input has dtype %s: need numbers" % a.dtype)
    if a.ndim < 3 or a.ndim > 5:
        raise ValueError(
            "input shape %s: need [N, C, spatial...] with 1 to 3 spatial axes" % _shape_str(a.shape)
        )
    return np.ascontiguousarray(a, dtype=np.float32)


def _as_labels(t, what="target"):
    if t.dtype.kind == "f":
        if not np.all(np.isfinite(t)) or not np.all(t == np.round(t)):
            raise ValueError("%s is a label map of floats that are not all whole numbers" % what)
    if t.size and (t.min() < -(2**31) or t.max() > 2**31 - 1):
        raise ValueError("%s has a label outside the int32 range" % what)
    return np.ascontiguousarray(t, dtype=np.int32)


class _Batch:
    """An sl_batch over converted arrays (kept alive here)."""

    def __init__(self, input, target, input_kind="logits", annotated=None):
        if input_kind not in _lib.INPUT_KINDS:
            raise ValueError("input_kind %r: need 'logits' or 'probs'" % (input_kind,))
        self.input = _as_input(input)
        x = self.input
        t = np.asarray(target)
        if t.dtype.kind not in "fiub":
            raise ValueError("target has dtype %s: need numbers" % t.dtype)
        self.labels = self.target = None
        if t.shape == x.shape:
            self.target = np.ascontiguousarray(t, dtype=np.float32)
        elif t.shape == x.shape[:1] + x.shape[2:]:
            self.labels = _as_labels(t)
        else:
            raise ValueError(
                "target shape %s matches neither the input's %s (a per-class target) nor %s "
                "(a label map)" % (_shape_str(t.shape), _shape_str(x.shape),
                                   _shape_str(x.shape[:1] + x.shape[2:]))
            )
        self.annotated = None
        if annotated is not None:
            a = np.asarray(annotated)
            if a.shape != x.shape[:2]:
                raise ValueError("annotation matrix shape %s: need [N, C] = %s"
                                 % (_shape_str(a.shape), _shape_str(x.shape[:2])))
            if a.dtype.kind not in "fiub" or (a.size and (a.min() < 0 or a.max() > 1)):
                raise ValueError("annotation matrix: every entry must be 0 or 1")
            self.annotated = np.ascontiguousarray(a, dtype=np.uint8)
        b = _lib.Batch()
        b.shape.ndim = x.ndim
        for i, d in enumerate(x.shape):
            b.shape.dim[i] = d
        b.input = _ptr(x)
        b.input_kind = _lib.INPUT_KINDS[input_kind]
        b.target_kind = _lib.TARGET_LABELS if self.labels is not None else _lib.TARGET_PROBS
        b.labels = _ptr(self.labels)
        b.target = _ptr(self.target)
        b.annotated = _ptr(self.annotated)
        self.c = b

    def map_shape(self, spec):
        s = _lib.Shape()
        err = _lib.Error()
        _lib.check(lib.sl_spec_map_shape(spec.ptr, ctypes.byref(self.c), ctypes.byref(s),
                                         ctypes.byref(err)), err)
        return tuple(s.dim[i] for i in range(s.ndim))


def _threads(threads):
    if threads is None:
        return 0
    if not isinstance(threads, int) or threads < 0:
        raise ValueError("threads %r: need a whole number >= 0 (0: OpenMP's default)" % (threads,))
    return threads


def _stats_size(spec, batch):
    """Doubles of the spec's statistics (sharded evaluation); ValueError when a term has none."""
    n = ctypes.c_size_t()
    err = _lib.Error()
    _lib.check(lib.sl_spec_stats_size(spec.ptr, ctypes.byref(batch.c), ctypes.byref(n),
                                      ctypes.byref(err)), err)
    return n.value


def _run(spec, batch, grad, want_map, threads, impl="fast", phase=0, stats=None):
    """sl_spec_eval (phase 0), sl_spec_stats (1) or sl_spec_finish (2). Returns
    (value, grad or None, map or None), or the statistics for phase 1."""
    if impl not in _lib.IMPLS:
        raise ValueError("impl %r: need 'fast' or 'ref'" % (impl,))
    err = _lib.Error()
    out = _lib.Output()
    out.threads = _threads(threads)
    size = lib.sl_spec_workspace_size(spec.ptr, ctypes.byref(batch.c))
    ws = np.empty(max(size, 1), dtype=np.uint8)
    out.workspace = _ptr(ws)
    out.workspace_size = size
    if phase == 1:
        st = np.zeros(_stats_size(spec, batch), dtype=np.float64)
        _lib.check(lib.sl_spec_stats(spec.ptr, ctypes.byref(batch.c), _lib.IMPLS[impl], _ptr(st),
                                     ctypes.byref(out), ctypes.byref(err)), err)
        return st
    g = np.empty(batch.input.shape, dtype=np.float32) if grad else None
    m = np.empty(batch.map_shape(spec), dtype=np.float32) if want_map else None
    out.grad = _ptr(g)
    out.loss_map = _ptr(m)
    if phase == 2:
        stats = np.ascontiguousarray(stats, dtype=np.float64)
        n = _stats_size(spec, batch)
        if stats.shape != (n,):
            raise ValueError("statistics of shape %s: this spec and batch need %d"
                             % (_shape_str(stats.shape), n))
        status = lib.sl_spec_finish(spec.ptr, ctypes.byref(batch.c), _lib.IMPLS[impl],
                                    _ptr(stats), ctypes.byref(out), ctypes.byref(err))
    else:
        status = lib.sl_spec_eval(spec.ptr, ctypes.byref(batch.c), _lib.IMPLS[impl],
                                  ctypes.byref(out), ctypes.byref(err))
    _lib.check(status, err)
    return out.loss, g, m


# ---------------------------------------------------------------------------------------------
# Losses


def loss(spec, input, target, *, input_kind="logits", annotated=None, grad=False, threads=None,
         impl="fast"):
    """The value of a loss spec (e.g. "ce", "dice + ce", "missing_ce(denominator=valid)") on
    input [N, C, spatial...] (logits, or probabilities with input_kind="probs") against a
    label map [N, spatial...] or a per-class target of the input's shape. annotated: [N, C]
    0/1 (which classes are annotated in which image; None: inferred from the target).
    Returns the value, or (value, d value / d input) with grad=True."""
    s = _spec(spec)
    b = _Batch(input, target, input_kind, annotated)
    v, g, _ = _run(s, b, grad, False, threads, impl)
    return (v, g) if grad else v


def loss_map(spec, input, target, *, input_kind="logits", annotated=None, threads=None,
             impl="fast"):
    """The unreduced values of a spec (per pixel [N, spatial...], per (image, class) [N, C],
    per element, or the loss's own shape; `segloss list` says which)."""
    s = _spec(spec)
    b = _Batch(input, target, input_kind, annotated)
    return _run(s, b, False, True, threads, impl)[2]


def losses():
    """Every loss of the library's registry: name, summary, map kind and parameters (key, the
    loss's own spelling of it or None, type, default as written in a spec, valid words, range,
    help)."""
    out = []
    for i in range(lib.sl_loss_count()):
        loss = lib.sl_loss_at(i)
        params = []
        for j in range(lib.sl_loss_nparams(loss)):
            p = _lib.ParamInfo()
            lib.sl_loss_param(loss, j, ctypes.byref(p))
            params.append({
                "key": p.key.decode(),
                "alias": p.alias.decode() if p.alias else None,
                "type": _lib.PARAM_TYPES[p.type],
                "default": p.default.decode(),
                "words": p.words.decode().split("|") if p.words else None,
                "range": None if p.lo == p.hi else (p.lo, p.hi),
                "help": p.help.decode(),
            })
        out.append({"name": lib.sl_loss_name(loss).decode(),
                    "summary": lib.sl_loss_summary(loss).decode(),
                    "map": _lib.MAP_KINDS[lib.sl_loss_map_kind(loss)], "params": params})
    return out


# ---------------------------------------------------------------------------------------------
# Metrics


def metrics(pred, target, spacing=None, num_classes=None, include_background=True,
            ignore_index=None):
    """Dice, IoU, HD95 and ASSD per (image, class) of two label maps [N, spatial...] (MONAI's
    conventions; NaN where undefined). num_classes: C (default: the largest label + 1, leaving
    out ignore_index). include_background=False leaves class 0 out (its column is NaN), as
    MONAI's include_background=False; ignore_index: target pixels with that label count for no
    class. Returns {"dice", "iou", "hd95", "assd"}: arrays [N, C]."""
    p = _as_labels(np.asarray(pred), "pred")
    t = _as_labels(np.asarray(target), "target")
    if p.shape != t.shape:
        raise ValueError("pred shape %s and target shape %s differ"
                         % (_shape_str(p.shape), _shape_str(t.shape)))
    if p.ndim < 2 or p.ndim > 4:
        raise ValueError("label maps of shape %s: need [N, spatial...] with 1 to 3 spatial axes"
                         % _shape_str(p.shape))
    if num_classes is None:
        tk = t if ignore_index is None else t[t != ignore_index]
        num_classes = int(max(p.max(initial=0), tk.max(initial=0))) + 1
    opts = _lib.MetricsOpts(1 if include_background else 0, 0 if ignore_index is None else 1,
                            0 if ignore_index is None else int(ignore_index))
    s = _lib.Shape()
    s.ndim = p.ndim
    for i, d in enumerate(p.shape):
        s.dim[i] = d
    sp = None
    if spacing is not None:
        sp = np.ascontiguousarray(spacing, dtype=np.float64)
        if sp.shape != (p.ndim - 1,):
            raise ValueError("spacing: need one value per spatial axis (%d)" % (p.ndim - 1))
    res = {k: np.empty((p.shape[0], num_classes)) for k in ("dice", "iou", "hd95", "assd")}
    mo = _lib.MetricsOut(*[_ptr(res[k]) for k in ("dice", "iou", "hd95", "assd")])
    size = lib.sl_metrics_workspace_size(ctypes.byref(s), num_classes)
    ws = np.empty(max(size, 1), dtype=np.uint8)
    err = _lib.Error()
    _lib.check(lib.sl_metrics(_ptr(p), _ptr(t), ctypes.byref(s), num_classes, _ptr(sp),
                              ctypes.byref(opts), ctypes.byref(mo), _ptr(ws), size,
                              ctypes.byref(err)), err)
    return res


# ---------------------------------------------------------------------------------------------
# The post's data


class Rng:
    """MT19937 as numpy's legacy np.random.RandomState: one stream through several calls."""

    def __init__(self, seed=0):
        self.c = _lib.Rng()
        lib.sl_rng_seed(ctypes.byref(self.c), int(seed) & 0xFFFFFFFF)


def _rng(rng):
    return rng if isinstance(rng, Rng) else Rng(rng)


def masks(n, h=128, w=128, rng=0, angles=None):
    """The post's genMasks(n, 3, h, w): uint8 [n, 3, h, w] (ellipse, square, circle). rng: a
    seed or an Rng; angles: n whole degrees, or None to draw them from rng."""
    out = np.zeros((n, 3, h, w), dtype=np.uint8)
    a = None
    if angles is not None:
        a = np.ascontiguousarray(angles, dtype=np.intc)
        if a.shape != (n,):
            raise ValueError("angles: need one per image (%d)" % n)
    err = _lib.Error()
    _lib.check(lib.sl_masks_generate(_ptr(out), n, h, w, _ptr(a), ctypes.byref(_rng(rng).c),
                                     ctypes.byref(err)), err)
    return out


def labels_from_masks(m):
    """Label map [n, h, w] from masks [n, k, h, w]: object j is label j + 1, later on top."""
    m = np.ascontiguousarray(m, dtype=np.uint8)
    if m.ndim < 3:
        raise ValueError("masks of shape %s: need [n, objects, spatial...]" % _shape_str(m.shape))
    out = np.empty(m.shape[:1] + m.shape[2:], dtype=np.int32)
    lib.sl_masks_to_labels(_ptr(m), m.shape[0], m.shape[1], int(np.prod(m.shape[2:])), _ptr(out))
    return out


def _canvas(shape):
    h, w = (int(v) for v in shape)
    return np.zeros((h, w), dtype=np.uint8), h, w


def draw_ellipse(shape, r, c, r_radius, c_radius, rotation=0.0):
    """uint8 [h, w], 1 inside the ellipse, as skimage.draw.ellipse(..., shape=shape)."""
    img, h, w = _canvas(shape)
    err = _lib.Error()
    _lib.check(lib.sl_draw_ellipse(_ptr(img), h, w, r, c, r_radius, c_radius, rotation,
                                   ctypes.byref(err)), err)
    return img


def draw_polygon(shape, rows, cols):
    """uint8 [h, w], 1 inside the polygon, as skimage.draw.polygon(rows, cols, shape)."""
    img, h, w = _canvas(shape)
    r = np.ascontiguousarray(rows, dtype=np.float64)
    c = np.ascontiguousarray(cols, dtype=np.float64)
    if r.shape != c.shape or r.ndim != 1:
        raise ValueError("rows and cols: need two 1-d sequences of the same length")
    err = _lib.Error()
    _lib.check(lib.sl_draw_polygon(_ptr(img), h, w, _ptr(r), _ptr(c), r.size,
                                   ctypes.byref(err)), err)
    return img


def draw_disk(shape, r, c, radius):
    """uint8 [h, w], 1 inside the disk, as skimage.draw.disk((r, c), radius, shape=shape)."""
    img, h, w = _canvas(shape)
    err = _lib.Error()
    _lib.check(lib.sl_draw_disk(_ptr(img), h, w, r, c, radius, ctypes.byref(err)), err)
    return img


def simulate_predictions(labels, num_classes=4, rng=0, edge=1.5, confidence=5.0, noise=3.5):
    """Simulated typical model predictions for label maps [n, h, w]: probabilities
    [n, num_classes, h, w] close to the labels, with soft edges and noise."""
    y = _as_labels(np.asarray(labels), "labels")
    if y.ndim != 3:
        raise ValueError("labels of shape %s: need [n, h, w]" % _shape_str(y.shape))
    n, h, w = y.shape
    o = _lib.SimulateOptions(edge, confidence, noise)
    out = np.empty((n, num_classes, h, w), dtype=np.float32)
    size = lib.sl_simulate_workspace_size(num_classes, h, w)
    ws = np.empty(max(size, 1), dtype=np.uint8)
    err = _lib.Error()
    _lib.check(lib.sl_simulate_predictions(_ptr(y), n, num_classes, h, w, ctypes.byref(o),
                                           ctypes.byref(_rng(rng).c), _ptr(out), _ptr(ws), size,
                                           ctypes.byref(err)), err)
    return out


def drop_annotations(labels, k, num_classes=4, rng=0):
    """The post's missing annotations: k distinct (image, object class) pairs present in labels
    [n, spatial...] are set to background. Returns (new labels, dropped pairs [k, 2])."""
    y = _as_labels(np.asarray(labels), "labels").copy()
    dropped = np.zeros((k, 2), dtype=np.int64)
    err = _lib.Error()
    _lib.check(lib.sl_drop_annotations(_ptr(y), y.shape[0], num_classes,
                                       int(np.prod(y.shape[1:])), k, ctypes.byref(_rng(rng).c),
                                       _ptr(dropped), ctypes.byref(err)), err)
    return y, dropped
