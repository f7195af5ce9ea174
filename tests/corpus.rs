//! The real-model corpus (`tests/corpus/`, made by `scripts/make_corpus.py`, issue 13): small
//! MobileNet-v3, EfficientNet-lite, BlazeFace, U-Net, keyword-spotting CRNN and YOLO-style
//! models exported by the TFLite converter (float32, fp16 weights, int8, 16x8), tf2onnx and
//! `torch.onnx.export` (float, and int8 QDQ by onnxruntime's `quantize_static`), with LiteRT
//! reference-kernel and onnxruntime goldens. Every model that works is imported and costed by
//! `accelsim run` (a row with cycles for every layer) and executed by `accelsim exec` on the
//! golden inputs within its tolerance; `docs/corpus.md` lists the rest and why.

mod common;

use common::{accelsim, read_npy, RawNpy as Npy};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// How close `accelsim exec` must come to the golden.
#[derive(Clone, Copy, Debug)]
enum Tol {
    /// Integer outputs at most this many LSBs apart (0: bit-exact).
    Lsb(i64),
    /// Float outputs within this error relative to the output's largest magnitude.
    Rel(f32),
}

/// The models that work, with their tolerance (the measured difference in `docs/corpus.md`).
const WORKS: &[(&str, Tol)] = &[
    ("blazeface_float32", Tol::Rel(1e-6)),
    ("blazeface_float32_dynbatch", Tol::Rel(1e-6)),
    ("blazeface_fp16", Tol::Rel(1e-6)),
    ("blazeface_int8", Tol::Lsb(0)),
    ("blazeface_keras_onnx", Tol::Rel(1e-5)),
    ("blazeface_torch_onnx", Tol::Rel(1e-5)),
    ("blazeface_torch_qdq", Tol::Rel(0.03)),
    ("efficientnet_lite_16x8", Tol::Rel(1e-6)),
    ("efficientnet_lite_float32", Tol::Rel(1e-6)),
    ("efficientnet_lite_fp16", Tol::Rel(1e-6)),
    ("efficientnet_lite_int8", Tol::Lsb(0)),
    ("efficientnet_lite_keras_onnx", Tol::Rel(1e-5)),
    ("efficientnet_lite_torch_onnx", Tol::Rel(1e-5)),
    ("efficientnet_lite_torch_qdq", Tol::Rel(0.03)),
    ("kws_gru_16x8", Tol::Rel(1e-6)),
    ("kws_gru_float32", Tol::Rel(1e-6)),
    ("kws_gru_fp16", Tol::Rel(1e-6)),
    ("kws_gru_int8", Tol::Lsb(0)),
    ("kws_gru_keras_onnx", Tol::Rel(1e-5)),
    ("kws_gru_torch_onnx", Tol::Rel(1e-5)),
    ("kws_lstm_16x8", Tol::Rel(1e-6)),
    ("kws_lstm_float32", Tol::Rel(1e-6)),
    ("kws_lstm_fp16", Tol::Rel(1e-6)),
    ("kws_lstm_int8", Tol::Lsb(0)),
    ("kws_lstm_keras_onnx", Tol::Rel(1e-5)),
    ("kws_lstm_torch_onnx", Tol::Rel(1e-5)),
    ("mobilenet_v3_float32", Tol::Rel(1e-6)),
    ("mobilenet_v3_fp16", Tol::Rel(1e-6)),
    ("mobilenet_v3_int8", Tol::Lsb(0)),
    ("mobilenet_v3_keras_onnx", Tol::Rel(1e-5)),
    ("mobilenet_v3_torch_onnx", Tol::Rel(1e-5)),
    ("mobilenet_v3_torch_onnx_dynamo", Tol::Rel(1e-5)),
    ("mobilenet_v3_torch_qdq", Tol::Rel(0.08)),
    ("unet_16x8", Tol::Rel(1e-6)),
    ("unet_float32", Tol::Rel(1e-6)),
    ("unet_fp16", Tol::Rel(1e-6)),
    ("unet_int8", Tol::Lsb(0)),
    ("unet_keras_onnx", Tol::Rel(1e-5)),
    ("unet_torch_onnx", Tol::Rel(1e-5)),
    ("unet_torch_qdq", Tol::Rel(0.025)),
    ("yolo_float32", Tol::Rel(1e-6)),
    ("yolo_fp16", Tol::Rel(1e-6)),
    ("yolo_int8", Tol::Lsb(0)),
    ("yolo_keras_onnx", Tol::Rel(1e-5)),
    ("yolo_torch_onnx", Tol::Rel(1e-5)),
    ("yolo_torch_qdq", Tol::Rel(0.02)),
];

