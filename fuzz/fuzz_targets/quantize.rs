//! Fuzzes the `quantize` command path: widths from two bytes, a model TOML, calibrate, quantize, `.aqm` round trip, execute.
//! The property is [`checks::quantize_bytes`], which `tests/fuzz_corpus.rs` also replays over
//! `corpus/quantize/` in CI.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod checks;

fuzz_target!(|data: &[u8]| checks::quantize_bytes(data));
