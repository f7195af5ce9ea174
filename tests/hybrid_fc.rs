//! LiteRT's hybrid fully connected layer (dynamic-range quantization: per-token dynamic int8
//! activations against int8 weights) in the cost model: it runs in the 8x8 mode with its
//! float input and output moved at 32 bits and its int8 weights at 8, the rows' quantization
//! on the vector unit, said in the notes. Its execution is bit for bit LiteRT's
//! (`tests/op_goldens.rs`, `fc_hybrid*_hybrid`).

use std::path::PathBuf;

mod common;
use common::accelsim;

#[test]
fn a_hybrid_layer_is_costed_as_int8_macs_behind_a_per_token_quantization() {
    let m = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ops/fc_hybrid_hybrid.tflite");
    for hw in ["mac8", "dsp", "nvdla_full"] {
        let (ok, so, se) = accelsim(&["run", "--hw", hw, "--model", m.to_str().unwrap(), "--format", "json"]);
        assert!(ok, "{hw}: {se}");
        let r: serde_json::Value = serde_json::from_str(&so).expect("json");
        let l = &r["layers"][0];
        assert_eq!(l["mode"], "8x8", "{hw}: {l}");
        assert_eq!(l["macs"], 6 * 64 * 48, "{hw}");
        // int8 weights 64 x 48, the float input 6 x 64 and bias 48 at 4 bytes; the output 6 x 48 floats.
        assert_eq!(l["dram_read_bytes"], 64 * 48 + 6 * 64 * 4 + 48 * 4, "{hw}: {l}");
        assert_eq!(l["dram_write_bytes"], 6 * 48 * 4, "{hw}: {l}");
        let notes = r["notes"].as_array().expect("notes");
        assert!(
            notes.iter().any(|n| n.as_str().is_some_and(|n| n.contains("per-token dynamic quantization"))),
            "{hw}: {notes:?}"
        );
    }
}
