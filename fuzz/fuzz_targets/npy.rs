//! Fuzzes the `.npy` reader: finite float32 values of the header's shape, or an error naming the file.
//! The property is [`checks::npy_bytes`], which `tests/fuzz_corpus.rs` also replays over
//! `corpus/npy/` in CI.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod checks;

fuzz_target!(|data: &[u8]| checks::npy_bytes(data));
