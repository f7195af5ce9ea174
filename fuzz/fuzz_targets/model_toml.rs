//! Fuzzes the model TOML loader: any text must give a validated `Graph` or a `FileError`.
//! A graph that loads is also costed on one preset, so shapes the importer accepts cannot
//! crash the pipeline.
#![no_main]

use accelsim::import::{model_file, LoadOptions};
use accelsim::quant::{assign_widths, Precision};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match model_file::parse("fuzz.toml", text, &LoadOptions::default()) {
        Ok(mut g) => {
            let hw = accelsim::hw::load_hw("systolic32", &[]).expect("preset");
            assign_widths(&mut g, Precision { weight_bits: 8, activation_bits: 8 }, 32);
            if let Ok(r) = accelsim::pipeline::run(&g, &hw) {
                for l in &r.layers {
                    assert!(l.energy.total().get().is_finite() && l.latency.0.is_finite(), "{}", l.name);
                }
            }
        }
        Err(e) => assert!(e.to_string().starts_with("fuzz.toml:")),
    }
});
