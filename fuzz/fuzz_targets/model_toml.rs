//! Fuzzes the model TOML loader: any text must give a validated `Graph` or a `FileError`.
//! A graph that loads is also costed on one preset, so shapes the importer accepts cannot
//! crash the pipeline.
//! The property is [`checks::model_toml_bytes`], which `tests/fuzz_corpus.rs` also replays
//! over `corpus/model_toml/` in CI.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod checks;

fuzz_target!(|data: &[u8]| checks::model_toml_bytes(data));
