//! SCALE-Sim-style reports for a run on a `mac_array` accelerator: `COMPUTE_REPORT.csv`,
//! `BANDWIDTH_REPORT.csv` and `DETAILED_ACCESS_REPORT.csv`, with SCALE-Sim 3.0.0's columns,
//! order and trailing commas (checked against `tests/fixtures/scalesim`), rendered from the
//! run's layer reports (no mapping is re-run). One row per IR layer: a topology `DP` row is
//! one row here where SCALE-Sim writes one per channel (its percentages and bandwidths are
//! the same, its cycles and counts the sum). Words are SCALE-Sim's 1-byte words: SRAM counts
//! are operand elements, DRAM counts bytes (equal at 8 bits).
//!
//! `COMPUTE_REPORT.csv`: `LayerID, Total Cycles, Stall Cycles, Overall Util %, Mapping
//! Efficiency %, Compute Util %,` (SCALE-Sim's prefetch-inclusive column is left out: it
//! comes from its request-level DRAM model).
//! * `Mapping Efficiency %` and `Compute Util %` are SCALE-Sim's closed forms
//!   ([`crate::map::systolic::compute`]) and match SCALE-Sim exactly.
//! * `Total Cycles` is the layer's cycles, `Stall Cycles` its DRAM stalls, `Overall Util %`
//!   = MACs / (total x PEs). With `InterfaceBandwidth = CALC` (SCALE-Sim's default) there are
//!   no stalls and all three match SCALE-Sim; with `USER` the stalls are accelsim's tile/DMA
//!   model's at `Bandwidth` words per cycle (including a layer's first load and last store).
//!
//! `BANDWIDTH_REPORT.csv`: `LayerID, Avg IFMAP SRAM BW, Avg FILTER SRAM BW, Avg OFMAP SRAM
//! BW, Avg IFMAP DRAM BW, Avg FILTER DRAM BW, Avg OFMAP DRAM BW,` in words per cycle. As in
//! SCALE-Sim, an SRAM bandwidth is the operand's SRAM reads (OFMAP: writes) over the layer's
//! total cycles. SCALE-Sim divides a DRAM count by that operand's own transfer window; the
//! DMA model here has one channel for all operands and no per-operand windows, so a DRAM
//! bandwidth here is the operand's DRAM words over the layer's total cycles (a lower bound of
//! SCALE-Sim's figure).
//!
//! `DETAILED_ACCESS_REPORT.csv`: per operand the SRAM start cycle, stop cycle and reads
//! (OFMAP: writes), then the same for DRAM. The counts have SCALE-Sim's meaning and the SRAM
//! IFMAP and Filter reads equal SCALE-Sim's on every fixture; DRAM IFMAP reads too, except
//! where a filter smaller than its stride skips pixels (SCALE-Sim fetches only the words a
//! window touches, accelsim's DMA the whole input); DRAM Filter reads include the biases at
//! accumulator width, and OFMAP writes are the outputs and partial sums (SCALE-Sim counts
//! more, per fold);
//! the start and stop cycles are the layer's window `0 .. Total Cycles` for every operand,
//! since the model keeps no per-operand timeline (SCALE-Sim's DRAM reads start before 0, in
//! the prefetch).

use crate::hw::HwDesc;
use crate::map::systolic;
use crate::report::RunReport;

