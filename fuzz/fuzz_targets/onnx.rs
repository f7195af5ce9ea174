//! Fuzzes the ONNX reader: any bytes must give a validated graph or an error naming the
//! file, never a panic or an allocation sized by an unchecked field. A graph that loads is
//! costed on one preset.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    match accelsim::import::onnx::import_onnx_bytes(data, "fuzz.onnx") {
        Ok(g) => common::cost_is_finite(g),
        Err(e) => assert!(e.to_string().contains("fuzz.onnx"), "{e}"),
    }
});
