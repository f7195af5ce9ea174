"""accelsim from Python: the simulator and cost model of the ``accelsim`` command line,
called in-process (no subprocess), with the same numbers as the CLI's JSON output.

>>> import accelsim
>>> accelsim.run("mac8", "mnv1").totals["cycles"]  # doctest: +SKIP

Tables (``Result.layers``, ``sweep``) are ``pandas.DataFrame`` objects when pandas is
installed, else lists of dicts. Every failure raises :class:`accelsim.Error` with the CLI's
message.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from . import _native
from ._native import Error

# Errors that name no place in an input file keep these defaults.
Error.file = None
Error.line = None
Error.column = None

__all__ = ["Error", "Result", "Accelerator", "run", "sweep", "evaluate", "models", "exec", "quantize", "search", "sensitivity"]


def _table(rows: List[Dict[str, Any]]):
    """A DataFrame when pandas is importable, else the list of dicts itself."""
    try:
        import pandas
    except ImportError:
        return rows
    return pandas.DataFrame(rows)


def _text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _sets(set: Optional[Mapping[str, Any]], many: bool) -> List[str]:
    """``{"mac.rows": 16}`` -> ``["mac.rows=16"]`` (lists joined with commas for sweeps)."""
    out = []
    for path, value in (set or {}).items():
        if many and isinstance(value, (list, tuple, range)):
            out.append(f"{path}={','.join(_text(x) for x in value)}")
        else:
            out.append(f"{path}={_text(value)}")
    return out


def _list(v: Union[str, int, Iterable, None]) -> list:
    if v is None:
        return []
    if isinstance(v, (str, int)):
        return [v]
    return list(v)


def _spec(hw: Union[str, "Accelerator"]) -> tuple:
    if isinstance(hw, Accelerator):
        return hw.spec, list(hw._sets)
    return str(hw), []


class Result:
    """The report of one run: ``totals`` (a dict), ``layers`` (a table, one row per
    layer) and ``notes``; ``json`` is the whole report as the CLI's ``--format json``."""

    def __init__(self, report: Dict[str, Any]):
        self.json: Dict[str, Any] = report
        self.totals: Dict[str, Any] = report.get("totals", {})
        self.layers = _table(report.get("layers", []))
        self.notes: List[str] = report.get("notes", [])

    def __repr__(self) -> str:
        t = self.totals
        return f"Result(cycles={t.get('cycles')}, energy_pj={t.get('energy_pj')})"


def run(
    hw: Union[str, "Accelerator"],
    model: str,
    wbits: Optional[int] = None,
    abits: Optional[int] = None,
    set: Optional[Mapping[str, Any]] = None,
    objective: str = "latency",
    layer_bits: Sequence[str] = (),
    width: float = 1.0,
    resolution: Optional[int] = None,
    accuracy: bool = True,
    batch: int = 1,
    phase: Optional[str] = None,
    seq_len: Optional[int] = None,
    kv_len: Optional[int] = None,
    kv_bits: Optional[int] = None,
    kv_group: Optional[int] = None,
    kv_group_zero_point: bool = False,
    wgroup: Optional[int] = None,
    wgroup_zero_point: bool = False,
    act_scales: str = "static",
) -> Result:
    """``accelsim run --hw HW --model MODEL [--wbits W] [--abits A] [--set PATH=V ...]``.

    ``hw`` is a preset name, a description file or an :class:`Accelerator`; ``model`` a
    built-in name or a model file. ``wbits``/``abits`` default to 8 (a model that carries
    its own quantization keeps it unless they are given). ``set`` maps description fields
    to values (``{"mac.rows": 16}``). ``accuracy=False`` is ``--no-accuracy``. The other
    keywords are the CLI's flags of the same names (``--batch``; transformers: ``--phase
    prefill|decode``, ``--seq-len``, ``--kv-len``, ``--kv-bits``, ``--kv-group``,
    ``--kv-group-zero-point``; ``--wgroup``, ``--wgroup-zero-point``, ``--act-scales
    static|dynamic|dynamic-asym``).
    """
    spec, sets = _spec(hw)
    text = _native.run_json(
        spec, model, wbits, abits, sets + _sets(set, False), objective, list(layer_bits), width, resolution, accuracy,
        batch, phase, seq_len, kv_len, kv_bits, kv_group, kv_group_zero_point, wgroup, wgroup_zero_point, act_scales,
    )
    return Result(json.loads(text))


def _joined(values: Iterable[Any]) -> str:
    return ",".join(_text(v) for v in values)