/// The models that do not, with the blocker (`docs/corpus.md`). Not asserted to fail: a fix
/// elsewhere moves a model to `WORKS` when someone notices.
const BLOCKED: &[(&str, &str)] = &[("kws_gru_torch_qdq", FLOAT_RECURRENT), ("kws_lstm_torch_qdq", FLOAT_RECURRENT)];

/// Why the QDQ keyword spotters stay blocked (`qdq_recurrent_models_execute_but_need_a_float_mode`
/// checks both halves).
const FLOAT_RECURRENT: &str = "executes as onnxruntime does (quantize_static left the GRU / LSTM in float between \
     DequantizeLinear and QuantizeLinear), but `run --hw mac8` refuses its float32 GEMMs: no preset has a 32-bit mode \
     (the error names `--layer-bits` to cost that layer at 8 bits, which gives the full table)";

fn manifest() -> Value {
    let text = std::fs::read_to_string(dir().join("manifest.json")).expect("tests/corpus/manifest.json");
    serde_json::from_str(&text).expect("manifest.json parses")
}

/// One sample's bytes of a `[S, ...]` array.
fn sample(a: &Npy, s: usize) -> &[u8] {
    let n = a.data.len() / a.shape[0];
    &a.data[s * n..(s + 1) * n]
}

/// The largest difference of `got` from `want` (raw bytes of dtype `descr`): in LSBs for
/// integers, relative to `want`'s largest magnitude for floats.
fn difference(descr: &str, got: &[u8], want: &[u8]) -> f64 {
    let ints = |w: usize, f: fn(&[u8]) -> i64| {
        got.chunks_exact(w).zip(want.chunks_exact(w)).map(|(g, w)| (f(g) - f(w)).abs()).max().unwrap_or(0) as f64
    };
    match descr {
        "|i1" => ints(1, |b| b[0] as i8 as i64),
        "|u1" => ints(1, |b| b[0] as i64),
        "<i2" => ints(2, |b| i16::from_le_bytes([b[0], b[1]]) as i64),
        "<i4" => ints(4, |b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64),
        "<f4" => {
            let f = |v: &[u8]| -> Vec<f32> {
                v.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
            };
            let (g, w) = (f(got), f(want));
            let scale = w.iter().fold(1e-30f32, |m, v| m.max(v.abs()));
            g.iter().zip(&w).map(|(a, b)| ((a - b).abs() / scale) as f64).fold(0.0, |m, d| {
                if d.is_nan() {
                    f64::INFINITY
                } else {
                    m.max(d)
                }
            })
        }
        other => panic!("unsupported npy dtype {other}"),
    }
}

/// Runs `accelsim run` and `accelsim exec` on one model; `Err` says what failed.
fn check(stem: &str, m: &Value, tol: Tol) -> Result<f64, String> {
    let model = dir().join(m["file"].as_str().expect("file"));
    let model = model.to_str().expect("utf-8 path");
    run_mac8(model)?;
    check_exec(stem, m, tol)
}

