//! Structure-aware TFLite generator: bytes choose a small network, quantized, exported, imported back; both execute identically.
//! The property is [`checks::tflite_roundtrip_bytes`], which `tests/fuzz_corpus.rs` also replays over
//! `corpus/tflite_gen/` in CI.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod checks;

fuzz_target!(|data: &[u8]| checks::tflite_roundtrip_bytes(data));
