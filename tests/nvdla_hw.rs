//! NVDLA hardware model pinned to published figures: FC at 6.25% on nv_full, ResNet-50
//! within 25% of the primer's 269 frames/s, the primer's range of configurations, and the
//! on-the-fly fusion of SDP element-wise adds and PDP pooling (`map/fusion.rs`).

mod common;

use accelsim::hw::{load_hw, Family, HwDesc};
use accelsim::import::{load_model, LoadOptions};
use accelsim::ir::Graph;
use accelsim::quant::{assign_uniform, Precision};
use accelsim::report::{Bound, RunReport};

fn graph(model: &str, hw: &HwDesc) -> Graph {
    let mut g = load_model(model, &LoadOptions::default()).expect("model");
    assign_uniform(&mut g, Precision { weight_bits: 8, activation_bits: 8 }, hw.accumulator.bits.min(64) as u8);
    g
}

fn run(hw: &str, set: &[(&str, f64)], model: &str) -> RunReport {
    let set: Vec<(String, f64)> = set.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    let hw = load_hw(hw, &set).expect("hw");
    accelsim::pipeline::run(&graph(model, &hw), &hw).expect("run")
}

/// nv_full with its fusion switches set.
fn nv_full(eltwise: bool, pool: bool) -> HwDesc {
    let mut hw = load_hw("nvdla_full", &[]).expect("hw");
    let Family::Nvdla(n) = &mut hw.family else { panic!("nvdla") };
    n.eltwise_on_the_fly = eltwise;
    n.pool_on_the_fly = pool;
    hw
}

