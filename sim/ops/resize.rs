//! The resize family: spatial resize of NHWC tensors, bilinear or nearest neighbour
//! (TFLite RESIZE_BILINEAR, RESIZE_NEAREST_NEIGHBOR) with TensorFlow's `align_corners` and
//! `half_pixel_centers` conventions. The output keeps the input's quantization at every
//! width (LiteRT's integer kernels interpolate the integers without rescaling); the kernels
//! are in `kernels::resize`.

use super::work::Phase;
use super::{
    int_input, same_moments, vector_phase, DataFree, IntKernel, LayerCx, Moments, OnTheFly, OpFamily, QuantRule,
    WeightLayout, WorkbookRow, NO_WORKBOOK_ROW,
};
use crate::ir::{Resize, ResizeKind};
use crate::kernels::resize::{self, Dims};
use crate::kernels::{scale_zp, Arithmetic, Values};
use crate::units::Macs;

/// A prepared integer resize.
pub struct IntResize {
    op: Resize,
    dims: Dims,
}

impl IntResize {
    pub(super) fn run(&self, inputs: &[&Values]) -> Result<Vec<Values>, String> {
        let x = int_input(inputs, 0)?;
        let x = &*x;
        Ok(vec![Values::Int(match self.op.kind {
            ResizeKind::Bilinear => resize::bilinear_int(x, self.dims, &self.op),
            ResizeKind::Nearest => resize::nearest(x, self.dims, &self.op),
        })])
    }
}

/// The resize's dimensions from the layer's input (checked NHWC by shape inference).
fn dims(op: &Resize, cx: &LayerCx) -> Result<Dims, String> {
    match cx.x().shape[..] {
        [n, h, w, c] => Ok(Dims { n, h, w, c, oh: op.size[0], ow: op.size[1] }),
        ref s => Err(format!("expects an NHWC input, got shape {s:?}")),
    }
}

impl OpFamily for Resize {
    fn name(&self) -> &'static str {
        match self.kind {
            ResizeKind::Bilinear => "resize_bilinear",
            ResizeKind::Nearest => "resize_nearest",
        }
    }

    fn infer_shapes(&self, cx: &LayerCx) -> Result<Vec<Vec<usize>>, String> {
        let d = dims(self, cx)?;
        if d.h == 0 || d.w == 0 || d.oh == 0 || d.ow == 0 {
            return Err(format!("resizes {}x{} to {}x{}: every size must be positive", d.h, d.w, d.oh, d.ow));
        }
        if self.align_corners && self.half_pixel_centers {
            return Err("align_corners and half_pixel_centers cannot both be set".into());
        }
        Ok(vec![vec![d.n, d.oh, d.ow, d.c]])
    }

    fn macs(&self, _cx: &LayerCx) -> Macs {
        Macs::ZERO
    }

    /// Data movement on the vector unit: every input element read once, each output
    /// element a copy (nearest) or four multiply-accumulates of its neighbours (bilinear).
    fn work(&self, cx: &LayerCx) -> Vec<Phase> {
        let per_output = match self.kind {
            ResizeKind::Bilinear => 4,
            ResizeKind::Nearest => 1,
        };
        vec![vector_phase(cx, false, |_, o| o.saturating_mul(per_output))]
    }

    fn quant_rule(&self, _input_bits: u8, _output_bits: u8) -> QuantRule {
        QuantRule::SameAsInput
    }

    fn fused_activation(&self) -> bool {
        false
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

    fn weight_layout(&self) -> WeightLayout<'_> {
        WeightLayout::None
    }

    fn eval_float(&self, cx: &LayerCx, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, String> {
        let x = inputs.first().ok_or("missing input")?;
        let d = dims(self, cx)?;
        Ok(vec![match self.kind {
            ResizeKind::Bilinear => resize::bilinear_f32(x, d, self),
            ResizeKind::Nearest => resize::nearest(x, d, self),
        }])
    }

    fn prepare_int(&self, cx: &LayerCx, _arith: &Arithmetic) -> Result<IntKernel, String> {
        let (qi, qo) = (scale_zp(cx.x()), scale_zp(cx.out()));
        if qi != qo {
            return Err(format!(
                "integer {} keeps the input's quantization (scale {}, zero point {}); the output has scale {}, zero point {}",
                self.name(),
                qi.0,
                qi.1,
                qo.0,
                qo.1
            ));
        }
        Ok(IntKernel::Resize(IntResize { op: *self, dims: dims(self, cx)? }))
    }

    /// Interpolation stays within the input's values and keeps its channels' moments.
    fn data_free(&self, _cx: &LayerCx, inputs: &[Option<&Moments>]) -> Option<DataFree> {
        same_moments(inputs, true)
    }
}
