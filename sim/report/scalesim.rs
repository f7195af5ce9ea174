//! SCALE-Sim-style `COMPUTE_REPORT.csv` for a run on a `mac_array` accelerator.
//!
//! Same columns, order and trailing commas as SCALE-Sim 3.0.0's file minus its
//! prefetch-inclusive column: `LayerID, Total Cycles, Stall Cycles, Overall Util %,
//! Mapping Efficiency %, Compute Util %,`, one row per IR layer (a topology `DP` row is one
//! row here where SCALE-Sim writes one per channel; its percentages are the same, its cycles
//! the sum).
//!
//! * `Mapping Efficiency %` and `Compute Util %` are SCALE-Sim's closed forms
//!   ([`crate::map::systolic::compute`]) and match SCALE-Sim exactly.
//! * `Total Cycles` is accelsim's layer cycles: SCALE-Sim's compute cycles (exact) plus
//!   accelsim's memory stalls; `Stall Cycles` are those stalls, and `Overall Util %` uses
//!   that total. The stalls come from accelsim's tile/DMA model at the configured DRAM
//!   bandwidth (including the first load and last store of a layer), not from SCALE-Sim's
//!   request-level memory model, so these three columns match SCALE-Sim only when both report
//!   no stalls (SCALE-Sim's default CALC bandwidth mode always reports 0).

use crate::hw::{Family, HwDesc};
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

/// The header row (SCALE-Sim's column names, trailing comma included).
pub const HEADER: &str = "LayerID, Total Cycles, Stall Cycles, Overall Util %, Mapping Efficiency %, Compute Util %,\n";

/// Renders the compute report of `report` (a run of `g` on `hw`); `None` when `hw` is not
/// a `mac_array`.
pub fn compute_report(hw: &HwDesc, report: &RunReport) -> Option<String> {
    let Family::MacArray(m) = &hw.family else { return None };
    let mut s = String::from(HEADER);
    for (i, r) in report.layers.iter().enumerate() {
        let (mapping, util) = r.array.map_or((0.0, 0.0), |a| (a.mapping_efficiency, a.compute_utilization));
        let total = r.cycles.get();
        let overall = systolic::overall_utilization(r.macs.get(), total.max(1), m.rows, m.cols);
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