/// A float as Python prints it: whole numbers keep a `.0` (`100.0`).
fn py_float(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// The header row of `COMPUTE_REPORT.csv` (SCALE-Sim's column names, trailing comma included).
pub const HEADER: &str = "LayerID, Total Cycles, Stall Cycles, Overall Util %, Mapping Efficiency %, Compute Util %,\n";

/// Renders the compute report of `report` (a run on `hw`); `None` when `hw` is not a
/// `mac_array`.
pub fn compute_report(hw: &HwDesc, report: &RunReport) -> Option<String> {
    let (rows, cols) = hw.family.systolic_array()?;
    let mut s = String::from(HEADER);
    for (i, r) in report.layers.iter().enumerate() {
        let (mapping, util) = r.array.map_or((0.0, 0.0), |a| (a.mapping_efficiency, a.compute_utilization));
        let total = r.cycles.get();
        let overall = systolic::overall_utilization(r.macs.get(), total.max(1), rows, cols);
        s.push_str(&format!(
            "{i}, {total}, {}, {}, {}, {},\n",
            r.stall_cycles.get(),
            py_float(overall),
            py_float(mapping),
            py_float(util)
        ));
    }
    Some(s)
}

/// The header row of `BANDWIDTH_REPORT.csv`.
pub const BANDWIDTH_HEADER: &str = "LayerID, Avg IFMAP SRAM BW, Avg FILTER SRAM BW, Avg OFMAP SRAM BW, Avg IFMAP DRAM BW, Avg FILTER DRAM BW, Avg OFMAP DRAM BW,\n";

/// The header row of `DETAILED_ACCESS_REPORT.csv`.
pub const DETAILED_HEADER: &str = "LayerID, SRAM IFMAP Start Cycle, SRAM IFMAP Stop Cycle, SRAM IFMAP Reads, SRAM Filter Start Cycle, SRAM Filter Stop Cycle, SRAM Filter Reads, SRAM OFMAP Start Cycle, SRAM OFMAP Stop Cycle, SRAM OFMAP Writes, DRAM IFMAP Start Cycle, DRAM IFMAP Stop Cycle, DRAM IFMAP Reads, DRAM Filter Start Cycle, DRAM Filter Stop Cycle, DRAM Filter Reads, DRAM OFMAP Start Cycle, DRAM OFMAP Stop Cycle, DRAM OFMAP Writes,\n";

/// Renders the bandwidth report of `report`; `None` when `hw` is not a `mac_array`.
pub fn bandwidth_report(hw: &HwDesc, report: &RunReport) -> Option<String> {
    hw.family.systolic_array()?;
    let mut s = String::from(BANDWIDTH_HEADER);
    for (i, r) in report.layers.iter().enumerate() {
        let o = &r.operands;
        let per_cycle =
            |words: u64| py_float(if r.cycles.get() == 0 { 0.0 } else { words as f64 / r.cycles.get() as f64 });
        s.push_str(&format!(
            "{i}, {}, {}, {}, {}, {}, {},\n",
            per_cycle(o.input_reads),
            per_cycle(o.weight_reads),
            per_cycle(o.output_writes),
            per_cycle(o.dram_inputs.get()),
            per_cycle(o.dram_weights.get()),
            per_cycle(o.dram_outputs.get()),
        ));
    }
    Some(s)
}

/// Renders the detailed access report of `report`; `None` when `hw` is not a `mac_array`.
pub fn detailed_access_report(hw: &HwDesc, report: &RunReport) -> Option<String> {
    hw.family.systolic_array()?;
    let mut s = String::from(DETAILED_HEADER);
    for (i, r) in report.layers.iter().enumerate() {
        let o = &r.operands;
        let stop = py_float(r.cycles.get() as f64);
        let window = |count: u64| format!("0.0, {stop}, {count}");
        s.push_str(&format!(
            "{i}, {}, {}, {}, {}, {}, {},\n",
            window(o.input_reads),
            window(o.weight_reads),
            window(o.output_writes),
            window(o.dram_inputs.get()),
            window(o.dram_weights.get()),
            window(o.dram_outputs.get()),
        ));
    }
    Some(s)
}

/// The three reports `--scalesim-reports` writes, by file name; `None` when `hw` is not a
/// `mac_array`.
pub fn reports(hw: &HwDesc, report: &RunReport) -> Option<[(&'static str, String); 3]> {
    Some([
        ("COMPUTE_REPORT.csv", compute_report(hw, report)?),
        ("BANDWIDTH_REPORT.csv", bandwidth_report(hw, report)?),
        ("DETAILED_ACCESS_REPORT.csv", detailed_access_report(hw, report)?),
    ])
}
