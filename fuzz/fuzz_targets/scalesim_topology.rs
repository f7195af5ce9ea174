//! Fuzzes the SCALE-Sim topology CSV reader: any text must give a validated graph or a
//! `FileError` naming the file. A graph that loads is costed on one preset.
//! The property is [`checks::scalesim_topology_bytes`], which `tests/fuzz_corpus.rs` also replays
//! over `corpus/scalesim_topology/` in CI.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod checks;

fuzz_target!(|data: &[u8]| checks::scalesim_topology_bytes(data));