def _hw_list(hw: Any) -> tuple:
    """Sweep ``hw`` entries: names/paths, or Accelerators (whose overrides must agree, as
    the CLI applies ``--set`` to every description)."""
    specs, sets = [], None
    for h in _list(hw) if not isinstance(hw, Accelerator) else [hw]:
        spec, s = _spec(h)
        if sets is not None and s != sets:
            raise Error("sweep: Accelerators with different overrides; give set= instead")
        specs.append(spec)
        sets = s
    return specs, sets or []


def sweep(
    hw: Union[str, "Accelerator", Sequence[Union[str, "Accelerator"]], None] = None,
    model: Union[str, Sequence[str], None] = None,
    wbits: Union[int, Sequence[int], None] = None,
    abits: Union[int, Sequence[int], None] = None,
    set: Optional[Mapping[str, Any]] = None,
    names: Sequence[str] = (),
    width: float = 1.0,
    resolution: Optional[int] = None,
    per_layer: bool = False,
    functional: bool = False,
    objective: Optional[str] = None,
    threads: Optional[int] = None,
    progress: Any = None,
    out: Union[str, "os.PathLike[str]", None] = None,
    resume: bool = False,
    **options: Any,
):
    """``accelsim sweep``: every combination of the lists, one row per design point (and one
    per layer with ``per_layer``), with the CLI's columns. ``set`` maps a description field
    to a value or a list of values (``{"mac.rows": [16, 32, 64]}``). Runs on ``threads``
    worker threads (default: all cores) with the GIL released.

    The sweep's other options are keywords as in :func:`quantize`: ``config="sweep.toml"``
    (instead of the lists), ``calib=``/``eval=``/``labels=`` (paths or numpy arrays, with
    ``functional=True``), ``granularity="per-tensor"``, ``shard="0/4"``, and the transformer
    axes as lists: ``phase=["prefill", "decode"]``, ``seq_len=[128]``, ``kv_len=[1024, 4096]``,
    ``kv_bits=[16, 8, 4]``, ``kv_group=[-1, 64]``, ``wgroup=[-1, 128]``,
    ``act_scales=["static", "dynamic"]``.

    ``progress`` is a callable ``progress(done, total)`` called after each batch of points
    (an exception it raises stops the sweep and is raised here), or ``True`` for a bar
    (tqdm's, which notebooks draw, when tqdm is installed; else a line on stderr).

    ``out="sweep.csv"`` also writes the CLI's CSV there as the points finish, and
    ``resume=True`` continues that file after an interruption (``--out F --resume``: the
    points already in it are not run again); the table returned is then the whole file's."""
    import tempfile

    if resume and out is None:
        raise Error("resume=True continues the CSV file of out=; give out=")

    specs, hw_sets = _hw_list(hw)
    argv: List[str] = []
    for flag, values in (("--hw", specs), ("--model", [str(m) for m in _list(model)]), ("--name", list(names)),
                         ("--wbits", _list(wbits)), ("--abits", _list(abits))):
        if values:
            argv += [flag, _joined(values)]
    for s in hw_sets + _sets(set, True):
        argv += ["--set", s]
    if width != 1.0:
        argv += ["--width", _text(width)]
    as_rows = options.pop("_rows", False)
    options = {"resolution": resolution, "per_layer": per_layer, "functional": functional,
               "objective": objective, "threads": threads, **options}
    bar = None
    if progress is True:
        progress, bar = _progress_bar()
    try:
        with tempfile.TemporaryDirectory(prefix="accelsim-") as tmp:
            if out is None:
                text = _native.sweep_json(argv + _argv(options, tmp), progress or None)
            else:
                file = ["--out", os.fspath(out), "--format", "csv"] + (["--resume"] if resume else [])
                _native.sweep_file(argv + _argv(options, tmp) + file, progress or None)
    finally:
        if bar is not None:
            bar.close()
    rows = json.loads(text) if out is None else _csv_rows(out)
    return rows if as_rows else _table(rows)


def _csv_rows(path: Union[str, "os.PathLike[str]"]) -> List[Dict[str, Any]]:
    """A sweep CSV's rows, numbers as numbers and empty cells as None (as the JSON rows)."""
    import csv

    def value(cell: str) -> Any:
        if cell == "":
            return None
        for kind in (int, float):
            try:
                return kind(cell)
            except ValueError:
                pass
        return cell

    with open(path, newline="") as f:
        return [{k: value(v) for k, v in row.items()} for row in csv.DictReader(f)]


