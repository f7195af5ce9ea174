//! Fuzzes the SCALE-Sim `.cfg` reader: any text must give a valid `HwDesc` or an error
//! naming the file, and a `HwDesc` must keep the "no division by zero" invariant.
//! The property is [`checks::scalesim_cfg_bytes`], which `tests/fuzz_corpus.rs` also replays
//! over `corpus/scalesim_cfg/` in CI.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod checks;

fuzz_target!(|data: &[u8]| checks::scalesim_cfg_bytes(data));
