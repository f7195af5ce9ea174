"""Python results == CLI results for the same inputs. The CLI binary is run here (in the
tests only) through subprocess: $ACCELSIM_BIN, else the repository's target/release or
target/debug build."""

import json
import os
import subprocess
from pathlib import Path

import pytest

import accelsim

ROOT = Path(__file__).resolve().parents[2]


def cli_bin() -> str:
    env = os.environ.get("ACCELSIM_BIN")
    if env:
        return env
    for p in (ROOT / "target" / "release" / "accelsim", ROOT / "target" / "debug" / "accelsim"):
        if p.exists():
            return str(p)
    pytest.skip("no accelsim binary: build it or set ACCELSIM_BIN")


def cli(*args: str) -> str:
    out = subprocess.run([cli_bin(), *args], check=True, capture_output=True, text=True, cwd=ROOT)
    return out.stdout


def rows(table):
    """A DataFrame or a list of dicts, as a list of dicts (NaN for missing -> None)."""
    if isinstance(table, list):
        return table
    return [{k: (None if v != v else v) for k, v in r.items()} for r in table.to_dict("records")]


def test_run_matches_cli_json():
    py = accelsim.run("mac8", "mnv1", wbits=4, abits=8, set={"mac.rows": 16})
    c = json.loads(cli("run", "--hw", "mac8", "--model", "mnv1", "--wbits", "4", "--abits", "8",
                       "--set", "mac.rows=16", "--format", "json"))
    assert py.json == c
    assert py.totals == c["totals"]
    assert py.totals["cycles"] > 0
    assert len(py.layers) == len(c["layers"])


def test_run_takes_the_transformer_flags():
    py = accelsim.run("nvdla_full", "gpt2", wbits=4, abits=8, phase="decode", kv_len=64, kv_bits=4, kv_group=32,
                      wgroup=128, act_scales="dynamic", batch=2, accuracy=False)
    c = json.loads(cli("run", "--hw", "nvdla_full", "--model", "gpt2", "--wbits", "4", "--abits", "8",
                       "--phase", "decode", "--kv-len", "64", "--kv-bits", "4", "--kv-group", "32",
                       "--wgroup", "128", "--act-scales", "dynamic", "--batch", "2", "--no-accuracy",
                       "--format", "json"))
    assert py.json == c
    assert py.json["sequence"]["kv_group"] == 32
    with pytest.raises(accelsim.Error, match="act_scales: 'per-row' is not one of static, dynamic, dynamic-asym"):
        accelsim.run("nvdla_full", "gpt2", act_scales="per-row", accuracy=False)
    with pytest.raises(accelsim.Error, match="--phase decode needs --kv-len"):
        accelsim.run("nvdla_full", "gpt2", phase="decode", accuracy=False)


def test_run_objective_and_accelerator_object():
    acc = accelsim.Accelerator.load("systolic32").with_(mac__rows=16)
    py = accelsim.run(acc, "resnet18", objective="energy", accuracy=False)
    c = json.loads(cli("run", "--hw", "systolic32", "--set", "mac.rows=16", "--model", "resnet18",
                       "--objective", "energy", "--no-accuracy", "--format", "json"))
    assert py.json == c


def test_sweep_matches_cli_json():
    py = accelsim.sweep(hw=["mac8", "systolic32"], model="mnv1", wbits=[4, 8], set={"mac.rows": [16, 32]})
    c = json.loads(cli("sweep", "--hw", "mac8,systolic32", "--model", "mnv1", "--wbits", "4,8",
                       "--set", "mac.rows=16,32", "--format", "json"))
    assert len(c) == 8
    got = rows(py)
    assert [set(r) for r in got] == [set(r) for r in c]
    assert got == c
    if not isinstance(py, list):
        assert list(py.columns) == list(c[0].keys())


def test_sweep_takes_the_transformer_axes():
    py = rows(accelsim.sweep(hw="mac8", model="gpt2", wbits=4, phase="decode", kv_len=[64, 128], kv_bits=[8, 4],
                             kv_group=[-1, 32], wgroup=128, act_scales=["static", "dynamic"]))
    c = json.loads(cli("sweep", "--hw", "mac8", "--model", "gpt2", "--wbits", "4", "--phase", "decode",
                       "--kv-len", "64,128", "--kv-bits", "8,4", "--kv-group", "-1,32", "--wgroup", "128",
                       "--act-scales", "static,dynamic", "--format", "json"))
    assert py == c and len(c) == 16
    assert {r["kv_group"] for r in c} == {"none", 32} and {r["tokens"] for r in c} == {1}


