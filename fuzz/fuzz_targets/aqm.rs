//! Fuzzes the `.aqm` reader: a valid graph (costed, executed) or an error naming the file.
//! The property is [`checks::aqm_bytes`], which `tests/fuzz_corpus.rs` also replays over
//! `corpus/aqm/` in CI.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod checks;

fuzz_target!(|data: &[u8]| checks::aqm_bytes(data));
