//! Structure-aware ONNX generator: bytes choose a small float CNN, written as exporters write
//! it and folded by the generator; both import, execute and cost alike. The property is
//! [`checks::onnx_gen_bytes`], which `tests/fuzz_corpus.rs` also replays over
//! `corpus/onnx_gen/` in CI.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod checks;

fuzz_target!(|data: &[u8]| checks::onnx_gen_bytes(data));
