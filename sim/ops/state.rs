//! The state family: layers that read or assign a state of the graph
//! ([`crate::ir::StateVar`]: a tensor that persists across invocations, such as a streaming
//! model's ring buffer). Both copy their input to their output unchanged (the integers as
//! they are: a state, its reads and its assignments share one quantization, checked by
//! `Graph::validate`); an assignment's output is the state's new value.
//!
//! Cost: a read moves the state's bytes from memory into the layer's output, an assignment
//! moves the assigned value into the state's memory: one element moved per element, as the
//! other copies (`ops::layout`), on every family.

use super::work::Phase;
use super::{
    int_input, same_moments, vector_phase, DataFree, IntKernel, LayerCx, Moments, OnTheFly, OpFamily, QuantRule,
    WeightLayout, WorkbookRow, NO_WORKBOOK_ROW,
};
use crate::ir::{StateAccess, StateOp};
use crate::kernels::{Arithmetic, Values};
use crate::units::Macs;

/// A prepared state layer: an integer copy.
pub struct IntState;

impl IntState {
    pub(super) fn run(&self, inputs: &[&Values]) -> Result<Vec<Values>, String> {
        Ok(vec![Values::Int(int_input(inputs, 0)?.into_owned())])
    }
}

impl OpFamily for StateOp {
    fn name(&self) -> &'static str {
        match self.access {
            StateAccess::Read => "read_state",
            StateAccess::Assign => "assign_state",
        }
    }

    fn infer_shapes(&self, cx: &LayerCx) -> Result<Vec<Vec<usize>>, String> {
        Ok(vec![cx.x().shape.clone()])
    }

    fn macs(&self, _cx: &LayerCx) -> Macs {
        Macs::ZERO
    }

    /// Reads and writes every element once: a read loads the state, an assignment stores it.
    fn work(&self, cx: &LayerCx) -> Vec<Phase> {
        match self.access {
            StateAccess::Read | StateAccess::Assign => vec![vector_phase(cx, false, |_, o| o)],
        }
    }

    fn quant_rule(&self, _input_bits: u8, _output_bits: u8) -> QuantRule {
        QuantRule::SameAsInput
    }

    fn fused_activation(&self) -> bool {
        false
    }

    fn weight_layout(&self) -> WeightLayout<'_> {
        WeightLayout::None
    }

    fn dequantizes(&self) -> bool {
        false
    }

    fn on_the_fly(&self, _cx: &LayerCx) -> OnTheFly {
        OnTheFly::No
    }

    fn workbook_row(&self, _cx: &LayerCx) -> WorkbookRow<'_> {
        NO_WORKBOOK_ROW
    }

    /// The output's batch follows from the inputs'.
    fn set_batch(&mut self, _n: usize) {}

    fn eval_float(&self, _cx: &LayerCx, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, String> {
        Ok(vec![inputs.first().ok_or("missing input")?.clone()])
    }

    fn prepare_int(&self, _cx: &LayerCx, _arith: &Arithmetic) -> Result<IntKernel, String> {
        Ok(IntKernel::State(IntState))
    }

    /// The values are the state's; a read knows nothing of what an earlier invocation
    /// left in it, an assignment keeps its input's moments.
    fn data_free(&self, _cx: &LayerCx, inputs: &[Option<&Moments>]) -> Option<DataFree> {
        match self.access {
            StateAccess::Read => None,
            StateAccess::Assign => same_moments(inputs, true),
        }
    }
}
