//! Per-layer widths end to end through the binary: `quantize --layer-bits` (flags and a
//! file) writes each layer's widths into the `.aqm`; `run`, `exec` and `sweep` keep them;
//! the report shows each layer's widths and the mode it ran in; a quantized model's float
//! interface is not counted as its activation width; layers without weights have no
//! weight width; bad requests are errors naming the flag or file.

mod common;

use std::path::{Path, PathBuf};

use common::{accelsim, json_run};
use serde_json::Value;

fn shared(p: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared").join(p).to_string_lossy().into_owned()
}

const MODEL: &str = "onnx/models/small_resnet2_float.onnx";
const CALIB: &str = "onnx/data/small_resnet2_calib_nchw.npy";

/// Quantizes small_resnet2 into `out` with `extra` flags; panics with stderr on failure.
fn quantize(out: &Path, extra: &[&str]) {
    let (model, calib) = (shared(MODEL), shared(CALIB));
    let mut a = vec!["quantize", "--model", &model, "--calib", &calib, "--out", out.to_str().unwrap()];
    a.extend_from_slice(extra);
    let (ok, _, err) = accelsim(&a);
    assert!(ok, "quantize {extra:?} failed: {err}");
}

/// miette wraps long messages: the text with line breaks and frame characters folded.
fn flat(err: &str) -> String {
    err.replace(['│', '×'], " ").split_whitespace().collect::<Vec<_>>().join(" ")
}

fn layer<'a>(v: &'a Value, name: &str) -> &'a Value {
    v["layers"].as_array().unwrap().iter().find(|l| l["name"] == name).unwrap_or_else(|| panic!("no layer {name}"))
}

const CONV: &str = "layer:Conv__36";
const FC: &str = "layer:small_resnet2_1/fc1_1/MatMul_Gemm__7";

#[test]
fn per_layer_widths_reach_the_aqm_run_and_exec_and_each_layer_runs_in_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    let (mixed, file_mixed) = (dir.path().join("mixed.aqm"), dir.path().join("file.aqm"));
    let flag = format!("{CONV}=w4a4");
    let fc = format!("{FC}=w4");
    quantize(&mixed, &["--layer-bits", &flag, "--layer-bits", &fc]);
    // The same request as a file gives the same model.
    let toml = dir.path().join("bits.toml");
    std::fs::write(&toml, format!("[layers]\n\"{CONV}\" = \"w4a4\"\n\"{FC}\" = \"w4\"\n")).unwrap();
    quantize(&file_mixed, &["--layer-bits", toml.to_str().unwrap()]);
    assert_eq!(std::fs::read(&mixed).unwrap(), std::fs::read(&file_mixed).unwrap());

    // The .aqm carries each layer's widths.
    let g = accelsim::import::load_model(mixed.to_str().unwrap(), &Default::default()).unwrap();
    let l = g.layers.iter().find(|l| l.name == CONV).unwrap();
    assert_eq!((g.weights_of(l).unwrap().dtype.bits(), g.data_input(l).dtype.bits()), (4, 4));

    // run: each layer at its widths, in the mode they need; the report says both.
    let v = json_run(&["--hw", "mac8", "--model", mixed.to_str().unwrap(), "--no-accuracy"]);
    let c = layer(&v, CONV);
    assert_eq!((c["widths"].as_str(), c["mode"].as_str()), (Some("w4a4"), Some("4x4")), "{c}");
    assert_eq!((c["weight_bits"].as_u64(), c["activation_bits"].as_u64()), (Some(4), Some(4)));
    let f = layer(&v, FC);
    assert_eq!((f["widths"].as_str(), f["mode"].as_str()), (Some("w4a8"), Some("8x8")), "{f}");
    let other = layer(&v, "layer:Conv__35");
    assert_eq!((other["widths"].as_str(), other["mode"].as_str()), (Some("w8a8"), Some("8x8")));
    // Mixed widths have no single weight width: no maximum passed off as one.
    assert!(v["weight_bits"].is_null() && v["activation_bits"].as_u64().is_none(), "{v}");
    let widths = v["widths"].as_str().unwrap();
    assert!(widths.contains("w4a4 x1") && widths.contains("w4a8 x1"), "{widths}");
    let (ok, table, err) = accelsim(&["run", "--hw", "mac8", "--model", mixed.to_str().unwrap(), "--no-accuracy"]);
    assert!(ok, "{err}");
    assert!(table.contains("widths per layer") && table.contains(" w4a4 "), "{table}");

    // On an accelerator without a 4x4 mode, the layer runs in the next wider one.
    let v = json_run(&["--hw", "systolic32", "--model", mixed.to_str().unwrap(), "--no-accuracy"]);
    let c = layer(&v, CONV);
    assert_eq!((c["widths"].as_str(), c["mode"].as_str()), (Some("w4a4"), Some("8x8")), "{c}");

    // exec runs the per-layer integers: the conv's 4-bit input holds 4-bit values.
    let x = g.data_input(l).name.clone();
    let input = shared("onnx/golden/small_resnet2/input_0_nhwc.bin");
    let dump = dir.path().join("dump");
    let o = dir.path().join("out.bin");
    let (m, d, o) = (mixed.to_str().unwrap(), dump.to_str().unwrap(), o.to_str().unwrap());
    let (ok, _, err) = accelsim(&["exec", "--model", m, "--input", &input, "--output", o, "--dump", d]);
    assert!(ok, "{err}");
    let index: Value = serde_json::from_slice(&std::fs::read(dump.join("index.json")).unwrap()).unwrap();
    let t = index["tensors"].as_array().unwrap().iter().find(|t| t["name"] == x.as_str()).expect("dumped");
    assert_eq!(t["dtype"], "i4");
    let bytes = std::fs::read(dump.join(t["file"].as_str().unwrap())).unwrap();
    assert!(bytes.iter().all(|&b| (-8..=7).contains(&(b as i8))), "values outside 4 bits");
    assert!(bytes.iter().any(|&b| b as i8 != bytes[0] as i8), "a constant tensor says nothing");
}

