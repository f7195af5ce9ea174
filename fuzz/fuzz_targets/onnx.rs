//! Fuzzes the ONNX reader: any bytes must give a validated graph or an error naming the
//! file, never a panic or an allocation sized by an unchecked field. A graph that loads is
//! costed on one preset.
#![no_main]

use accelsim::quant::{assign_widths, Precision};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match accelsim::import::onnx::import_onnx_bytes(data, "fuzz.onnx") {
        Ok(mut g) => {
            let hw = accelsim::hw::load_hw("systolic32", &[]).expect("preset");
            assign_widths(&mut g, Precision { weight_bits: 8, activation_bits: 8 }, 32);
            if let Ok(r) = accelsim::pipeline::run(&g, &hw) {
                for l in &r.layers {
                    assert!(l.energy.total().get().is_finite() && l.latency.0.is_finite(), "{}", l.name);
                }
            }
        }
        Err(e) => assert!(e.to_string().contains("fuzz.onnx"), "{e}"),
    }
});
