//! `accelsim nvdla-estimate`: NVIDIA's spreadsheet estimator (see
//! [`crate::simulate::nvdla_estimator`]) from the command line, one row per layer.

use crate::import::{load_model, LoadOptions};
use crate::simulate::nvdla_estimator::{estimate, layers_from_graph, workbook, Bound, EstimatorConfig, GraphLayers};
use miette::{miette, Result, WrapErr};
use std::fmt::Write;

/// Arguments of `accelsim nvdla-estimate`.
#[derive(clap::Args, Debug)]
pub struct EstimateArgs {
    /// INT8 MACs (32-2048 in the primer).
    #[arg(long, default_value_t = 2048)]
    pub macs: u32,
    /// CBUF size in KB.
    #[arg(long = "cbuf-kib", default_value_t = 512)]
    pub cbuf_kib: u64,
    /// DRAM bandwidth in GB/s.
    #[arg(long, default_value_t = 20.0)]
    pub gbps: f64,
    /// Network: `workbook` (the Caffe ResNet-50 v1 rows NVIDIA's workbook lists, which the
    /// primer's figures come from), a built-in name or a model file.
    #[arg(long, default_value = "workbook")]
    pub model: String,
}

/// Runs the estimator and prints per-layer rows and the frame rate (through
/// [`super::run::emit`], so a reader that stops early is not an error).
pub fn run(a: &EstimateArgs) -> Result<()> {
    let mut s = String::new();
    let gl = if a.model == "workbook" {
        let (name, channels) = workbook::ERRATUM;
        let _ = writeln!(
            s,
            "network: the workbook's Caffe ResNet-50 v1 rows (sheet ResNet50), with its row for {name} at {channels} input channels as the sheet has it (pool1 gives 64)"
        );
        GraphLayers { layers: workbook::workbook_layers(), skipped: Vec::new() }
    } else {
        let g = load_model(&a.model, &LoadOptions::default())
            .map_err(miette::Report::new)
            .wrap_err("cannot load the network")?;
        layers_from_graph(&g)
    };
    let config = EstimatorConfig::primer(a.macs, a.cbuf_kib, a.gbps);
    let est = estimate(&config, &gl.layers).map_err(|e| miette!("{e}"))?;
    let _ = writeln!(
        s,
        "{:<22} {:>12} {:>12} {:>12} {:>6} {:>10}",
        "layer", "mac_cycles", "dram_cycles", "cycles", "bound", "dram_KB"
    );
    for l in &est.layers {
        let bound = if l.bound == Bound::Mac { "MAC" } else { "DRAM" };
        let _ = writeln!(
            s,
            "{:<22} {:>12.0} {:>12} {:>12.0} {:>6} {:>10.1}",
            l.name,
            l.mac_cycles,
            l.dram_cycles.get(),
            l.cycles,
            bound,
            l.dram_traffic_kib
        );
    }
    for sk in &gl.skipped {
        let _ = writeln!(s, "skipped {}: {}", sk.name, sk.reason);
    }
    let _ = writeln!(
        s,
        "total: {:.0} cycles, {:.3} ms, {:.2} frames/s ({} MACs, {} KB CBUF, {} GB/s)",
        est.cycles,
        est.frame_time.0 * 1e3,
        est.fps,
        a.macs,
        a.cbuf_kib,
        a.gbps
    );
    super::run::emit(None, &s, &[])
}
