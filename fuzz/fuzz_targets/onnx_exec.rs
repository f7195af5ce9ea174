//! Fuzzes execution of imported `.onnx` graphs: import, then run small graphs.
//! The property is [`checks::onnx_exec_bytes`], which `tests/fuzz_corpus.rs` also replays over
//! `corpus/onnx_exec/` in CI.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod checks;

fuzz_target!(|data: &[u8]| checks::onnx_exec_bytes(data));
