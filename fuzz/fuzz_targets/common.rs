//! What every fuzz target checks once its input has become a graph: costed on one preset
//! at w8a8, it gives finite latency and energy per layer or an error, never a panic.

use accelsim::ir::Graph;
use accelsim::quant::{assign_uniform, Precision};

/// Costs `g` on the systolic32 preset at 8-bit weights and activations; every layer of a
/// successful run must have finite energy and latency.
pub fn cost_is_finite(mut g: Graph) {
    let hw = accelsim::hw::load_hw("systolic32", &[]).expect("preset");
    assign_uniform(&mut g, Precision { weight_bits: 8, activation_bits: 8 }, 32);
    if let Ok(r) = accelsim::pipeline::run(&g, &hw) {
        for l in &r.layers {
            assert!(l.energy.total().get().is_finite() && l.latency.0.is_finite(), "{}", l.name);
        }
    }
}
