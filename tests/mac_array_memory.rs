//! MAC-array family: memory stalls can reverse the dataflow ranking (SCALE-Sim v3 paper's
//! ResNet-18 observation), and operands move at their packed widths.
//!
//! The reversal test sweeps the DRAM bandwidth of a 32x32 array with SCALE-Sim's default
//! 64 KiB SRAMs (read from a SCALE-Sim `.cfg` text, `InterfaceBandwidth = USER` so the bandwidth
//! limits) and compares output- and
//! weight-stationary on the built-in ResNet-18, layer by layer and in total. It asserts
//! only that a strict reversal (compute-only ranking differs from the ranking with stalls)
//! exists for some bandwidth, and prints every one found; `docs/mac_array.md` lists them.

use accelsim::hw::scalesim_cfg;
use accelsim::import::{load_model, scalesim, LoadOptions};
use accelsim::quant::{assign_uniform, Precision};
use accelsim::report::RunReport;

fn run(df: &str, bw: u64, model: &str) -> RunReport {
    let cfg = format!(
        "[architecture_presets]\nArrayHeight = 32\nArrayWidth = 32\nIfmapSramSzkB = 64\nFilterSramSzkB = 64\n\
         OfmapSramSzkB = 64\nBandwidth = {bw}\nDataflow = {df}\n[run_presets]\nInterfaceBandwidth = USER\n"
    );
    let hw = scalesim_cfg::parse("sweep.cfg", &cfg, &[]).expect("cfg");
    let mut g = load_model(model, &LoadOptions::default()).expect("model");
    assign_uniform(&mut g, Precision { weight_bits: 8, activation_bits: 8 }, 32);
    accelsim::pipeline::run(&g, &hw).expect("run")
}

#[test]
fn stalls_reverse_the_os_ws_ranking_on_resnet18_for_some_bandwidth() {
    let mut found = Vec::new();
    for bw in [1, 2, 3, 4, 6, 8, 10, 12, 16, 24, 32] {
        let (os, ws) = (run("os", bw, "resnet18"), run("ws", bw, "resnet18"));
        let mut rows: Vec<(String, i128, i128)> = os
            .layers
            .iter()
            .zip(&ws.layers)
            .filter(|(o, _)| o.macs.get() > 0)
            .map(|(o, w)| {
                (
                    o.name.to_string(),
                    o.compute_cycles.get() as i128 - w.compute_cycles.get() as i128,
                    o.cycles.get() as i128 - w.cycles.get() as i128,
                )
            })
            .collect();
        rows.push((
            "TOTAL".into(),
            os.totals.compute_cycles.get() as i128 - ws.totals.compute_cycles.get() as i128,
            os.totals.cycles.get() as i128 - ws.totals.cycles.get() as i128,
        ));
        for (name, dc, dt) in rows {
            if dc * dt < 0 {
                found.push(format!("{bw} B/cycle {name}: OS - WS compute {dc:+}, total {dt:+}"));
            }
        }
    }
    eprintln!("reversals:\n{}", found.join("\n"));
    assert!(!found.is_empty(), "no bandwidth reverses the OS/WS ranking");
}

#[test]
fn three_bit_weights_move_as_three_bits_in_dram_and_sram() {
    // One conv whose weights (64 x 3 x 3 x 32 = 18432) fit the SRAM in one tile.
    let topo = "h,\nc, 16, 16, 3, 3, 32, 64, 1,\n";
    let hw = accelsim::hw::load_hw("mac4", &[]).expect("preset");
    let run_w = |wbits: u8| {
        let mut g = scalesim::parse("t.csv", topo).expect("topology");
        assign_uniform(&mut g, Precision { weight_bits: wbits, activation_bits: 8 }, 24);
        // Scheduled for energy, which moves each weight once (the latency objective may
        // re-read them to hide more of the first load).
        accelsim::pipeline::run_for(&g, &hw, accelsim::map::tiling::Objective::Energy).expect("run")
    };
    let (r3, r8) = (run_w(3), run_w(8));
    let filt = |r: &RunReport| r.layers[0].buffers.iter().find(|b| &*b.name == "filter_sram").cloned().expect("sram");
    let (f3, f8) = (filt(&r3), filt(&r8));
    // DRAM -> filter SRAM fill: 18432 weights x 3 bits = 6912 bytes (vs 18432 at 8 bits),
    // plus 64 bias words at the 24-bit accumulator width (192 bytes) that the tiler counts
    // with the weights whatever their width.
    assert_eq!(f8.writes.get(), 18432 + 192);
    assert_eq!(f3.writes.get(), 18432 * 3 / 8 + 192);
    // SRAM -> array reads scale the same way (rounded up to whole bytes).
    assert_eq!(f3.reads.get(), (f8.reads.get() * 3).div_ceil(8));
    // Total DRAM reads drop by exactly the weight bytes saved.
    assert_eq!(r8.layers[0].dram_read.get() - r3.layers[0].dram_read.get(), 18432 - 6912);
    // 3-bit weights run in the 4x4 mode only if activations fit: 8-bit activations need 8x8.
    assert_eq!(r3.layers[0].mode, "8x8");
}
