//! Trends an architect reads from sweeps point the right way: over every preset and the
//! built-in MobileNet-v1, ResNet-50 and Inception-v3, doubling one resource (each buffer's
//! size, the DRAM bandwidth, the clock, the array) never raises the network's latency.
//!
//! The check is a count of failures over the whole grid, printed with each failure, so a
//! regression names the preset, network and knob that broke.

use accelsim::hw::{load_hw, presets, Family, HwDesc};
use accelsim::import::{load_model, LoadOptions};
use accelsim::ir::Graph;
use accelsim::quant::{assign_widths, Precision};

/// The knobs of a preset that an architect doubles, as `--set` overrides of the doubled value.
fn knobs(hw: &HwDesc) -> Vec<(String, Vec<(String, f64)>)> {
    let mut k = Vec::new();
    for (i, b) in hw.buffers.iter().enumerate() {
        let kib = b.size.get() as f64 / 1024.0;
        k.push((format!("buffer.{i}.size_kib ({})", b.name), vec![(format!("buffer.{i}.size_kib"), kib * 2.0)]));
    }
    let gbps = hw.dram.bandwidth.0 / 1e9;
    k.push(("dram.bandwidth_gbps".into(), vec![("dram.bandwidth_gbps".into(), gbps * 2.0)]));
    k.push(("clock_mhz".into(), vec![("clock_mhz".into(), hw.clock.0 / 1e6 * 2.0)]));
    match &hw.family {
        Family::MacArray(m) => k.push((
            "mac.rows,cols".into(),
            vec![("mac.rows".into(), (m.rows * 2) as f64), ("mac.cols".into(), (m.cols * 2) as f64)],
        )),
        Family::Nvdla(n) => k.push(("nvdla.atomic_k".into(), vec![("nvdla.atomic_k".into(), (n.atomic_k * 2) as f64)])),
        Family::Dsp(d) => {
            k.push(("dsp.hvx_contexts".into(), vec![("dsp.hvx_contexts".into(), (d.hvx_contexts * 2) as f64)]))
        }
    }
    k
}

fn network(model: &str, hw: &HwDesc) -> Graph {
    let mut g = load_model(model, &LoadOptions::default()).expect("built-in network");
    assign_widths(&mut g, Precision { weight_bits: 8, activation_bits: 8 }, hw.accumulator.bits as u8);
    g
}

#[test]
fn doubling_a_resource_never_raises_latency() {
    let (mut checks, mut failures) = (0, Vec::new());
    for preset in presets::names() {
        let base = load_hw(preset, &[]).expect("preset");
        for model in ["mnv1", "resnet50", "inception_v3"] {
            let g = network(model, &base);
            let Ok(before) = accelsim::pipeline::run(&g, &base) else { continue };
            for (name, set) in knobs(&base) {
                let hw = match load_hw(preset, &set) {
                    Ok(hw) => hw,
                    Err(e) => {
                        failures.push(format!("{preset} {model} {name}: {e}"));
                        continue;
                    }
                };
                checks += 1;
                match accelsim::pipeline::run(&g, &hw) {
                    Ok(after) if after.totals.latency.0 <= before.totals.latency.0 * (1.0 + 1e-12) => {}
                    Ok(after) => failures.push(format!(
                        "{preset} {model} {name} x2: latency {:.6} ms -> {:.6} ms",
                        before.totals.latency.0 * 1e3,
                        after.totals.latency.0 * 1e3
                    )),
                    Err(e) => failures.push(format!("{preset} {model} {name} x2: {e}")),
                }
            }
        }
    }
    eprintln!("{} of {checks} checks fail:\n{}", failures.len(), failures.join("\n"));
    assert!(failures.is_empty(), "{} of {checks} monotonicity checks fail", failures.len());
}
