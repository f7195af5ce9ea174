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
    onnx_gen => checks::onnx_gen_bytes,
    pipeline => checks::pipeline_bytes,
}

/// The ONNX generator's seeds are not vacuous: each makes a network of several layers whose
/// exported form uses the constructs the folded form lacks (so `onnx_gen` compares two
/// different files).
#[test]
fn onnx_generator_seeds_make_networks() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/onnx_gen");
    let mut ops = std::collections::BTreeSet::new();
    for e in std::fs::read_dir(&dir).expect("corpus") {
        let f = e.expect("entry").path();
        let pair = checks::gen_onnx::generate(&std::fs::read(&f).expect("seed")).expect("a network");
        let g = accelsim::import::onnx::import_onnx_bytes(&pair.folded, "folded.onnx").expect("imports");
        assert!(g.layers.len() >= 2, "{}: {} layers", f.display(), g.layers.len());
        assert_ne!(pair.exported, pair.folded);
        for op in ["BatchNormalization", "Gemm", "MatMul", "Identity", "Dropout", "Clip", "AveragePool", "MaxPool"] {
            if pair.exported.windows(op.len()).any(|w| w == op.as_bytes()) {
                ops.insert(op);
            }
        }
    }
    assert_eq!(ops.len(), 8, "the seeds together use every exported construct: {ops:?}");
}

/// The `pipeline` corpus is not replayed vacuously: its inputs decode as the target decodes
/// them ([`checks::pipeline_input`]), so each replay costs a network on a preset.
#[test]
fn pipeline_corpus_decodes() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/pipeline");
    let (mut all, mut decoded) = (0usize, 0usize);
    for e in std::fs::read_dir(&dir).expect("corpus") {
        let bytes = std::fs::read(e.expect("entry").path()).expect("corpus file");
        all += 1;
        decoded += usize::from(checks::pipeline_input(&bytes).is_some());
    }
    assert!(all > 0 && decoded == all, "{decoded} of {all} inputs decode");
}
