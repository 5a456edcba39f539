"""ctypes bindings of libsegloss: the structs of include/segloss.h and include/segloss_data.h
and the functions the package calls. Internal; use the functions of `segloss` and `segloss.torch`."""

import ctypes
import os

# sl_status
OK, E_ARG, E_SHAPE, E_LABEL, E_VALUE, E_NOMEM, E_IO, E_FORMAT, E_PARSE = range(9)
MAX_DIMS = 5
ERR_LEN = 512
INPUT_KINDS = {"logits": 0, "probs": 1}
TARGET_LABELS, TARGET_PROBS = 0, 1
IMPLS = {"fast": 0, "ref": 1}
MAP_KINDS = {0: "pixel", 1: "image_class", 2: "element"}
PARAM_TYPES = {0: "number", 1: "int", 2: "list", 3: "word", 4: "bool"}


class Shape(ctypes.Structure):
    _fields_ = [("ndim", ctypes.c_int), ("dim", ctypes.c_int64 * MAX_DIMS)]


class Batch(ctypes.Structure):
    _fields_ = [
        ("shape", Shape),
        ("input", ctypes.c_void_p),
        ("input_kind", ctypes.c_int),
        ("target_kind", ctypes.c_int),
        ("labels", ctypes.c_void_p),
        ("target", ctypes.c_void_p),
        ("annotated", ctypes.c_void_p),
    ]


class Output(ctypes.Structure):
    _fields_ = [
        ("loss", ctypes.c_double),
        ("grad", ctypes.c_void_p),
        ("loss_map", ctypes.c_void_p),
        ("workspace", ctypes.c_void_p),
        ("workspace_size", ctypes.c_size_t),
        ("threads", ctypes.c_int),
    ]


class Error(ctypes.Structure):
    _fields_ = [("msg", ctypes.c_char * ERR_LEN)]


class ParamInfo(ctypes.Structure):
    _fields_ = [
        ("key", ctypes.c_char_p),
        ("alias", ctypes.c_char_p),
        ("type", ctypes.c_int),
        ("default", ctypes.c_char_p),
        ("words", ctypes.c_char_p),
        ("help", ctypes.c_char_p),
        ("lo", ctypes.c_double),
        ("hi", ctypes.c_double),
        ("flags", ctypes.c_uint),
        ("id", ctypes.c_int),
    ]


class MetricsOut(ctypes.Structure):
    _fields_ = [(k, ctypes.c_void_p) for k in ("dice", "iou", "hd95", "assd")]


class MetricsOpts(ctypes.Structure):
    _fields_ = [("include_background", ctypes.c_int), ("use_ignore_index", ctypes.c_int),
                ("ignore_index", ctypes.c_int32)]


class Rng(ctypes.Structure):
    _fields_ = [
        ("mt", ctypes.c_uint32 * 624),
        ("mti", ctypes.c_int),
        ("has_gauss", ctypes.c_int),
        ("gauss", ctypes.c_double),
    ]


class SimulateOptions(ctypes.Structure):
    _fields_ = [(k, ctypes.c_double) for k in ("edge", "confidence", "noise")]


def _library_path():
    """SEGLOSS_LIB if set; the path `make install` wrote; the source tree's build/ (after
    `make`); else the dynamic loader's search for the soname."""
    env = os.environ.get("SEGLOSS_LIB")
    if env:
        return env
    try:
        from . import _installed  # written by make install

        if os.path.exists(_installed.LIBRARY):
            return _installed.LIBRARY
    except ImportError:
        pass
    here = os.path.dirname(os.path.abspath(__file__))
    built = os.path.join(here, os.pardir, os.pardir, "build", "libsegloss.so")
    if os.path.exists(built):
        return os.path.normpath(built)
    return "libsegloss.so.0"


