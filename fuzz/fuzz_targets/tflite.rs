//! Fuzzes the TFLite reader: any bytes must give a validated graph or an error naming the
//! file (never a panic, never an allocation sized by an unchecked field). A graph that
//! loads is costed on one preset, and executed on a zero input when it is small enough.
//! The property is [`checks::tflite_bytes`], which `tests/fuzz_corpus.rs` also replays
//! over `corpus/tflite/` in CI.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod checks;

fuzz_target!(|data: &[u8]| checks::tflite_bytes(data));
