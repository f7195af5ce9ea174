//! The softmax family: softmax over the last axis, with LiteRT's fixed output quantization
//! (8-bit inputs: scale 2^-bits, zero point at the type's minimum; 16-bit inputs with a
//! 16-bit output, LiteRT's 16x8 kernel: scale 2^-15, zero point 0). A causal softmax
//! (attention's mask) runs in float only for now (issue 19: its integer kernel is a later
//! slice).

use super::work::Phase;
use super::{
    int_input, vector_phase, DataFree, IntKernel, LayerCx, Moments, OnTheFly, OpFamily, QuantRule, WeightLayout,
    WorkbookRow, NO_WORKBOOK_ROW,
};
use crate::ir::Softmax;
use crate::kernels::softmax::{self, Softmax16, SoftmaxParams};
use crate::kernels::{elementwise, float, qrange, scale_zp, Arithmetic, Values};
use crate::units::Macs;

/// The widest activations the 8-bit integer softmax takes.
pub const MAX_INT_BITS: u8 = 8;

/// The width of LiteRT's 16-bit softmax (int16 in and out).
pub const INT16_BITS: u8 = 16;

/// LiteRT's fixed output quantization of an integer softmax of 8-bit inputs at `bits`:
/// scale `2^-bits`, zero point `-2^(bits-1)` (int8: 1/256, -128).
pub fn fixed_output(bits: u32) -> (f32, i32) {
    (1.0 / (1u64 << bits) as f32, -(1i32 << (bits - 1)))
}

/// LiteRT's fixed output quantization of the 16-bit softmax: scale 2^-15, zero point 0.
pub const INT16_OUTPUT: (f32, i32) = (1.0 / 32768.0, 0);

/// A prepared integer softmax: LiteRT's kernel, or a float softmax requantized to the
/// output's parameters when they are not the fixed ones (an ONNX QDQ model's 1/255).
pub enum IntSoftmax {
    /// LiteRT's integer softmax.
    Fixed {
        /// The kernel's parameters.
        params: SoftmaxParams,
        /// Softmax depth (last axis).
        depth: usize,
        /// The input type's minimum.
        in_min: i32,
        /// Output bits.
        bits: u32,
    },
    /// LiteRT's 16-bit softmax.
    Int16 {
        /// The rescale and tables.
        params: Box<Softmax16>,
        /// Softmax depth (last axis).
        depth: usize,
    },
    /// Dequantize, float softmax, quantize (round half to even).
    ViaFloat {
        /// Input scale and zero point.
        input: (f32, i32),
        /// Output scale, zero point and range.
        output: (f32, i32, i32, i32),
        /// Softmax depth.
        depth: usize,
        /// Beta.
        beta: f32,
    },
}

impl IntSoftmax {
    pub(super) fn run(&self, inputs: &[&Values]) -> Result<Vec<Values>, String> {
        let x = int_input(inputs, 0)?;
        let x = &*x;
        Ok(vec![Values::Int(match self {
            IntSoftmax::Fixed { params, depth, in_min, bits } => softmax::softmax(params, x, *depth, *in_min, *bits),
            IntSoftmax::Int16 { params, depth } => softmax::softmax_int16(params, x, *depth),
            IntSoftmax::ViaFloat { input: (si, zi), output: (so, zo, qmin, qmax), depth, beta } => {
                let y = float::softmax(&elementwise::dequantize(x, *si, *zi), *depth, *beta);
                elementwise::quantize_half_even(&y, *so, *zo, *qmin, *qmax)
            }
        })])
    }
}