/// `accelsim run --hw mac8` gives every layer a row with cycles.
fn run_mac8(model: &str) -> Result<(), String> {
    let (ok, out, err) = accelsim(&["run", "--hw", "mac8", "--model", model, "--format", "json"]);
    if !ok {
        return Err(format!("run: {err}"));
    }
    let doc: Value = serde_json::from_str(&out).map_err(|e| format!("run JSON: {e}"))?;
    let layers = doc["layers"].as_array().ok_or("run: no layers")?;
    if layers.is_empty() || layers.iter().any(|l| !l["cycles"].is_u64()) {
        return Err("run: a layer without cycles".into());
    }
    Ok(())
}

/// `accelsim exec` on every golden input matches the golden within `tol`; the worst
/// difference.
fn check_exec(stem: &str, m: &Value, tol: Tol) -> Result<f64, String> {
    let model = dir().join(m["file"].as_str().expect("file"));
    let model = model.to_str().expect("utf-8 path");
    let files = m["input_files"].as_array().expect("input_files");
    let [input] = &files[..] else { return Err(format!("{} inputs", files.len())) };
    let x = read_npy(&dir().join(input.as_str().expect("input file")));
    let outs: Vec<Npy> = (0..m["outputs"].as_array().expect("outputs").len())
        .map(|k| read_npy(&dir().join(format!("{stem}.out{k}.npy"))))
        .collect();
    let onnx_rank4 = m["format"] == "onnx" && x.shape.len() == 4;
    let tmp = tempfile::tempdir().map_err(|e| e.to_string())?;
    let (fin, fout) = (tmp.path().join("in.bin"), tmp.path().join("out.bin"));
    let mut worst = 0f64;
    for s in 0..x.shape[0] {
        std::fs::write(&fin, sample(&x, s)).map_err(|e| e.to_string())?;
        let mut args =
            vec!["exec", "--model", model, "--input", fin.to_str().unwrap(), "--output", fout.to_str().unwrap()];
        if onnx_rank4 {
            // The file's layout: tf2onnx keeps Keras' NHWC input, PyTorch's is NCHW.
            args.extend(["--layout", if m["source"] == "keras" { "nhwc" } else { "nchw" }]);
        }
        let (ok, _, err) = accelsim(&args);
        if !ok {
            return Err(format!("exec: {err}"));
        }
        let got = std::fs::read(&fout).map_err(|e| e.to_string())?;
        let mut at = 0;
        for (k, o) in outs.iter().enumerate() {
            let want = sample(o, s);
            let g = got.get(at..at + want.len()).ok_or(format!("exec: output {k} missing"))?;
            at += want.len();
            let d = difference(&o.descr, g, want);
            let within = match tol {
                Tol::Lsb(n) => d <= n as f64,
                Tol::Rel(r) => d <= r as f64,
            };
            if !within {
                return Err(format!("sample {s} output {k}: differs by {d} (allowed {tol:?})"));
            }
            worst = worst.max(d);
        }
        if at != got.len() {
            return Err(format!("exec wrote {} bytes, the goldens hold {at}", got.len()));
        }
    }
    Ok(worst)
}

/// onnxruntime's `quantize_static` leaves a GRU / LSTM in float between a DequantizeLinear
/// and a QuantizeLinear; the importer does the same (a Dequantize layer before it, a Quantize
/// layer after), so `exec` gives onnxruntime's output exactly, but the float32 layer has no
/// compute mode on the integer presets and `run` says so by name.
#[test]
fn qdq_recurrent_models_execute_but_need_a_float_mode() {
    let m = manifest();
    for (stem, op) in [("kws_gru_torch_qdq", "GRU"), ("kws_lstm_torch_qdq", "LSTM")] {
        let worst = check_exec(stem, &m["models"][stem], Tol::Rel(0.0)).unwrap_or_else(|e| panic!("{stem}: {e}"));
        assert_eq!(worst, 0.0, "{stem}");
        let model = dir().join(format!("{stem}.onnx"));
        let e = run_mac8(model.to_str().unwrap()).expect_err(stem);
        let named = e.contains(&format!("/rnn/{op}")) && e.contains("no compute mode for 32-bit weights");
        assert!(named, "{stem}: {e}");
        // The way out it names: the float layer alone at a width the accelerator has.
        // (Without whitespace: the error's lines wrap inside words.)
        let packed: String = e.chars().filter(|c| !c.is_whitespace()).collect();
        assert!(packed.contains(&format!("--layer-bits'layer:/rnn/{op}=w8a8'")), "{stem}: {e}");
        let (ok, _, err) = accelsim(&[
            "run",
            "--hw",
            "mac8",
            "--model",
            model.to_str().unwrap(),
            "--no-accuracy",
            "--layer-bits",
            &format!("layer:/rnn/{op}=w8a8"),
        ]);
        assert!(ok, "{stem} with the hint: {err}");
    }
}

