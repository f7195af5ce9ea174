//! Fuzzes the SCALE-Sim topology CSV reader: any text must give a validated graph or a
//! `FileError` naming the file. A graph that loads is costed on one preset.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match accelsim::import::scalesim::parse("fuzz.csv", text) {
        Ok(g) => common::cost_is_finite(g),
        Err(e) => assert!(e.to_string().starts_with("fuzz.csv"), "{e}"),
    }
});