impl OpFamily for Softmax {
    fn name(&self) -> &'static str {
        "softmax"
    }

    fn infer_shapes(&self, cx: &LayerCx) -> Result<Vec<Vec<usize>>, String> {
        Ok(vec![cx.x().shape.clone()])
    }

    fn macs(&self, _cx: &LayerCx) -> Macs {
        Macs::ZERO
    }

    /// exp via a lookup table, running sum, reciprocal multiply: three per element; a
    /// causal mask adds a compare-and-select per element (masked elements are still
    /// visited: the vector unit streams whole rows).
    fn work(&self, cx: &LayerCx) -> Vec<Phase> {
        let per = if self.causal { 4 } else { 3 };
        vec![vector_phase(cx, false, |i, _| i.saturating_mul(per))]
    }

    /// LiteRT's fixed output parameters at the output's width when the 8-bit integer
    /// softmax takes the input's width; float otherwise. Quantization keeps wider softmaxes
    /// in float on purpose: LiteRT's 16-bit kernel (run for imported 16x8 models whose
    /// output has its fixed parameters) is limited by its tables -- small_resnet's output at
    /// w16a16 measured 79.75 dB with it against 80.64 dB at w12a12 in float
    /// (`tests/quantize.rs`, `widths_from_2_to_16_bits_execute`).
    fn quant_rule(&self, input_bits: u8, output_bits: u8) -> QuantRule {
        if !self.causal && input_bits <= MAX_INT_BITS {
            let (scale, zero_point) = fixed_output(output_bits as u32);
            QuantRule::Fixed { scale, zero_point }
        } else {
            QuantRule::FloatOnly
        }
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

    fn fused_activation(&self) -> bool {
        false
    }

    fn eval_float(&self, cx: &LayerCx, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, String> {
        let shape = &cx.x().shape;
        let depth = shape.last().copied().unwrap_or(1);
        let x = inputs.first().ok_or("missing input")?;
        if self.causal {
            let rows = if shape.len() >= 2 { shape[shape.len() - 2] } else { 1 };
            if rows > depth {
                return Err(format!("a causal softmax needs at most as many rows as columns, got {shape:?}"));
            }
            return Ok(vec![float::softmax_causal(x, rows, depth, self.beta)]);
        }
        Ok(vec![float::softmax(x, depth, self.beta)])
    }

    fn prepare_int(&self, cx: &LayerCx, _arith: &Arithmetic) -> Result<IntKernel, String> {
        if self.causal {
            return Err("a causal SOFTMAX runs in float32 only (its integer kernel is not implemented yet)".into());
        }
        let (x, out) = (cx.x(), cx.out());
        let (si, zi) = scale_zp(x);
        let (so, zo) = scale_zp(out);
        let (in_min, _) = qrange(x.dtype);
        let depth = x.shape.last().copied().unwrap_or(1);
        let bits = out.dtype.bits();
        let (ib, ob) = (x.dtype.bits(), out.dtype.bits());
        if ib == INT16_BITS as u32 && ob == INT16_BITS as u32 {
            return Ok(IntKernel::Softmax(if (so, zo) == INT16_OUTPUT {
                IntSoftmax::Int16 { params: Box::new(Softmax16::new(self.beta, si)), depth }
            } else {
                let (qmin, qmax) = qrange(out.dtype);
                IntSoftmax::ViaFloat { input: (si, zi), output: (so, zo, qmin, qmax), depth, beta: self.beta }
            }));
        }
        if ib > MAX_INT_BITS as u32 || ob > 16 {
            return Err(format!(
                "integer softmax takes 8-bit inputs (to outputs of up to 16 bits) or a 16-bit input with a 16-bit output (LiteRT's 16x8); got a {ib}-bit input and a {ob}-bit output"
            ));
        }
        Ok(IntKernel::Softmax(if (so, zo) == fixed_output(bits) {
            IntSoftmax::Fixed { params: SoftmaxParams::new(self.beta, si), depth, in_min, bits }
        } else {
            let (qmin, qmax) = qrange(out.dtype);
            IntSoftmax::ViaFloat { input: (si, zi), output: (so, zo, qmin, qmax), depth, beta: self.beta }
        }))
    }

    /// The outputs of one row sum to 1: mean 1/depth, no spread assumed.
    fn data_free(&self, cx: &LayerCx, _inputs: &[Option<&Moments>]) -> Option<DataFree> {
        let cout = cx.out().shape.last().copied().unwrap_or(1);
        let moments = Moments { mean: vec![1.0 / cout.max(1) as f64], var: vec![0.0] };
        Some(DataFree { moments, within_input_range: false })
    }
}
