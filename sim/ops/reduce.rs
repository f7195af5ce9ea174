//! The reduction family: MEAN over any axes (global average pooling is a mean over H and W)
//! and REDUCE_MAX (an exact comparison of integers, whose output shares the input's
//! quantization as LiteRT requires).

use super::work::Phase;
use super::{
    int_input, same_moments, vector_phase, DataFree, IntKernel, LayerCx, Moments, OnTheFly, OpFamily, QuantRule,
    WeightLayout, WorkbookRow,
};
use crate::ir::{Reduce, ReduceKind};
use crate::kernels::pool;
use crate::kernels::{qrange, scale_zp, Arithmetic, QuantMultiplier, Values};
use crate::units::Macs;

/// A prepared integer reduction.
pub struct IntReduce {
    kind: ReduceKind,
    shape: Vec<usize>,
    axes: Vec<usize>,
    zi: i32,
    m: QuantMultiplier,
    zo: i32,
    qmin: i32,
    qmax: i32,
}

impl IntReduce {
    pub(super) fn run(&self, inputs: &[&Values], arith: &Arithmetic) -> Result<Vec<Values>, String> {
        let x = int_input(inputs, 0)?;
        let x = &*x;
        Ok(vec![Values::Int(match self.kind {
            ReduceKind::Mean => {
                pool::mean(&self.shape, &self.axes, x, self.zi, self.m, self.zo, self.qmin, self.qmax, arith)
            }
            ReduceKind::Max => pool::reduce_max(&self.shape, &self.axes, x, self.qmin),
        })])
    }
}

impl Reduce {
    /// A mean over height and width of an NHWC tensor (global average pooling).
    fn is_plane_mean(&self, cx: &LayerCx) -> bool {
        let rank = cx.g.data_input(cx.l).shape.len();
        self.kind == ReduceKind::Mean
            && rank == 4
            && self.axes.len() == 2
            && self.axes.contains(&1)
            && self.axes.contains(&2)
    }
}

impl OpFamily for Reduce {
    fn name(&self) -> &'static str {
        match self.kind {
            ReduceKind::Mean => "mean",
            ReduceKind::Max => "reduce_max",
        }
    }

    fn infer_shapes(&self, cx: &LayerCx) -> Result<Vec<Vec<usize>>, String> {
        let x = cx.x();
        if self.axes.iter().any(|&a| a >= x.shape.len()) {
            return Err(format!("axes {:?} out of range for shape {:?}", self.axes, x.shape));
        }
        let mut shape = Vec::new();
        for (d, &s) in x.shape.iter().enumerate() {
            if self.axes.contains(&d) {
                if self.keep_dims {
                    shape.push(1);
                }
            } else {
                shape.push(s);
            }
        }
        Ok(vec![shape])
    }

    fn macs(&self, _cx: &LayerCx) -> Macs {
        Macs::ZERO
    }

    /// Mean: one addition per input element and one multiply per output; max: one
    /// comparison per input element (both run on NVDLA's PDP).
    fn work(&self, cx: &LayerCx) -> Vec<Phase> {
        let kind = self.kind;
        vec![vector_phase(cx, true, |i, o| match kind {
            ReduceKind::Mean => i + o,
            ReduceKind::Max => i,
        })]
    }

    fn quant_rule(&self, _input_bits: u8, _output_bits: u8) -> QuantRule {
        match self.kind {
            ReduceKind::Mean => QuantRule::Free,
            ReduceKind::Max => QuantRule::SameAsInput,
        }
    }

    fn dequantizes(&self) -> bool {
        false
    }

    /// A mean over height and width is one PDP window over the plane; other reductions are
    /// no pooling window PDP is documented to take behind a convolution (a maximum over
    /// arbitrary axes neither).
    fn on_the_fly(&self, cx: &LayerCx) -> OnTheFly {
        if self.is_plane_mean(cx) {
            OnTheFly::PdpPlaneMean
        } else {
            OnTheFly::No
        }
    }

    fn workbook_row(&self, cx: &LayerCx) -> WorkbookRow<'_> {
        if self.is_plane_mean(cx) {
            WorkbookRow::PlaneMean
        } else {
            WorkbookRow::None { what: "a reduction other than a spatial mean" }
        }
    }

    /// The output's batch follows from the inputs'.
    fn set_batch(&mut self, _n: usize) {}

    fn weight_layout(&self) -> WeightLayout<'_> {
        WeightLayout::None
    }

    fn fused_activation(&self) -> bool {
        false
    }

    fn eval_float(&self, cx: &LayerCx, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, String> {
        let x = inputs.first().ok_or("missing input")?;
        Ok(vec![match self.kind {
            ReduceKind::Mean => {
                let (s, n) = pool::reduce_sum(&cx.x().shape, &self.axes, x.iter().copied());
                s.iter().zip(n).map(|(&v, n)| v / n.max(1) as f32).collect()
            }
            ReduceKind::Max => pool::reduce_max(&cx.x().shape, &self.axes, x, f32::MIN),
        }])
    }

    fn prepare_int(&self, cx: &LayerCx, _arith: &Arithmetic) -> Result<IntKernel, String> {
        let (x, out) = (cx.x(), cx.out());
        let (si, zi) = scale_zp(x);
        let (so, zo) = scale_zp(out);
        let (qmin, qmax) = qrange(out.dtype);
        if self.kind == ReduceKind::Max && (si, zi) != (so, zo) {
            return Err(format!(
                "REDUCE_MAX's output must share its input's scale and zero point ({si}, {zi}), got ({so}, {zo})"
            ));
        }
        Ok(IntKernel::Reduce(IntReduce {
            kind: self.kind,
            shape: x.shape.clone(),
            axes: self.axes.clone(),
            zi,
            m: QuantMultiplier::checked(si as f64 / so as f64)?,
            zo,
            qmin,
            qmax,
        }))
    }

    /// A mean keeps its input's mean and variance (the averaged values are correlated, see
    /// `quant::data_free`), and its range stays within its input's; a maximum's moments are
    /// unknown (not guessed).
    fn data_free(&self, _cx: &LayerCx, inputs: &[Option<&Moments>]) -> Option<DataFree> {
        match self.kind {
            ReduceKind::Mean => same_moments(inputs, true),
            ReduceKind::Max => None,
        }
    }
}
