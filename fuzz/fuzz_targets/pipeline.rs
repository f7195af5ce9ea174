//! Fuzzes the cost pipeline: a preset and a built-in network with fuzzed `--set`
//! overrides, widths, width multiplier and resolution. Every combination must give a
//! report with finite numbers or an error, never a panic.
#![no_main]

use accelsim::import::{builtin, load_model, LoadOptions};
use accelsim::quant::{assign_uniform, Precision};
use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;

/// Numeric fields `--set` can reach in the presets (some only in some presets).
const FIELDS: &[&str] = &[
    "clock_mhz",
    "accumulator_bits",
    "mac.rows",
    "mac.cols",
    "nvdla.atomic_c",
    "nvdla.atomic_k",
    "nvdla.stripe",
    "nvdla.weight_load_cycles",
    "nvdla.pdp_elements_per_cycle",
    "dsp.vector_bits",
    "dsp.hvx_contexts",
    "dsp.invocation_overhead_us",
    "precision.0.macs_per_cycle",
    "precision.0.weight_bits",
    "precision.0.energy_pj_per_mac",
    "buffer.0.size_kib",
    "buffer.1.size_kib",
    "buffer.2.size_kib",
    "buffer.0.banks",
    "buffer.0.port_bits",
    "dram.bandwidth_gbps",
    "dram.efficiency",
    "dram.latency_ns",
    "vector.elements_per_cycle",
];

#[derive(Arbitrary, Debug)]
struct Input {
    hw: u8,
    model: u8,
    wbits: u8,
    abits: u8,
    width: Option<u8>,
    resolution: Option<u16>,
    sets: Vec<(u8, f64)>,
}

fuzz_target!(|i: Input| {
    let presets = accelsim::hw::presets::names();
    let models = builtin::names();
    let hw_name = presets[i.hw as usize % presets.len()];
    let model = models[i.model as usize % models.len()];
    let sets: Vec<(String, f64)> =
        i.sets.iter().take(4).map(|(f, v)| (FIELDS[*f as usize % FIELDS.len()].to_string(), *v)).collect();
    let Ok(hw) = accelsim::hw::load_hw(hw_name, &sets) else { return };
    let width = i.width.map(|w| w as f64 / 64.0).unwrap_or(1.0);
    let opts = LoadOptions { width, resolution: i.resolution.map(|r| r as usize), ..Default::default() };
    let Ok(mut g) = load_model(model, &opts) else { return };
    let (Ok(wb), Ok(ab)) = (
        accelsim::quant::check_width("--wbits", i.wbits as i64),
        accelsim::quant::check_width("--abits", i.abits as i64),
    ) else {
        return;
    };
    let acc = hw.accumulator.bits.min(64) as u8;
    assign_uniform(&mut g, Precision { weight_bits: wb, activation_bits: ab }, acc);
    if let Ok(r) = accelsim::pipeline::run(&g, &hw) {
        for l in &r.layers {
            assert!(l.energy.total().get().is_finite() && l.latency.0.is_finite(), "{}", l.name);
            assert!(l.utilization.is_finite(), "{}", l.name);
        }
        assert!(r.totals.energy.total().get().is_finite());
    }
});
