//! Per-operator goldens: every `tests/fixtures/ops/<case>_<variant>.tflite` (made by
//! `scripts/make_op_goldens.py` with LiteRT's reference kernels) is imported and executed on
//! its `.npz` inputs; integer outputs must equal LiteRT's bit for bit, float32 outputs within
//! 1e-6 (relative to the output's largest magnitude, for transcendental functions whose
//! last-ulp rounding may differ between libm builds).

mod common;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use accelsim::import::tflite::import_tflite;
use accelsim::kernels::{execute, value_of, Values};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ops")
}

/// The arrays of an `.npz` by name (`in0`, `out0`, ...), widened.
fn read_npz(path: &Path) -> BTreeMap<String, Values> {
    let f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut z = zip::ZipArchive::new(f).expect("zip");
    let mut out = BTreeMap::new();
    for i in 0..z.len() {
        let mut e = z.by_index(i).expect("entry");
        let name = e.name().trim_end_matches(".npy").to_string();
        let mut b = Vec::new();
        e.read_to_end(&mut b).expect("read");
        out.insert(name, common::npy_values(&common::parse_npy(&b)));
    }
    out
}

/// Runs one golden; `Err` says what differs.
fn check(stem: &str) -> Result<usize, String> {
    let m = import_tflite(dir().join(format!("{stem}.tflite"))).map_err(|e| format!("import: {e}"))?;
    let arrays = read_npz(&dir().join(format!("{stem}.npz")));
    let inputs: Vec<Values> = (0..m.graph.inputs.len()).map(|i| arrays[&format!("in{i}")].clone()).collect();
    let vals = execute(&m.graph, &inputs).map_err(|e| format!("exec: {e}"))?;
    let mut compared = 0;
    for (k, &o) in m.graph.outputs.iter().enumerate() {
        let want = &arrays[&format!("out{k}")];
        let got = value_of(&vals, o).ok_or("output not computed")?;
        match (got, want) {
            (Values::Int(g), Values::Int(w)) => {
                let bad: Vec<usize> = (0..w.len()).filter(|&i| g.get(i) != Some(&w[i])).collect();
                if !bad.is_empty() || g.len() != w.len() {
                    let i = bad.first().copied().unwrap_or(0);
                    return Err(format!(
                        "output {k}: {} of {} differ (first at {i}: got {:?}, LiteRT {})",
                        bad.len(),
                        w.len(),
                        g.get(i),
                        w[i]
                    ));
                }
                compared += w.len();
            }
            // LiteRT's hybrid kernels (float in and out around int8 arithmetic): bit for bit.
            (Values::F32(g), Values::F32(w)) if stem.ends_with("_hybrid") => {
                let bad = (0..w.len()).filter(|&i| g.get(i).map(|v| v.to_bits()) != Some(w[i].to_bits())).count();
                if bad > 0 || g.len() != w.len() {
                    return Err(format!("output {k}: {bad} of {} floats differ from LiteRT's hybrid kernel", w.len()));
                }
                compared += w.len();
            }
            (Values::F32(g), Values::F32(w)) => {
                let scale = w.iter().fold(1e-30f32, |m, v| m.max(v.abs()));
                let worst = g.iter().zip(w).map(|(a, b)| (a - b).abs() / scale).fold(0f32, f32::max);
                if g.len() != w.len() || !(worst <= 1e-6) {
                    return Err(format!("output {k}: float differs by {worst} (relative)"));
                }
                compared += w.len();
            }
            _ => return Err(format!("output {k}: types differ from LiteRT's")),
        }
    }
    Ok(compared)
}

/// The goldens present (stems of `.tflite` files).
fn stems() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir())
        .expect("tests/fixtures/ops")
        .filter_map(|e| e.ok()?.file_name().into_string().ok()?.strip_suffix(".tflite").map(String::from))
        .collect();
    v.sort();
    v
}

#[test]
fn every_operator_golden_is_bit_exact() {
    let stems = stems();
    assert!(stems.len() >= 50, "only {} goldens in tests/fixtures/ops", stems.len());
    let mut failures = Vec::new();
    let mut elements = 0;
    for s in &stems {
        match check(s) {
            Ok(n) => elements += n,
            Err(e) => failures.push(format!("{s}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{} of {} goldens fail:\n{}", failures.len(), stems.len(), failures.join("\n"));
    assert!(elements > 0);
}
