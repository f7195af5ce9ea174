//! Systolic-array compute cycles (placeholder with the final API; replaced by the
//! SCALE-Sim-exact model).

/// Which operand stays in the PEs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dataflow {
    /// Output stationary.
    OutputStationary,
    /// Weight stationary.
    WeightStationary,
    /// Input stationary.
    InputStationary,
}

/// A GEMM with operand matrices Sr x T and T x Sc.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gemm {
    /// Rows of the first operand.
    pub sr: u64,
    /// Columns of the second operand.
    pub sc: u64,
    /// The shared (temporal) dimension.
    pub t: u64,
}

/// Compute figures of a GEMM on an array.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SystolicCompute {
    /// Cycles.
    pub compute_cycles: u64,
    /// Folds.
    pub folds: u64,
    /// Mapping efficiency, percent.
    pub mapping_efficiency: f64,
    /// Compute utilization, percent.
    pub compute_utilization: f64,
}

/// Cycles of a GEMM: each fold fills, streams T and drains.
pub fn compute(_df: Dataflow, rows: u64, cols: u64, g: Gemm) -> SystolicCompute {
    let folds = g.sr.div_ceil(rows).saturating_mul(g.sc.div_ceil(cols));
    let per_fold = (2 * rows + cols + g.t).saturating_sub(2);
    let cycles = folds.saturating_mul(per_fold);
    let macs = g.sr as f64 * g.sc as f64 * g.t as f64;
    SystolicCompute {
        compute_cycles: cycles,
        folds,
        mapping_efficiency: 100.0 * (g.sr * g.sc) as f64 / (folds * rows * cols).max(1) as f64,
        compute_utilization: 100.0 * macs / (cycles.max(1) * rows * cols) as f64,
    }
}
