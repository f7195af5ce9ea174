//! Hexagon DSP model: MobileNet-v1 hardware time between the roofline bound and the
//! whitepaper's measured 16 ms (which includes framework time).

use accelsim::hw::load_hw;
use accelsim::import::{load_model, LoadOptions};
use accelsim::quant::{assign_widths, Precision};

#[test]
fn mnv1_between_roofline_and_16_ms() {
    let hw = load_hw("dsp", &[]).expect("hw");
    let mut g = load_model("mnv1", &LoadOptions::default()).expect("model");
    assign_widths(&mut g, Precision { weight_bits: 8, activation_bits: 8 }, 32);
    let r = accelsim::pipeline::run(&g, &hw).expect("run");
    let t = r.totals.cycles.get() as f64 / hw.clock.0;
    let macs: u64 = r.layers.iter().map(|l| l.macs.get()).sum();
    let peak = hw.mode_for(8, 8).expect("int8").macs_per_cycle as f64 * hw.clock.0;
    // Compulsory bytes: every layer's DRAM traffic can be no lower than what it moved once.
    let bytes: u64 = r.layers.iter().map(|l| l.dram_read.get() + l.dram_write.get()).sum();
    let roof = (macs as f64 / peak).max(bytes as f64 / (hw.dram.bandwidth.0 * hw.dram.efficiency));
    assert!(t >= roof && t <= 16e-3, "hardware {t} s, roofline {roof} s");
}

#[test]
fn kernel_efficiencies_are_derived() {
    use accelsim::map::family::{dsp_kernel_efficiency, DspKernel};
    // GEMM, 64 reduction steps: 9 loads per step bind (the requantization epilogue's
    // multiplies, shifts and permutes fit in the packets the loads leave): 8/9.
    let e = dsp_kernel_efficiency(DspKernel::Gemm, 64);
    assert!((e - 64.0 * 2048.0 / (64.0 * 9.0 * 256.0)).abs() < 1e-9, "{e}");
    // Depthwise 3x3: 3 steps + requant: max(load 3, permute 3.75, mpy 2.5, slots 15/4) = 3.75.
    let d = dsp_kernel_efficiency(DspKernel::Depthwise, 3);
    assert!((d - 3.0 * 128.0 / (3.75 * 256.0)).abs() < 1e-9, "{d}");
}