#[test]
fn sweep_keeps_a_quantized_models_own_widths_unless_told_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    let w4 = dir.path().join("m_w4.aqm");
    quantize(&w4, &["--wbits", "4"]);
    let m = w4.to_str().unwrap();
    let run = json_run(&["--hw", "mac8", "--model", m, "--no-accuracy"]);
    assert_eq!((run["weight_bits"].as_u64(), run["activation_bits"].as_u64()), (Some(4), Some(8)));
    let sweep = |extra: &[&str]| -> Vec<Value> {
        let mut a = vec!["sweep", "--hw", "mac8", "--model", m, "--format", "json"];
        a.extend_from_slice(extra);
        let (ok, out, err) = accelsim(&a);
        assert!(ok, "{err}");
        serde_json::from_str::<Value>(&out).unwrap().as_array().unwrap().clone()
    };
    let rows = sweep(&[]);
    assert_eq!(rows.len(), 1);
    let r = &rows[0];
    assert_eq!((r["wbits"].as_f64(), r["abits"].as_f64(), r["widths"].as_str()), (Some(4.0), Some(8.0), Some("w4a8")));
    // The same cost as `run`.
    assert_eq!(r["energy_pj"].as_f64(), run["totals"]["energy_pj"].as_f64());
    assert_eq!(r["cycles"].as_f64(), run["totals"]["cycles"].as_f64());
    // Widths given: the model runs at them.
    let rows = sweep(&["--wbits", "8"]);
    assert_eq!((rows[0]["wbits"].as_f64(), rows[0]["widths"].as_str()), (Some(8.0), Some("w8a8")));
    // Per-layer rows carry each layer's widths and mode.
    let rows = sweep(&["--per-layer"]);
    let c = rows.iter().find(|r| r["layer"] == CONV).unwrap();
    assert_eq!((c["widths"].as_str(), c["mode"].as_str()), (Some("w4a8"), Some("8x8")));
    // A mixed model's point says so.
    let mixed = dir.path().join("mixed.aqm");
    let flag = format!("{CONV}=w4a4");
    quantize(&mixed, &["--layer-bits", &flag]);
    let (ok, out, err) = accelsim(&["sweep", "--hw", "mac8", "--model", mixed.to_str().unwrap()]);
    assert!(ok, "{err}");
    let row = out.lines().nth(1).unwrap();
    assert!(row.starts_with("0,mac8,") && row.contains(",mixed,mixed,"), "{row}");
}

