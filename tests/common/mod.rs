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

/// A `.npy` array as the goldens store it: its dtype (`descr`), shape and C-order bytes.
pub struct RawNpy {
    pub descr: String,
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

/// Parses the bytes of a `.npy` file (versions 1-3, C order) with `npyz`, keeping the data
/// bytes as stored; panics naming what is wrong.
pub fn parse_npy(b: &[u8]) -> RawNpy {
    let f = npyz::NpyFile::new(b).unwrap_or_else(|e| panic!("not an npy file: {e}"));
    assert_eq!(f.order(), npyz::Order::C, "Fortran order");
    let descr = f.dtype().descr().trim_matches('\'').to_string();
    let shape = f.shape().iter().map(|&d| d as usize).collect();
    RawNpy { descr, shape, data: f.into_inner().to_vec() }
}

/// Reads a `.npy` file (see [`parse_npy`]).
pub fn read_npy(path: &Path) -> RawNpy {
    parse_npy(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// The array's values widened as the executor holds them.
pub fn npy_values(a: &RawNpy) -> accelsim::kernels::Values {
    use accelsim::kernels::Values;
    let d = &a.data;
    match a.descr.as_str() {
        "|i1" => Values::Int(d.iter().map(|&v| v as i8 as i32).collect()),
        "|u1" => Values::Int(d.iter().map(|&v| v as i32).collect()),
        "<i2" => Values::Int(d.chunks_exact(2).map(|v| i16::from_le_bytes([v[0], v[1]]) as i32).collect()),
        "<i4" => Values::Int(d.chunks_exact(4).map(|v| i32::from_le_bytes([v[0], v[1], v[2], v[3]])).collect()),
        "<f4" => Values::F32(d.chunks_exact(4).map(|v| f32::from_le_bytes([v[0], v[1], v[2], v[3]])).collect()),
        other => panic!("unsupported npy dtype {other}"),
    }
}

/// The raw little-endian float32 values of a golden file (the `.bin` files the goldens'
/// scripts write).
pub fn read_f32(path: &Path) -> Vec<f32> {
    let b = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    b.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Int64 labels of a `.npy` file, parsed here (not by accelsim).
pub fn npy_labels(path: &str) -> Vec<i64> {
    let b = std::fs::read(path).expect("labels");
    let hlen = u16::from_le_bytes([b[8], b[9]]) as usize;
    assert!(std::str::from_utf8(&b[10..10 + hlen]).unwrap().contains("'<i8'"));
    b[10 + hlen..].chunks_exact(8).map(|c| i64::from_le_bytes(c.try_into().unwrap())).collect()
}