def test_evaluate_is_the_sweep_row():
    row = accelsim.evaluate({"hw": "mac8", "model": "mnv1", "wbits": 4, "set": {"mac.rows": 32}})
    c = json.loads(cli("sweep", "--hw", "mac8", "--model", "mnv1", "--wbits", "4", "--set", "mac.rows=32",
                       "--format", "json"))
    assert row == c[0]


def test_models_lists_the_builtins():
    names = [m["name"] for m in accelsim.models()]
    assert "mnv1" in names and "resnet50" in names
    listed = cli("models")
    for n in names:
        assert n in listed


def test_to_toml_round_trips():
    acc = accelsim.Accelerator.load("mac8")
    assert "[" in acc.to_toml()
    assert acc.with_(**{"mac.rows": 16}).to_toml() != acc.to_toml()


def test_errors_carry_the_cli_message():
    with pytest.raises(accelsim.Error) as e:
        accelsim.run("no_such_hw", "mnv1")
    r = subprocess.run([cli_bin(), "run", "--hw", "no_such_hw", "--model", "mnv1"], capture_output=True, text=True)
    assert r.returncode != 0
    # The CLI's first line of the diagnostic names the same problem.
    assert "no_such_hw" in str(e.value) and "no_such_hw" in r.stderr
    with pytest.raises(accelsim.Error, match="wbits"):
        accelsim.run("mac8", "mnv1", wbits=1)
    with pytest.raises(accelsim.Error, match="mac.rows"):
        accelsim.Accelerator.load("mac8").with_(mac__rows=0)
    with pytest.raises(accelsim.Error):
        accelsim.evaluate({"hw": "mac8"})
    assert issubclass(accelsim.Error, Exception)


SHARED = ROOT.parent / "shared" / "tflite"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not here")
    return path


def test_exec_is_bit_exact_with_litert_and_equals_the_cli(tmp_path):
    np = pytest.importorskip("numpy")
    model = need(SHARED / "models" / "tiny_int8.tflite")
    golden = SHARED / "golden" / "tiny_int8"
    manifest = json.loads((golden / "manifest.json").read_text())
    samples = manifest["samples"]
    raw = np.stack([np.fromfile(golden / s["inputs"][0]["file"], dtype=np.int8).reshape(s["inputs"][0]["shape"][1:])
                    for s in samples])
    want = np.stack([np.fromfile(golden / s["outputs"][0]["file"], dtype=np.int8).reshape(s["outputs"][0]["shape"][1:])
                     for s in samples])
    got = accelsim.exec(model, raw)
    assert got.dtype == np.int8 and got.shape == want.shape
    assert np.array_equal(got, want)
    # A non-contiguous array is read in its logical order, in place.
    fortran = np.asfortranarray(raw)
    assert not fortran.flags.c_contiguous
    assert np.array_equal(accelsim.exec(model, fortran), want)
    # Float items are quantized with the input's parameters, as the CLI's batch does;
    # float64 is accepted and converted.
    floats = np.load(need(SHARED / "data" / "tiny_golden_float_inputs.npy"))
    got = accelsim.exec(str(model), floats.astype(np.float64))
    cli("exec", "--model", str(model), "--input", str(SHARED / "data" / "tiny_golden_float_inputs.npy"),
        "--output", str(tmp_path / "out.bin"))
    assert got.tobytes() == (tmp_path / "out.bin").read_bytes()


def test_exec_of_an_onnx_model_takes_its_nchw_layout(tmp_path):
    np = pytest.importorskip("numpy")
    fixtures = ROOT / "tests" / "fixtures" / "onnx_export"
    model, x = fixtures / "digits_w8a8.onnx", fixtures / "digits_w8a8.in.npy"
    with pytest.raises(accelsim.Error, match="layout"):
        accelsim.exec(model, np.load(x))
    got = accelsim.exec(model, np.load(x), layout="nchw")
    cli("exec", "--model", str(model), "--input", str(x), "--layout", "nchw", "--output", str(tmp_path / "o.bin"))
    assert got.dtype == np.float32
    assert got.tobytes() == (tmp_path / "o.bin").read_bytes()
    # The same NCHW values as a strided view (every other column of a wider buffer).
    nchw = np.load(x)
    strided = np.repeat(nchw, 2, axis=3)[..., ::2]
    assert not strided.flags.c_contiguous and np.array_equal(strided, nchw)
    assert accelsim.exec(model, strided, layout="nchw").tobytes() == got.tobytes()


