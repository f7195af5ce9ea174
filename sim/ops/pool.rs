//! The pooling family: max and average pooling windows over NHWC tensors (TFLite's rules:
//! padding excluded from an average; input and output share their quantization).

use super::work::Phase;
use super::{
    int_input, same_moments, vector_phase, DataFree, IntKernel, LayerCx, Moments, OnTheFly, OpFamily, QuantRule,
    WeightLayout, WorkbookRow,
};
use crate::ir::{resolve_padding, window_out, Pool, PoolKind};
use crate::kernels::pool::{self, PoolParams};
use crate::kernels::Arithmetic;
use crate::kernels::{elementwise, float, qrange, scale_zp, shape4, Values};
use crate::units::Macs;

/// A prepared integer pooling layer.
pub struct IntPool(PoolParams);

impl IntPool {
    pub(super) fn run(&self, inputs: &[&Values]) -> Result<Vec<Values>, String> {
        Ok(vec![Values::Int(pool::pool(&self.0, &int_input(inputs, 0)?))])
    }
}

impl OpFamily for Pool {
    fn name(&self) -> &'static str {
        match self.kind {
            PoolKind::Max => "maxpool",
            PoolKind::Avg => "avgpool",
        }
    }

    fn infer_shapes(&self, cx: &LayerCx) -> Result<Vec<Vec<usize>>, String> {
        let x = cx.x();
        if x.shape.len() != 4 {
            return Err(format!("expects an NHWC input, got shape {:?}", x.shape));
        }
        let (oh, ow) = window_out([x.shape[1], x.shape[2]], self.kernel, self.stride, [1, 1], self.padding)?;
        Ok(vec![vec![x.shape[0], oh, ow, x.shape[3]]])
    }

    fn macs(&self, _cx: &LayerCx) -> Macs {
        Macs::ZERO
    }

    /// One operation per window element per output; an average also needs one multiply
    /// per output for the division.
    fn work(&self, cx: &LayerCx) -> Vec<Phase> {
        let window = (self.kernel[0] * self.kernel[1]) as u64;
        vec![vector_phase(cx, true, |_, o| {
            let extra = if self.kind == PoolKind::Avg { o } else { 0 };
            o.saturating_mul(window).saturating_add(extra)
        })]
    }

    fn quant_rule(&self, _input_bits: u8, _output_bits: u8) -> QuantRule {
        QuantRule::SameAsInput
    }

    fn dequantizes(&self) -> bool {
        false
    }

    /// PDP pools on the fly behind a convolution; the workbook fuses the window into the
    /// row before it.
    fn on_the_fly(&self, _cx: &LayerCx) -> OnTheFly {
        OnTheFly::PdpPool { kernel: self.kernel, stride: self.stride }
    }

    fn workbook_row(&self, _cx: &LayerCx) -> WorkbookRow<'_> {
        WorkbookRow::Pool { kernel: self.kernel, stride: self.stride }
    }

    /// The output's batch follows from the inputs'.
    fn set_batch(&mut self, _n: usize) {}

    fn weight_layout(&self) -> WeightLayout<'_> {
        WeightLayout::None
    }

    fn fused_activation(&self) -> bool {
        true
    }

    fn eval_float(&self, cx: &LayerCx, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, String> {
        let input = shape4(&cx.x().shape);
        let pad = resolve_padding(self.padding, [input[1], input[2]], self.kernel, self.stride, [1, 1]);
        let x = inputs.first().ok_or("missing input")?;
        Ok(vec![float::pool(self.kind, input, shape4(&cx.out().shape), self.kernel, self.stride, pad, x)])
    }

    fn prepare_int(&self, cx: &LayerCx, _arith: &Arithmetic) -> Result<IntKernel, String> {
        let out = cx.out();
        let input = shape4(&cx.x().shape);
        let pad = resolve_padding(self.padding, [input[1], input[2]], self.kernel, self.stride, [1, 1]);
        let (qmin, qmax) = qrange(out.dtype);
        let (so, zo) = scale_zp(out);
        let (act_min, act_max) = elementwise::activation_range(cx.l.activation, so, zo, qmin, qmax);
        Ok(IntKernel::Pool(IntPool(PoolParams {
            kind: self.kind,
            input,
            output: shape4(&out.shape),
            kernel: self.kernel,
            stride: self.stride,
            pad,
            act_min,
            act_max,
        })))
    }

    /// Pooling keeps the mean and variance (the pooled values are correlated, see
    /// `quant::data_free`), and its range stays within its input's.
    fn data_free(&self, _cx: &LayerCx, inputs: &[Option<&Moments>]) -> Option<DataFree> {
        same_moments(inputs, true)
    }
}