#[test]
fn a_quantized_models_float_interface_is_not_its_activation_width() {
    let dir = tempfile::tempdir().unwrap();
    for (abits, out) in [("8", "m.aqm"), ("16", "m_16x8.tflite")] {
        let p = dir.path().join(out);
        quantize(&p, &["--abits", abits]);
        let v = json_run(&["--hw", "mac16", "--model", p.to_str().unwrap(), "--no-accuracy"]);
        let a: u64 = abits.parse().unwrap();
        assert_eq!((v["weight_bits"].as_u64(), v["activation_bits"].as_u64()), (Some(8), Some(a)), "{out}");
        // The QUANTIZE layer's row shows its float input; the header does not count it.
        let q = v["layers"].as_array().unwrap().iter().find(|l| l["op"] == "quantize").expect("a QUANTIZE layer");
        assert_eq!(q["widths"], "af32");
        let (ok, table, err) = accelsim(&["run", "--hw", "mac16", "--model", p.to_str().unwrap(), "--no-accuracy"]);
        assert!(ok, "{err}");
        let head = table.lines().next().unwrap();
        assert!(head.contains(&format!("weights 8 bit, activations {abits} bit")), "{head}");
    }
}

#[test]
fn layers_without_weights_have_no_weight_width() {
    let v = json_run(&["--hw", "mac8", "--model", "mnv1", "--wbits", "4", "--no-accuracy"]);
    for l in v["layers"].as_array().unwrap() {
        let weighted = matches!(l["op"].as_str().unwrap(), "conv" | "dwconv" | "fc");
        assert_eq!(l["weight_bits"].is_null(), !weighted, "{l}");
        let expect = if weighted { "w4a8" } else { "a8" };
        assert_eq!(l["widths"], expect, "{l}");
    }
    assert_eq!(v["widths"], "w4a8");
}

#[test]
fn bad_layer_widths_are_errors_naming_the_flag_or_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.aqm");
    let (model, calib) = (shared(MODEL), shared(CALIB));
    let err_of = |bits: &str| {
        let o = out.to_str().unwrap();
        let (ok, _, err) =
            accelsim(&["quantize", "--model", &model, "--calib", &calib, "--out", o, "--layer-bits", bits]);
        assert!(!ok, "{bits}: accepted");
        flat(&err)
    };
    let e = err_of("layer:Conv__3=w4a4");
    assert!(
        e.contains("--layer-bits: no layer named 'layer:Conv__3'") && e.contains("did you mean 'layer:Conv__32'"),
        "{e}"
    );
    let e = err_of("layer:Conv__35=w1a8");
    assert!(e.contains("--layer-bits: layer:Conv__35: the weight width must be in 2..=16 bits, got 1"), "{e}");
    let e = err_of("layer:Conv__35=8");
    assert!(e.contains("expected widths like \"w4a8\""), "{e}");
    let e = err_of("layer:small_resnet2_1/res1_add_1/Add=w4a8");
    assert!(e.contains("has no weights, so it takes no weight width"), "{e}");
    let toml = dir.path().join("bits.toml");
    std::fs::write(&toml, "[layers]\n\"layer:Conv__35\" = \"w4a20\"\n").unwrap();
    let e = err_of(toml.to_str().unwrap());
    assert!(
        e.contains("bits.toml:2:20: layers.layer:Conv__35: the activation width must be in 2..=16 bits, got 20"),
        "{e}"
    );
    let e = err_of(dir.path().join("missing.toml").to_str().unwrap());
    assert!(e.contains("--layer-bits: cannot read") && e.contains("missing.toml"), "{e}");
    // A .tflite holds one width for every layer.
    let t = dir.path().join("x.tflite");
    let (ok, _, err) = accelsim(&[
        "quantize",
        "--model",
        &model,
        "--calib",
        &calib,
        "--out",
        t.to_str().unwrap(),
        "--layer-bits",
        "layer:Conv__35=w4",
    ]);
    assert!(!ok && flat(&err).contains("takes one width for every layer"), "{err}");
    // Nothing was written.
    assert!(!out.exists() && !t.exists());
    // run takes the same requests for a float model, with the same errors.
    let (ok, _, err) = accelsim(&["run", "--hw", "mac8", "--model", "mnv1", "--layer-bits", "conv1_pv=w4"]);
    assert!(!ok && flat(&err).contains("did you mean 'conv1_pw'"), "{err}");
    let v = json_run(&["--hw", "mac8", "--model", "mnv1", "--layer-bits", "conv1_pw=w4a4", "--no-accuracy"]);
    assert_eq!(layer(&v, "conv1_pw")["mode"], "4x4");
}