def test_exec_refuses_batches_that_do_not_fit():
    np = pytest.importorskip("numpy")
    model = need(SHARED / "models" / "tiny_int8.tflite")
    with pytest.raises(accelsim.Error, match="does not hold items"):
        accelsim.exec(model, np.zeros((2, 8, 8, 3), dtype=np.float32))
    with pytest.raises(accelsim.Error, match="raw integers"):
        accelsim.exec(model, np.zeros((2, 16, 16, 3), dtype=np.int16))
    with pytest.raises(accelsim.Error, match="does not hold items"):
        accelsim.exec(model, np.zeros((0, 16, 16, 3), dtype=np.float32))


def test_quantize_writes_the_cli_model_and_returns_its_report(tmp_path):
    np = pytest.importorskip("numpy")
    model = need(SHARED / "models" / "tiny_float32.tflite")
    calib = np.load(need(SHARED / "data" / "tiny_golden_float_inputs.npy"))
    np.save(tmp_path / "calib.npy", calib)
    py = accelsim.quantize(str(model), tmp_path / "py.aqm", wbits=4, weight_method="mse", calib=calib,
                           eval=tmp_path / "calib.npy", bias_correction=True)
    cli("quantize", "--model", str(model), "--out", str(tmp_path / "cli.aqm"), "--wbits", "4",
        "--weight-method", "mse", "--calib", str(tmp_path / "calib.npy"), "--eval", str(tmp_path / "calib.npy"),
        "--bias-correction")
    assert (tmp_path / "py.aqm").read_bytes() == (tmp_path / "cli.aqm").read_bytes()
    assert py["config"]["widths"] == "w4a8" and py["config"]["weight_method"] == "mse"
    assert py["output"]["inputs"] == len(calib)
    # The quantized model runs from Python too.
    assert accelsim.exec(tmp_path / "py.aqm", calib).shape[0] == len(calib)
    with pytest.raises(accelsim.Error, match="wbits"):
        accelsim.quantize(str(model), tmp_path / "bad.aqm", wbits=1, calib=calib)
    with pytest.raises(accelsim.Error, match="no-such-option"):
        accelsim.quantize(str(model), tmp_path / "bad.aqm", no_such_option=3)


def test_errors_name_the_file_line_and_column(tmp_path):
    bad = tmp_path / "bad.toml"
    good = accelsim.Accelerator.load("mac8").to_toml().splitlines()
    # A field of the wrong type on a known line.
    i = next(k for k, l in enumerate(good) if l.startswith("clock_mhz"))
    good[i] = 'clock_mhz = "fast"'
    bad.write_text("\n".join(good) + "\n")
    with pytest.raises(accelsim.Error) as e:
        accelsim.run(str(bad), "mnv1")
    assert "clock_mhz" in str(e.value)
    assert e.value.file == str(bad)
    assert e.value.line == i + 1 and e.value.column is not None
    r = subprocess.run([cli_bin(), "run", "--hw", str(bad), "--model", "mnv1"], capture_output=True, text=True)
    assert r.returncode != 0
    # The CLI shows the same line (miette wraps its first line at 80 columns).
    assert f" {e.value.line} │ clock_mhz" in r.stderr and "clock_mhz" in r.stderr
    with pytest.raises(accelsim.Error) as e:
        accelsim.run("mac8", "mnv1", wbits=1)
    assert e.value.file is None and e.value.line is None


def test_search_and_sensitivity_are_the_cli_csvs(tmp_path):
    np = pytest.importorskip("numpy")
    model = need(SHARED / "models" / "tiny_float32.tflite")
    data = need(SHARED / "data" / "tiny_golden_float_inputs.npy")
    x = np.load(data)
    sens = rows(accelsim.sensitivity(str(model), x, data, bits=[4, 8], out=tmp_path / "py_sens.csv"))
    cli("sensitivity", "--model", str(model), "--calib", str(data), "--eval", str(data), "--bits", "4,8",
        "--out", str(tmp_path / "cli_sens.csv"))
    assert (tmp_path / "py_sens.csv").read_bytes() == (tmp_path / "cli_sens.csv").read_bytes()
    assert {(r["layer"], r["bits"]) for r in sens} >= {("op0_conv2d", 4), ("op0_conv2d", 8)}
    front = rows(accelsim.search(accelsim.Accelerator.load("mac8").with_(mac__rows=16), str(model), x, x,
                                 wbits=[4, 8], out=tmp_path / "py_front.csv"))
    cli("search", "--hw", "mac8", "--set", "mac.rows=16", "--model", str(model), "--calib", str(data),
        "--eval", str(data), "--wbits", "4,8", "--out", str(tmp_path / "cli_front.csv"))
    assert (tmp_path / "py_front.csv").read_bytes() == (tmp_path / "cli_front.csv").read_bytes()
    chosen = [r for r in front if r["chosen"] is True]
    assert len(chosen) == 1 and chosen[0]["energy_pj"] > 0
    # Without out= the table comes back and no file is left.
    assert len(rows(accelsim.sensitivity(str(model), x, x, bits=[8]))) == len([r for r in sens if r["bits"] == 8])
    with pytest.raises(accelsim.Error, match="bits"):
        accelsim.sensitivity(str(model), x, x, bits=[1])