#[test]
fn every_corpus_model_is_listed_once() {
    let m = manifest();
    let models = m["models"].as_object().expect("models");
    assert!(models.len() >= 20, "only {} corpus models", models.len());
    for stem in models.keys() {
        let n = WORKS.iter().filter(|(s, _)| s == stem).count() + BLOCKED.iter().filter(|(s, _)| s == stem).count();
        assert_eq!(n, 1, "{stem} is listed {n} times in WORKS and BLOCKED (tests/corpus.rs)");
    }
    for stem in WORKS.iter().map(|(s, _)| s).chain(BLOCKED.iter().map(|(s, _)| s)) {
        assert!(models.contains_key(*stem), "{stem} is not in tests/corpus/manifest.json");
    }
}

#[test]
fn working_corpus_models_run_and_match_their_goldens() {
    let m = manifest();
    let failures: Vec<String> = WORKS
        .iter()
        .filter_map(|&(stem, tol)| check(stem, &m["models"][stem], tol).err().map(|e| format!("{stem}: {e}")))
        .collect();
    assert!(failures.is_empty(), "{} of {} corpus models fail:\n{}", failures.len(), WORKS.len(), failures.join("\n"));
}

/// The layout `exec` reads is the file's own: tf2onnx keeps Keras' NHWC input (its readers
/// transpose it), so NHWC is the default there and NCHW is refused instead of silently
/// transposing the items wrong; PyTorch's NCHW input still needs --layout.
#[test]
fn exec_reads_an_onnx_input_in_the_files_own_layout() {
    let d = dir();
    let out = std::env::temp_dir().join(format!("accelsim-corpus-layout-{}.bin", std::process::id()));
    let o = out.to_string_lossy().into_owned();
    let run = |model: &str, input: &str, layout: Option<&str>| {
        let (m, x) = (d.join(model).to_string_lossy().into_owned(), d.join(input).to_string_lossy().into_owned());
        let mut args = vec!["exec", "--model", m.as_str(), "--input", x.as_str(), "--output", o.as_str()];
        args.extend(layout.iter().flat_map(|l| ["--layout", *l]));
        let (ok, _, err) = accelsim(&args);
        (ok, err)
    };
    let (ok, err) = run("efficientnet_lite_keras_onnx.onnx", "efficientnet_lite.nhwc.npy", None);
    assert!(ok, "{err}");
    let by_default = std::fs::read(&out).unwrap();
    assert!(run("efficientnet_lite_keras_onnx.onnx", "efficientnet_lite.nhwc.npy", Some("nhwc")).0);
    assert_eq!(std::fs::read(&out).unwrap(), by_default);
    let (ok, err) = run("efficientnet_lite_keras_onnx.onnx", "efficientnet_lite.nchw.npy", Some("nchw"));
    assert!(!ok && err.contains("give --layout nhwc"), "{err}");
    let (ok, err) = run("efficientnet_lite_torch_onnx.onnx", "efficientnet_lite.nchw.npy", None);
    assert!(!ok && err.contains("--layout nchw"), "{err}");
    let _ = std::fs::remove_file(&out);
}
