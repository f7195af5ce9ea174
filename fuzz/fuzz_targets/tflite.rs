//! Fuzzes the TFLite reader: any bytes must give a validated graph or an error naming the
//! file (never a panic, never an allocation sized by an unchecked field). A graph that
//! loads is costed on one preset, and executed on a zero input when it is small enough.
#![no_main]

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    match accelsim::import::tflite::import_tflite_bytes(data, "fuzz.tflite") {
        Ok(m) => {
            let _ = accelsim::kernels::Executor::new(&m.graph, Default::default());
            common::cost_is_finite(m.graph);
        }
        Err(e) => assert!(e.to_string().contains("fuzz.tflite"), "{e}"),
    }
});
