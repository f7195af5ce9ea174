//! Fuzzes sweep TOML plans: countable point counts, decodable points, or an error naming the file.
//! The property is [`checks::sweep_config_bytes`], which `tests/fuzz_corpus.rs` also replays over
//! `corpus/sweep_config/` in CI.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod checks;

fuzz_target!(|data: &[u8]| checks::sweep_config_bytes(data));
