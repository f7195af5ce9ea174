//! Helpers shared by the end-to-end tests: run the real `accelsim` binary.
#![allow(dead_code)]

use serde_json::Value;
use std::path::Path;
use std::process::Command;

/// Runs `accelsim ARGS` in `dir` (the crate root when `None`): (success, stdout, stderr).
pub fn accelsim_in(args: &[&str], dir: Option<&Path>) -> (bool, String, String) {
    let mut c = Command::new(env!("CARGO_BIN_EXE_accelsim"));
    c.args(args);
    if let Some(d) = dir {
        c.current_dir(d);
    }
    let out = c.output().expect("binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs `accelsim ARGS` from the crate root.
pub fn accelsim(args: &[&str]) -> (bool, String, String) {
    accelsim_in(args, None)
}

/// Runs `accelsim run --format json ARGS`, which must succeed, and parses its output.
pub fn json_run(args: &[&str]) -> Value {
    let mut a = vec!["run", "--format", "json"];
    a.extend_from_slice(args);
    let (ok, out, err) = accelsim(&a);
    assert!(ok, "accelsim {a:?} failed: {err}");
    serde_json::from_str(&out).expect("valid JSON")
}

/// A file of the shared handwritten-digits data (`../shared/digits_dev`).
pub fn digits(file: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/digits_dev").join(file).to_string_lossy().into_owned()
}

/// The digit classifier trained on it (`tests/fixtures/digits`, `scripts/train_digits.py`).
pub fn digits_model() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/digits/digits_cnn.tflite").to_string_lossy().into_owned()
}
