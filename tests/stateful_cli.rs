//! Stateful streaming models (resource variables): `accelsim exec` runs its inputs as steps
//! on one state and writes every step's output, compared with LiteRT invoking one
//! interpreter repeatedly (`tests/fixtures/stateful`, `scripts/make_stateful_goldens.py`):
//! int8 bit for bit, float32 within 1e-6. `accelsim run` costs the state reads and writes
//! on every family.

mod common;

use common::{accelsim, json_run};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/stateful").join(name).to_string_lossy().into_owned()
}

fn out_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("out.bin")
}

const STEPS: usize = 8;

#[test]
fn int8_steps_are_bit_exact_with_litert() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = out_path(&dir);
    let model = fixture("kws_stream_int8.tflite");
    let steps: Vec<String> = (0..STEPS).map(|k| fixture(&format!("int8_step{k}.bin"))).collect();
    let mut args = vec!["exec", "--model", &model, "--output", out.to_str().expect("utf-8")];
    for s in &steps {
        args.extend(["--input", s.as_str()]);
    }
    let (ok, _, err) = accelsim(&args);
    assert!(ok, "{err}");
    let got = std::fs::read(&out).expect("output");
    let want = std::fs::read(fixture("outputs_int8.bin")).expect("golden");
    assert_eq!(got.len(), want.len(), "one output per step");
    let differing: Vec<usize> = (0..got.len()).filter(|&i| got[i] != want[i]).collect();
    assert!(differing.is_empty(), "bytes {differing:?} differ: got {got:?}, LiteRT {want:?}");
    // The state matters: the first step again, alone, is the golden's first step, and the
    // steps' outputs are not all the same.
    let per_step = want.len() / STEPS;
    assert!(want.chunks(per_step).any(|c| c != &want[..per_step]));
    let (ok, _, err) =
        accelsim(&["exec", "--model", &model, "--input", &steps[0], "--output", out.to_str().expect("utf-8")]);
    assert!(ok, "{err}");
    assert_eq!(std::fs::read(&out).expect("output"), want[..per_step]);
}

#[test]
fn float_steps_from_one_npy_match_litert() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = out_path(&dir);
    let model = fixture("kws_stream_f32.tflite");
    let input = fixture("inputs_f32.npy");
    let (ok, _, err) =
        accelsim(&["exec", "--model", &model, "--input", &input, "--output", out.to_str().expect("utf-8")]);
    assert!(ok, "{err}");
    let floats =
        |b: Vec<u8>| -> Vec<f32> { b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect() };
    let got = floats(std::fs::read(&out).expect("output"));
    let want = floats(std::fs::read(fixture("outputs_f32.bin")).expect("golden"));
    assert_eq!(got.len(), want.len(), "one output per step");
    let scale = want.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-30);
    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
        assert!((a - b).abs() / scale <= 1e-6, "element {i} (step {}): {a} vs LiteRT {b}", i / (want.len() / STEPS));
    }
}

#[test]
fn several_inputs_need_a_stateful_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = out_path(&dir);
    let model = common::digits_model();
    let step = fixture("int8_step0.bin");
    let (ok, _, err) = accelsim(&[
        "exec",
        "--model",
        &model,
        "--input",
        &step,
        "--input",
        &step,
        "--output",
        out.to_str().expect("utf-8"),
    ]);
    assert!(!ok);
    assert!(err.contains("several --input files are the steps of a stateful model"), "{err}");
}

#[test]
fn run_costs_state_reads_and_writes_on_every_family() {
    for model in ["kws_stream_int8.tflite", "kws_stream_f32.tflite"] {
        for hw in ["mac8", "nvdla_small", "dsp", "systolic32"] {
            let v = json_run(&["--hw", hw, "--model", &fixture(model)]);
            let layers = v["layers"].as_array().expect("layers");
            let state: Vec<&serde_json::Value> =
                layers.iter().filter(|l| matches!(l["op"].as_str(), Some("read_state" | "assign_state"))).collect();
            assert_eq!(state.len(), 4, "{model} on {hw}: two reads and two assignments");
            for l in state {
                let cycles = l["cycles"].as_u64().expect("cycles");
                let traffic = l["dram_read_bytes"].as_u64().expect("dram_read_bytes")
                    + l["dram_write_bytes"].as_u64().expect("dram_write_bytes");
                assert!(cycles > 0 && traffic > 0, "{model} on {hw}: {l}");
            }
        }
    }
}
