//! CI smoke run of the fuzz targets: every file of `fuzz/corpus/<target>/` goes through
//! the same check the libFuzzer target runs (`fuzz/fuzz_targets/checks.rs`), on stable
//! Rust, without libFuzzer. A crash the campaign finds is fixed in the library and its
//! input added to the target's corpus, so it is replayed here from then on.

#[path = "../fuzz/fuzz_targets/checks.rs"]
mod checks;

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{}: empty corpus", dir.display());
    for f in files {
        let bytes = std::fs::read(&f).expect("corpus file");
        let r = std::panic::catch_unwind(|| check(&bytes));
        assert!(r.is_ok(), "fuzz target {target} fails on {}", f.display());
    }
}

macro_rules! corpus {
    ($($target:ident => $check:path),* $(,)?) => {
        $(#[test] fn $target() { replay(stringify!($target), $check); })*
    };
}

corpus! {
    hw_toml => checks::hw_toml_bytes,
    model_toml => checks::model_toml_bytes,
    tflite => checks::tflite_bytes,
    onnx => checks::onnx_bytes,
    scalesim_topology => checks::scalesim_topology_bytes,
    scalesim_cfg => checks::scalesim_cfg_bytes,
    aqm => checks::aqm_bytes,
    npy => checks::npy_bytes,
    tflite_exec => checks::tflite_exec_bytes,
    onnx_exec => checks::onnx_exec_bytes,
    quantize => checks::quantize_bytes,
    sweep_config => checks::sweep_config_bytes,
    plot_csv => checks::plot_csv_bytes,
    compare_json => checks::compare_json_bytes,
    tflite_gen => checks::tflite_roundtrip_bytes,
}
