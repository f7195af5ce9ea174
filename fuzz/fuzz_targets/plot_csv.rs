//! Fuzzes `plot` input: every figure kind of any CSV draws or errors, never panics or hangs.
//! The property is [`checks::plot_csv_bytes`], which `tests/fuzz_corpus.rs` also replays over
//! `corpus/plot_csv/` in CI.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod checks;

fuzz_target!(|data: &[u8]| checks::plot_csv_bytes(data));
