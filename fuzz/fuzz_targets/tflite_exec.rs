//! Fuzzes execution of imported `.tflite` graphs (`exec`, `run`'s accuracy): import, then run small graphs.
//! The property is [`checks::tflite_exec_bytes`], which `tests/fuzz_corpus.rs` also replays over
//! `corpus/tflite_exec/` in CI.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod checks;

fuzz_target!(|data: &[u8]| checks::tflite_exec_bytes(data));