#[test]
fn fc_runs_at_one_sixteenth_on_nv_full() {
    use accelsim::hw::Family;
    use accelsim::map::work::ConvWork;
    let hw = load_hw("nvdla_full", &[]).expect("hw");
    let w = ConvWork::fully_connected(1, 2048, 1024);
    let mode = hw.mode_for(8, 8).expect("int8");
    assert!(matches!(hw.family, Family::Nvdla(_)));
    let f = hw.family.conv_compute(mode, &w);
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
fn resnet50_fused_adds_and_pool_are_counted_in_their_conv() {
    let r = run("nvdla_full", &[], "resnet50");
    let fused: Vec<_> = r.layers.iter().filter(|l| l.fused_into.is_some()).collect();
    // 16 residual adds (SDP element-wise) and the global mean (PDP); conv1 runs in image-input
    // mode, so its max-pool is an offline PDP pass.
    assert_eq!(fused.iter().filter(|l| &*l.op == "add").count(), 16);
    assert_eq!(fused.iter().filter(|l| &*l.op == "mean").count(), 1);
    assert_eq!(fused.len(), 17);
    for l in &fused {
        assert_eq!(l.bound, Bound::Fused);
        assert_eq!((l.cycles.get(), l.dram_read.get(), l.dram_write.get()), (0, 0, 0), "{}", l.name);
        let head = r.layers.iter().find(|h| Some(&*h.name) == l.fused_into.as_deref()).expect("head row");
        assert!(head.op.starts_with("conv+"), "{} in {} ({})", l.name, head.name, head.op);
    }
    let maxpool = r.layers.iter().find(|l| &*l.op == "maxpool").expect("maxpool");
    assert!(maxpool.fused_into.is_none() && maxpool.cycles.get() > 0);
    let conv_add = r.layers.iter().filter(|l| &*l.op == "conv+add").count();
    assert_eq!(conv_add, 15);
    assert_eq!(r.layers.iter().filter(|l| &*l.op == "conv+add+mean").count(), 1);
    // Totals are the sums of the rows.
    let sum: u64 = r.layers.iter().map(|l| l.cycles.get()).sum();
    assert_eq!(sum, r.totals.cycles.get());
}

/// A conv with a fused add moves its own traffic plus the add's second operand, read by SDP's
/// DMA; the intermediate cube is neither written nor read back.
#[test]
fn fused_conv_add_traffic_is_conv_traffic_plus_the_second_operand() {
    // Pooling off in both, so only the element-wise fusion differs.
    let (on, off) = (nv_full(true, false), nv_full(false, false));
    let g = graph("resnet50", &on);
    // Scheduled for energy, so each conv moves the least whether an add is fused into it
    // (for latency, the fused pass's extra traffic may change its schedule).
    let run = |hw: &HwDesc| accelsim::pipeline::run_for(&g, hw, accelsim::map::tiling::Objective::Energy).expect("run");
    let (fused, alone) = (run(&on), run(&off));
    let row = |r: &RunReport, name: &str| r.layers.iter().find(|l| *l.name == *name).cloned().expect("row");
    // layer1_0 = add(layer1_0_conv3, layer1_0_downsample): the downsample runs later, so it
    // streams into SDP and the conv3 output (56 x 56 x 256 int8) is read from DRAM.
    let operand = 56 * 56 * 256;
    let (f, a) = (row(&fused, "layer1_0_downsample"), row(&alone, "layer1_0_downsample"));
    assert_eq!(&*f.op, "conv+add");
    assert_eq!(f.dram_read.get(), a.dram_read.get() + operand);
    assert_eq!(f.dram_write.get(), a.dram_write.get(), "the add's output replaces the conv's, same size");
    let add = row(&alone, "layer1_0");
    assert_eq!((add.dram_read.get(), add.dram_write.get()), (2 * operand, operand), "the pass fusion removes");
    assert_eq!(row(&fused, "layer1_0").dram_read.get(), 0);
    // Over the network: every add pass disappears, its second operand is read once instead.
    let adds: Vec<_> = alone.layers.iter().filter(|l| &*l.op == "add").collect();
    let saved_rd: u64 = adds.iter().map(|l| l.dram_read.get() / 2).sum();
    let saved_wr: u64 = adds.iter().map(|l| l.dram_write.get()).sum();
    assert_eq!(fused.totals.dram_read.get(), alone.totals.dram_read.get() - saved_rd);
    assert_eq!(fused.totals.dram_write.get(), alone.totals.dram_write.get() - saved_wr);
    assert!(fused.totals.cycles < alone.totals.cycles);
}

/// The binary reports fused rows in JSON with the conv they run in, and totals stay the sums.
#[test]
fn json_names_the_conv_a_fused_layer_runs_in() {
    let v = common::json_run(&["--hw", "nvdla_full", "--model", "resnet50"]);
    let layers = v["layers"].as_array().expect("layers");
    let add = layers.iter().find(|l| l["name"] == "layer1_0").expect("layer1_0");
    assert_eq!(add["fused_into"], "layer1_0_downsample");
    assert_eq!(add["bound"], "fused");
    for key in ["cycles", "dram_read_bytes", "dram_write_bytes"] {
        let sum: u64 = layers.iter().map(|l| l[key].as_u64().expect("count")).sum();
        assert_eq!(sum, v["totals"][key].as_u64().expect("total"), "{key}");
    }
    let (ok, out, err) = common::accelsim(&["run", "--hw", "nvdla_full", "--model", "resnet50"]);
    assert!(ok, "{err}");
    assert!(out.contains("add (in layer1_0_downsample)") && out.contains("fused"), "{out}");
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

/// The fusion fields are optional (NVDLA's own behaviour by default), validated, and shown.
#[test]
fn fusion_fields_default_validate_and_show() {
    let full = include_str!("../accelerators/nvdla_full.toml");
    let bare: String = full
        .lines()
        .filter(|l| {
            !l.starts_with("eltwise_on_the_fly") && !l.starts_with("pool_on_the_fly") && !l.starts_with("pdp_line")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let hw = accelsim::hw::parse_hw("bare.toml", &bare, &[]).expect("optional fields");
    let Family::Nvdla(n) = &hw.family else { panic!("nvdla") };
    assert!(n.eltwise_on_the_fly && n.pool_on_the_fly);
    assert_eq!(n.pdp_line_buffer.get(), accelsim::hw::PDP_LINE_BUFFER_BYTES);
    let bad = full.replace("pdp_line_buffer_kib = 7.0", "pdp_line_buffer_kib = -1.0");
    let e = accelsim::hw::parse_hw("bad.toml", &bad, &[]).expect_err("negative buffer");
    let msg = format!("{e:?}");
    assert!(msg.contains("bad.toml") && msg.contains("nvdla.pdp_line_buffer_kib"), "{msg}");
    let (ok, out, err) = common::accelsim(&["hw", "show", "nvdla_full"]);
    assert!(ok, "{err}");
    assert!(out.contains("SDP element-wise on the fly true, PDP on the fly true (share line buffer 7168 B)"), "{out}");
}