def _load():
    path = _library_path()
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise ImportError(
            "segloss: cannot load the library %s (%s); run `make` in the source tree, "
            "`make install`, or set SEGLOSS_LIB to libsegloss.so" % (path, e)
        ) from None
    P, I64, SZ = ctypes.c_void_p, ctypes.c_int64, ctypes.c_size_t
    st, vp = ctypes.c_int, None

    def fn(name, res, *args):
        f = getattr(lib, name)
        f.restype = res
        f.argtypes = list(args)

    pErr, pBatch, pOut = ctypes.POINTER(Error), ctypes.POINTER(Batch), ctypes.POINTER(Output)
    pShape = ctypes.POINTER(Shape)
    fn("sl_version", ctypes.c_char_p)
    fn("sl_status_str", ctypes.c_char_p, st)
    fn("sl_loss_count", ctypes.c_int)
    fn("sl_loss_at", P, ctypes.c_int)
    fn("sl_loss_name", ctypes.c_char_p, P)
    fn("sl_loss_summary", ctypes.c_char_p, P)
    fn("sl_loss_map_kind", ctypes.c_int, P)
    fn("sl_loss_nparams", ctypes.c_int, P)
    fn("sl_loss_param", ctypes.c_int, P, ctypes.c_int, ctypes.POINTER(ParamInfo))
    fn("sl_isa", ctypes.c_char_p)
    fn("sl_spec_parse", st, ctypes.c_char_p, ctypes.POINTER(P), pErr)
    fn("sl_spec_free", vp, P)
    fn("sl_spec_nterms", ctypes.c_int, P)
    fn("sl_spec_term", vp, P, ctypes.c_int, ctypes.POINTER(ctypes.c_double),
       ctypes.POINTER(P), ctypes.POINTER(P))
    fn("sl_spec_workspace_size", SZ, P, pBatch)
    fn("sl_spec_map_shape", st, P, pBatch, pShape, pErr)
    fn("sl_spec_eval", st, P, pBatch, st, pOut, pErr)
    fn("sl_spec_stats_size", st, P, pBatch, ctypes.POINTER(SZ), pErr)
    fn("sl_spec_stats", st, P, pBatch, st, P, pOut, pErr)
    fn("sl_spec_finish", st, P, pBatch, st, P, pOut, pErr)
    fn("sl_metrics_workspace_size", SZ, pShape, I64)
    fn("sl_metrics", st, P, P, pShape, I64, P, ctypes.POINTER(MetricsOpts), ctypes.POINTER(MetricsOut), P,
       SZ, pErr)
    fn("sl_rng_seed", vp, ctypes.POINTER(Rng), ctypes.c_uint32)
    fn("sl_masks_generate", st, P, I64, I64, I64, P, ctypes.POINTER(Rng), pErr)
    fn("sl_masks_to_labels", vp, P, I64, I64, I64, P)
    fn("sl_draw_ellipse", st, P, I64, I64, ctypes.c_double, ctypes.c_double, ctypes.c_double,
       ctypes.c_double, ctypes.c_double, pErr)
    fn("sl_draw_polygon", st, P, I64, I64, P, P, I64, pErr)
    fn("sl_draw_disk", st, P, I64, I64, ctypes.c_double, ctypes.c_double, ctypes.c_double, pErr)
    fn("sl_simulate_options_default", vp, ctypes.POINTER(SimulateOptions))
    fn("sl_simulate_workspace_size", SZ, I64, I64, I64)
    fn("sl_simulate_predictions", st, P, I64, I64, I64, I64, ctypes.POINTER(SimulateOptions),
       ctypes.POINTER(Rng), P, P, SZ, pErr)
    fn("sl_drop_annotations", st, P, I64, I64, I64, I64, ctypes.POINTER(Rng), P, pErr)
    return lib, path


lib, path = _load()


def check(status, err):
    """Raise the library's one-line message as a Python exception."""
    if status == OK:
        return
    msg = err.msg.decode("utf-8", "replace")
    if status == E_NOMEM:
        raise MemoryError(msg)
    if status == E_IO:
        raise OSError(msg)
    raise ValueError(msg)
