"""Type stubs of the compiled half of accelsim (python/src/lib.rs). The public API is in
``accelsim/__init__.py`` (typed inline); these functions return the CLI's JSON text."""

from typing import Any, Callable, List, Optional, Tuple

class Error(Exception):
    """An accelsim error, carrying the message the CLI prints, and the input file, 1-based
    line and column it names (None when it names none)."""

    file: Optional[str]
    line: Optional[int]
    column: Optional[int]

def run_json(
    hw: str,
    model: str,
    wbits: Optional[int] = None,
    abits: Optional[int] = None,
    sets: List[str] = ...,
    objective: str = "latency",
    layer_bits: List[str] = ...,
    width: float = 1.0,
    resolution: Optional[int] = None,
    accuracy: bool = True,
) -> str:
    """``accelsim run ... --format json`` (compact), GIL released."""

def sweep_json(argv: List[str], progress: Optional[Callable[[int, int], Any]] = None) -> str:
    """``accelsim sweep ARGV... --format json`` (rows to the returned text), GIL released;
    ``progress(done, total)`` after each batch of points (an exception it raises stops the sweep)."""

def sweep_file(argv: List[str], progress: Optional[Callable[[int, int], Any]] = None) -> None:
    """``accelsim sweep ARGV...`` writing the CSV of ``--out`` (continued with ``--resume``) as the
    CLI does; GIL released."""

def models() -> List[Tuple[str, str, int, int]]:
    """(name, title, MACs, parameters) of each built-in network."""

def hw_toml(spec: str, sets: List[str] = ...) -> str:
    """The TOML of a description with ``PATH=VALUE`` overrides applied, validated."""

def exec_batch(model: str, inputs: Any, layout: Optional[str] = None, input_shapes: List[str] = ...) -> List[Any]:
    """One ``[N, ...]`` numpy array per model output (``accelsim exec`` of a batch), GIL released.
    ``inputs`` is a float32 or an int8/uint8/int16/int32 numpy array."""

def quantize_json(argv: List[str]) -> str:
    """``accelsim quantize ARGV... --format json``: writes the model, returns the report; GIL released."""

def search_run(argv: List[str]) -> None:
    """``accelsim search ARGV...`` (the CSV goes to ``--out``); GIL released."""

def sensitivity_run(argv: List[str]) -> None:
    """``accelsim sensitivity ARGV...`` (the CSV goes to ``--out``); GIL released."""