def _progress_bar():
    """A ``(callback, closer)`` pair drawing the sweep's progress: tqdm's bar when tqdm is
    installed, else a line on stderr rewritten in place."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        import sys

        class _Line:
            def __call__(self, done: int, total: int) -> None:
                sys.stderr.write(f"\r{done}/{total} points")
                sys.stderr.flush()

            def close(self) -> None:
                sys.stderr.write("\n")

        line = _Line()
        return line, line
    t = tqdm(total=None, unit="points")

    def update(done: int, total: int) -> None:
        t.total = total
        t.update(done - t.n)

    return update, t


def evaluate(point: Mapping[str, Any]) -> Dict[str, Any]:
    """One design point, for optimizers that propose one design at a time: ``point`` has
    ``hw`` and ``model`` and optionally ``wbits``, ``abits``, ``set`` (field -> one value),
    ``objective``, ``functional``; the result is the sweep's row for it, as a dict. A point
    that fails raises :class:`Error` (the row's ``error`` column)."""
    known = {"hw", "model", "wbits", "abits", "set", "objective", "functional", "width", "resolution"}
    unknown = sorted(k for k in point if k not in known)
    if unknown:
        raise Error(f"evaluate: unknown keys {unknown}; known: {sorted(known)}")
    for key in ("hw", "model"):
        if key not in point:
            raise Error(f"evaluate: the point needs '{key}'")
    sets = {k: [v] if isinstance(v, (list, tuple, range)) else v for k, v in (point.get("set") or {}).items()}
    rows = sweep(
        point["hw"] if isinstance(point["hw"], Accelerator) else str(point["hw"]),
        str(point["model"]),
        point.get("wbits"),
        point.get("abits"),
        sets,
        width=point.get("width", 1.0),
        resolution=point.get("resolution"),
        functional=bool(point.get("functional", False)),
        objective=point.get("objective"),
        threads=1,
        _rows=True,
    )
    if len(rows) != 1:
        raise Error(f"evaluate: expected one row, got {len(rows)}")
    row = rows[0]
    if row.get("error"):
        raise Error(row["error"])
    return row


def exec(
    model: Union[str, "os.PathLike[str]"],
    inputs: Any,
    layout: Optional[str] = None,
    input_shapes: Sequence[str] = (),
):
    """``accelsim exec`` of a batch held in memory: runs every item of ``inputs``
    (``[N, ...]``, each item the model input without its batch dimension) bit-exactly on
    the model's kernels (``.tflite``, ``.onnx`` or ``.aqm``), in parallel with the GIL
    released.

    ``inputs`` is either float values (any float dtype; converted to float32, then, for an
    integer input, quantized with its scale and zero point as TFLite's QUANTIZE does) or
    raw integers of the input's own type (``int8``, ``uint8``, ``int16``, ``int32``), read
    in place (any strides, as an ndarray view). ``layout`` is ``"nchw"`` or ``"nhwc"`` for rank-4 inputs and
    outputs (required for an ONNX model's rank-4 input, as ``--layout``); ``input_shapes``
    as ``--input-shape`` (``["input=1x3x32x32"]``).

    Returns ``[N, ...]`` numpy arrays in each output's own element type: the array itself
    for a model with one output, else a tuple in the model's output order. The results are
    the bytes ``accelsim exec --input BATCH.npy`` writes.
    """
    import numpy

    x = numpy.asarray(inputs)
    if x.dtype.kind == "f" and x.dtype != numpy.float32:
        x = x.astype(numpy.float32)
    outs = _native.exec_batch(os.fspath(model), x, layout, list(input_shapes))
    return outs[0] if len(outs) == 1 else tuple(outs)


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


_ARRAYS = ("calib", "eval", "labels")


def _argv(options: Mapping[str, Any], tmp: str) -> List[str]:
    """Keyword options as command-line arguments: ``_`` -> ``-``, ``True`` a flag (``False``
    and ``None`` left out), lists repeated, numpy arrays for ``calib``/``eval``/``labels``
    saved as ``.npy`` files in ``tmp``."""
    argv: List[str] = []
    for key, value in options.items():
        if key == "format":
            raise Error("the report's format is fixed here ('format' is the CLI's option)")
        if value is None or value is False:
            continue
        if value is True:
            argv.append(_flag(key))
        elif key in _ARRAYS and not isinstance(value, (str, os.PathLike)):
            import numpy

            path = os.path.join(tmp, f"{key}.npy")
            numpy.save(path, numpy.asarray(value))
            argv += [_flag(key), path]
        elif isinstance(value, (list, tuple)):
            for v in value:
                argv += [_flag(key), _text(v)]
        else:
            argv += [_flag(key), os.fspath(value) if isinstance(value, os.PathLike) else _text(value)]
    return argv


def quantize(model: str, out: Union[str, "os.PathLike[str]"], **options: Any) -> Dict[str, Any]:
    """``accelsim quantize --model MODEL --out OUT [options]``: writes the quantized model
    (``.aqm``, ``.tflite`` or ``.onnx``, from ``out``'s extension) and returns the report of
    ``--format json`` as a dict.

    Every option of the command is a keyword, with ``_`` for ``-``: ``wbits=4``,
    ``weight_method="mse"``, ``cle=True`` (a flag), ``layer_bits=["conv1=w8a8"]`` (repeated).
    ``calib``, ``eval`` and ``labels`` take a ``.npy`` path or a numpy array (written to a
    temporary ``.npy`` for the call). Runs with the GIL released.
    """
    import tempfile

    with tempfile.TemporaryDirectory(prefix="accelsim-") as tmp:
        argv = ["--model", str(model), "--out", os.fspath(out)] + _argv(options, tmp)
        return json.loads(_native.quantize_json(argv))


def _number(v: str) -> Any:
    for kind in (int, float):
        try:
            return kind(v)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(v, v)


def _csv_table(path: str):
    """A CSV the CLI wrote, as a table (numbers and booleans parsed)."""
    import csv

    with open(path, newline="") as f:
        return _table([{k: _number(v) for k, v in r.items()} for r in csv.DictReader(f)])


def _csv_command(run, options: Dict[str, Any]):
    import tempfile

    with tempfile.TemporaryDirectory(prefix="accelsim-") as tmp:
        out = options.pop("out", None)
        path = os.fspath(out) if out is not None else os.path.join(tmp, "out.csv")
        run(_argv(options, tmp) + ["--out", path])
        return _csv_table(path)


def search(hw: Union[str, "Accelerator"], model: str, calib: Any, eval: Any, **options: Any):
    """``accelsim search``: per-layer bit widths searched against the accelerator's cost; the
    front as a table (the CLI's CSV columns, one row per verified point and layer). Options
    as in :func:`quantize` (``labels=``, ``wbits=[2, 4, 8]`` is ``--wbits 2,4,8``,
    ``constraint="top1>=0.97"``, ``export="chosen.aqm"``, ``out="front.csv"`` keeps the CSV).
    """
    spec, sets = _spec(hw)
    for key in ("wbits", "abits", "accumulator_bits"):
        if isinstance(options.get(key), (list, tuple, range)):
            options[key] = ",".join(_text(x) for x in options[key])
    options["set"] = sets + list(_sets(options.pop("set", None), False))
    options = {"hw": spec, "model": model, "calib": calib, "eval": eval, **options}
    return _csv_command(_native.search_run, options)


def sensitivity(model: str, calib: Any, eval: Any, **options: Any):
    """``accelsim sensitivity``: each layer's quantization sensitivity at each width, as a
    table (the CLI's CSV columns). Options as in :func:`quantize` (``bits=[2, 4, 8]``,
    ``what="activations"``, ``labels=``, ``out="s.csv"`` keeps the CSV)."""
    if isinstance(options.get("bits"), (list, tuple, range)):
        options["bits"] = ",".join(_text(x) for x in options["bits"])
    options = {"model": model, "calib": calib, "eval": eval, **options}
    return _csv_command(_native.sensitivity_run, options)


def models() -> List[Dict[str, Any]]:
    """The built-in networks (as ``accelsim models`` lists them): name, title, MACs and
    parameters."""
    return [
        {"name": n, "title": t, "macs": macs, "params": params} for (n, t, macs, params) in _native.models()
    ]


class Accelerator:
    """An accelerator description: a preset name or a TOML file, plus field overrides."""

    def __init__(self, spec: str, sets: Sequence[str] = ()):
        self.spec = str(spec)
        self._sets = list(sets)

    @classmethod
    def load(cls, path_or_preset: str) -> "Accelerator":
        """Loads (and validates) a description file or a preset."""
        acc = cls(str(path_or_preset))
        acc.to_toml()
        return acc

    def with_(self, **overrides: Any) -> "Accelerator":
        """A copy with fields set; nested fields use ``__`` for the dots
        (``with_(mac__rows=16)`` is ``--set mac.rows=16``); ``with_(**{"mac.rows": 16})``
        works too. The result is validated."""
        sets = [f"{k.replace('__', '.')}={_text(v)}" for k, v in overrides.items()]
        acc = Accelerator(self.spec, self._sets + sets)
        acc.to_toml()
        return acc

    def to_toml(self) -> str:
        """The description's TOML, overrides applied."""
        return _native.hw_toml(self.spec, self._sets)

    def __repr__(self) -> str:
        return f"Accelerator({self.spec!r}, sets={self._sets!r})"
