//! NVDLA hardware model pinned to published figures: FC at 6.25% on nv_full, ResNet-50
//! within 25% of the primer's 269 frames/s, and the primer's range of configurations.

use accelsim::hw::load_hw;
use accelsim::import::{load_model, LoadOptions};
use accelsim::quant::{assign_widths, Precision};

fn run(hw: &str, set: &[(&str, f64)], model: &str) -> accelsim::report::RunReport {
    let set: Vec<(String, f64)> = set.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    let hw = load_hw(hw, &set).expect("hw");
    let mut g = load_model(model, &LoadOptions::default()).expect("model");
    assign_widths(&mut g, Precision { weight_bits: 8, activation_bits: 8 }, hw.accumulator.bits.min(64) as u8);
    accelsim::pipeline::run(&g, &hw).expect("run")
}

#[test]
fn fc_runs_at_one_sixteenth_on_nv_full() {
    use accelsim::hw::Family;
    use accelsim::map::family::conv_compute;
    use accelsim::map::work::ConvWork;
    let hw = load_hw("nvdla_full", &[]).expect("hw");
    let w = ConvWork::fully_connected(1, 2048, 1024);
    let mode = hw.mode_for(8, 8).expect("int8");
    assert!(matches!(hw.family, Family::Nvdla(_)));
    let f = conv_compute(&hw.family, mode, &w);
    let eff = w.macs().get() as f64 / (f.cycles.get() as f64 * 2048.0);
    assert!((eff - 0.0625).abs() < 1e-9, "FC efficiency {eff}");
}

#[test]
fn resnet50_within_25_percent_of_269_fps() {
    let r = run("nvdla_full", &[], "resnet50");
    let fps = 1.0 / (r.totals.cycles.get() as f64 / 1e9);
    assert!(fps > 269.0 / 1.25 && fps < 269.0 * 1.25, "{fps} fps");
}

#[test]
fn primer_range_runs() {
    for (macs, ac, ak, kib, gbps) in [
        (32.0, 8.0, 4.0, 128.0, 0.5),
        (64.0, 8.0, 8.0, 128.0, 1.0),
        (256.0, 32.0, 8.0, 256.0, 5.0),
        (2048.0, 64.0, 32.0, 512.0, 20.0),
    ] {
        let set = [
            ("precision.0.macs_per_cycle", macs),
            ("nvdla.atomic_c", ac),
            ("nvdla.atomic_k", ak),
            ("buffer.0.size_kib", kib),
            ("dram.bandwidth_gbps", gbps),
        ];
        let r = run("nvdla_small", &set, "resnet50");
        assert!(r.totals.cycles.get() > 0);
    }
    for p in ["nvdla_large", "nvdla_medium_1024", "nvdla_medium_512", "nvdla_small_256"] {
        assert!(run(p, &[], "resnet50").totals.cycles.get() > 0);
    }
}
