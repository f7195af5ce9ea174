//! Fuzzes the model TOML loader: any text must give a validated `Graph` or a `FileError`.
//! A graph that loads is also costed on one preset, so shapes the importer accepts cannot
//! crash the pipeline.
#![no_main]

use accelsim::import::{model_file, LoadOptions};
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match model_file::parse("fuzz.toml", text, &LoadOptions::default()) {
        Ok(g) => common::cost_is_finite(g),
        Err(e) => assert!(e.to_string().starts_with("fuzz.toml:")),
    }
});
