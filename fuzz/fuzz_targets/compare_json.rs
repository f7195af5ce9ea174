//! Fuzzes `compare` input: two JSON documents (NUL-separated) give a table or an error.
//! The property is [`checks::compare_json_bytes`], which `tests/fuzz_corpus.rs` also replays over
//! `corpus/compare_json/` in CI.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod checks;

fuzz_target!(|data: &[u8]| checks::compare_json_bytes(data));
