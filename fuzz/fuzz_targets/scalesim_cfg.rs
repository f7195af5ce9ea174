//! Fuzzes the SCALE-Sim `.cfg` reader: any text must give a valid `HwDesc` or an error
//! naming the file, and a `HwDesc` must keep the "no division by zero" invariant.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match accelsim::hw::scalesim_cfg::parse("fuzz.cfg", text, &[]) {
        Ok(hw) => {
            assert!(hw.clock.0 > 0.0 && hw.clock.0.is_finite());
            assert!(hw.dram_bytes_per_cycle() > 0.0 && hw.dram_bytes_per_cycle().is_finite());
            assert!(!hw.precisions.is_empty() && !hw.buffers.is_empty());
        }
        Err(e) => assert!(e.to_string().starts_with("fuzz.cfg"), "{e}"),
    }
});
