//! Fuzzes the ONNX reader: any bytes must give a validated graph or an error naming the
//! file, never a panic or an allocation sized by an unchecked field. A graph that loads is
//! costed on one preset.
//! The property is [`checks::onnx_bytes`], which `tests/fuzz_corpus.rs` also replays
//! over `corpus/onnx/` in CI.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod checks;

fuzz_target!(|data: &[u8]| checks::onnx_bytes(data));
