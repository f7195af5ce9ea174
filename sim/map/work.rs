//! The work of one layer in the form the schedulers cost: a list of phases
//! ([`crate::ops::OpFamily::work`]), each a convolution / GEMM loop nest with a constant or
//! activation second operand, or vector work. The pipeline costs a layer phase by phase
//! ([`phases_of`]); [`work_of`] answers questions about a layer that has at most one phase
//! (the fusion plan's conv heads).

use crate::hw::{HwDesc, PrecisionMode};
use crate::ir::{Graph, Layer};
pub use crate::ops::work::{ConvWork, Operand, Phase, VectorWork};
use crate::ops::{LayerCx, OpFamily};

/// The compute mode a layer's widths select: its weights' width by its data input's, for
/// a layer with weights; `None` for a layer without weights (it has no weight width, so no
/// mode: never a default width) or when no mode is wide enough.
pub fn mode_of<'a>(g: &Graph, l: &Layer, hw: &'a HwDesc) -> Option<&'a PrecisionMode> {
    hw.mode_for(g.weight_bits(l)?, g.data_input(l).dtype.bits())
}

/// What a layer asks of the hardware.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Convolution or fully connected.
    Conv(ConvWork),
    /// Vector work.
    Vector(VectorWork),
    /// No work: a reshape is a view of the same bytes.
    Free,
}

/// A layer whose op costs several phases, asked for as one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("layer '{layer}': its op costs {phases} phases, not one")]
pub struct SeveralPhases {
    /// The layer.
    pub layer: String,
    /// How many phases its op has.
    pub phases: usize,
}

/// The cost phases of a layer of a validated graph, in order (none for an op that moves no
/// data).
pub fn phases_of(g: &Graph, l: &Layer) -> Vec<Phase> {
    l.op.work(&LayerCx::new(g, l))
}

/// The work of a layer of a validated graph that has at most one phase.
pub fn work_of(g: &Graph, l: &Layer) -> Result<Work, SeveralPhases> {
    match phases_of(g, l).as_slice() {
        [] => Ok(Work::Free),
        [Phase::Gemm { work, .. }] => Ok(Work::Conv(*work)),
        [Phase::Vector(v)] => Ok(Work::Vector(*v)),
        more => Err(SeveralPhases { layer: l.name.clone(), phases: more.len() }),
    }
}

/// Vector-unit operations of a layer: the sum over its vector phases (GEMM phases run on
/// the MAC array).
pub fn vector_ops(g: &Graph, l: &Layer) -> u64 {
    l.op.work(&LayerCx::new(g, l))
        .iter()
        .map(|p| match p {
            Phase::Vector(v) => v.ops,
            Phase::Gemm { .. } => 0,
        })
        .fold(0u64, u64::saturating_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 20 (finding 12): the vector work of a layer with 2^54 elements neither wraps
    /// nor overflows (the test profile has overflow checks): it is at least one operation
    /// per element, saturating at `u64::MAX`.
    #[test]
    fn vector_work_of_a_huge_layer_does_not_overflow() {
        let text = "name = \"sm\"\ninput = { name = \"input\", shape = [1, 4194304, 4194304, 1024] }\n\n\
                    [[layer]]\nname = \"s\"\nop = \"softmax\"\n";
        let g = crate::import::model_file::parse("sm.toml", text, &Default::default()).expect("parses");
        let l = &g.layers[0];
        assert!(vector_ops(&g, l) >= 1 << 54);
        assert!(matches!(work_of(&g, l), Ok(Work::Vector(v)) if v.ops >= 1 << 54));
    }
}
