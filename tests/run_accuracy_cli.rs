//! `accelsim run` on models with real weights: the functional run on the accelerator's
//! arithmetic reports per-layer SQNR against the float execution and against ideal 32-bit
//! accumulation, and the output's top-1 agreement, in the table, JSON and CSV.

mod common;
use common::{accelsim, json_run};

use serde_json::Value;
use std::path::{Path, PathBuf};

fn model(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tflite/models").join(name)
}

/// An SQNR from the JSON: a number, or "inf" when identical.
fn db(v: &Value) -> f64 {
    match v {
        Value::String(s) if s == "inf" => f64::INFINITY,
        v => v.as_f64().unwrap_or_else(|| panic!("not an SQNR: {v}")),
    }
}

#[test]
fn a_32_bit_accumulator_equals_ideal_accumulation() {
    let m = model("tiny_int8.tflite");
    let d = json_run(&["--hw", "mac8", "--model", m.to_str().expect("path")]);
    let layers = d["layers"].as_array().expect("layers");
    assert!(!layers.is_empty());
    for l in layers {
        assert_eq!(db(&l["sqnr_vs_ideal_db"]), f64::INFINITY, "{l}");
        assert!(db(&l["sqnr_db"]) > 20.0, "{l}");
    }
    assert_eq!(db(&d["output"]["sqnr_vs_ideal_db"]), f64::INFINITY);
    assert!(db(&d["totals"]["sqnr_db"]) > 20.0);
    assert_eq!(d["output"]["top1_agreement"].as_f64(), Some(1.0));
    assert_eq!(d["accuracy"]["accumulator_bits"].as_u64(), Some(32));
}

#[test]
fn a_16_bit_accumulator_loses_accuracy_whether_it_wraps_or_saturates() {
    let m = model("tiny_int8.tflite");
    let m = m.to_str().expect("path");
    let ideal = json_run(&["--hw", "mac8", "--model", m]);
    for hw in ["mac8", "nvdla_full"] {
        let d = json_run(&["--hw", hw, "--model", m, "--set", "accumulator_bits=16"]);
        let vs_ideal = db(&d["output"]["sqnr_vs_ideal_db"]);
        assert!(vs_ideal.is_finite(), "{hw}: a 16-bit accumulator must differ from ideal");
        assert!(db(&d["output"]["sqnr_db"]) < db(&ideal["output"]["sqnr_db"]), "{hw}");
        assert!(d["layers"].as_array().expect("layers").iter().any(|l| db(&l["sqnr_vs_ideal_db"]).is_finite()));
    }
}

#[test]
fn table_and_csv_carry_the_sqnr_and_an_input_file_is_used() {
    let m = model("tiny_int8.tflite");
    let m = m.to_str().expect("path");
    let (ok, out, err) = accelsim(&["run", "--hw", "mac8", "--model", m]);
    assert!(ok, "{err}");
    assert!(out.contains("SQNR dB") && out.contains("vs ideal") && out.contains("top-1 agreement"), "{out}");
    let input = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/tflite/golden/tiny_int8/input_0.bin");
    let (ok, csv, err) =
        accelsim(&["run", "--hw", "mac8", "--model", m, "--format", "csv", "--input", input.to_str().expect("p")]);
    assert!(ok, "{err}");
    let mut lines = csv.lines();
    assert!(lines.next().expect("header").ends_with(",sqnr_db,sqnr_vs_ideal_db"));
    assert!(csv.lines().skip(1).all(|l| l.ends_with(",inf")), "{csv}");
    // A file of the wrong size is an error, not a panic.
    let (ok, _, err) = accelsim(&["run", "--hw", "mac8", "--model", m, "--input", "Cargo.toml"]);
    assert!(!ok && err.contains("bytes"), "{err}");
}

#[test]
fn built_in_networks_skip_the_accuracy_run_and_say_so() {
    let d = json_run(&["--hw", "mac8", "--model", "mnv1"]);
    assert!(d.get("output").is_none() && d["layers"][0].get("sqnr_db").is_none());
    let notes = d["notes"].as_array().expect("notes");
    assert!(notes.iter().any(|n| n.as_str().is_some_and(|s| s.contains("accuracy (SQNR) not evaluated"))), "{notes:?}");
    let (ok, _, err) = accelsim(&["run", "--hw", "mac8", "--model", "mnv1", "--input", "Cargo.toml"]);
    assert!(!ok && err.contains("no functional run"), "{err}");
}