def test_sweep_takes_the_clis_other_options(tmp_path):
    np = pytest.importorskip("numpy")
    config = tmp_path / "s.toml"
    config.write_text('hw = ["mac8"]\nmodel = ["mnv1"]\nwbits = [4, 8]\n')
    py = rows(accelsim.sweep(config=config))
    c = json.loads(cli("sweep", "--config", str(config), "--format", "json"))
    assert py == c and len(c) == 2
    shard = rows(accelsim.sweep(hw="mac8", model="mnv1", wbits=[2, 4, 8], shard="1/3"))
    assert shard == json.loads(cli("sweep", "--hw", "mac8", "--model", "mnv1", "--wbits", "2,4,8", "--shard", "1/3",
                                   "--format", "json"))
    model = need(SHARED / "models" / "tiny_float32.tflite")
    data = need(SHARED / "data" / "tiny_golden_float_inputs.npy")
    f = rows(accelsim.sweep(hw="mac8", model=str(model), wbits=[4, 8], functional=True, calib=np.load(data),
                            eval=data, granularity="per-tensor"))
    c = json.loads(cli("sweep", "--hw", "mac8", "--model", str(model), "--wbits", "4,8", "--functional",
                       "--calib", str(data), "--eval", str(data), "--granularity", "per-tensor", "--format", "json"))
    # The rows name their calibration file: here a temporary copy of the array.
    assert [r.pop("functional_inputs").split(" ")[1] for r in f] == [r.pop("functional_inputs").split(" ")[1] for r in c]
    assert f == c and all(r["error"] is None for r in f)
    with pytest.raises(accelsim.Error, match="functional"):
        accelsim.sweep(hw="mac8", model="mnv1", calib=data)


def test_sweep_reports_progress_and_stops_when_the_callback_raises():
    seen = []
    rows_ = rows(accelsim.sweep(hw="mac8", model="mnv1", wbits=list(range(2, 17)), threads=1,
                                progress=lambda done, total: seen.append((done, total))))
    assert len(rows_) == 15
    assert seen and seen[-1] == (15, 15) and all(t == 15 for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)

    class Stop(Exception):
        pass

    def stop(done, total):
        raise Stop(f"{done}/{total}")

    with pytest.raises(Stop):
        accelsim.sweep(hw="mac8", model="mnv1", wbits=list(range(2, 17)), threads=1, progress=stop)
    assert len(rows(accelsim.sweep(hw="mac8", model="mnv1", wbits=[4, 8], progress=True))) == 2


def test_sweep_writes_the_clis_csv_and_resumes_it(tmp_path):
    kw = dict(hw="mac8", model="mnv1", wbits=8, set={"mac.rows": list(range(2, 42))}, threads=1)
    whole = tmp_path / "whole.csv"
    cli("sweep", "--hw", "mac8", "--model", "mnv1", "--wbits", "8", "--set",
        "mac.rows=" + ",".join(str(r) for r in range(2, 42)), "--threads", "1", "--out", str(whole))

    class Stop(Exception):
        pass

    def stop(done, total):
        raise Stop(f"{done}/{total}")

    # Interrupted after its first batch of points, then continued.
    part = tmp_path / "part.csv"
    with pytest.raises(Stop):
        accelsim.sweep(**kw, out=part, progress=stop)
    written = len(part.read_text().splitlines()) - 1
    assert 0 < written < 40
    got = rows(accelsim.sweep(**kw, out=part, resume=True))
    assert part.read_bytes() == whole.read_bytes()
    # The table is the whole file's, with the JSON rows' values.
    want = rows(accelsim.sweep(**kw))
    assert len(got) == len(want) == 40
    for g, w in zip(got, want):
        assert set(g) == set(w)
        for k in w:
            if isinstance(w[k], float):
                assert g[k] == pytest.approx(w[k], rel=1e-11), k
            else:
                assert g[k] == w[k], k
    with pytest.raises(accelsim.Error, match="out="):
        accelsim.sweep(**kw, resume=True)
