//! Fuzzes the accelerator TOML loader: any text must give a `HwDesc` or a `FileError`
//! (never a panic), and a `HwDesc` must keep the "no division by zero" invariant.
//! The property is [`checks::hw_toml_bytes`], which `tests/fuzz_corpus.rs` also replays
//! over `corpus/hw_toml/` in CI.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod checks;

fuzz_target!(|data: &[u8]| checks::hw_toml_bytes(data));
