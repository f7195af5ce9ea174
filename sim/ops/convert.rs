//! The conversion family: QUANTIZE (float to integer, or requantization between integer
//! types) and DEQUANTIZE (integer to float).

use super::work::Phase;
use super::{
    int_input, same_moments, vector_phase, DataFree, IntKernel, LayerCx, Moments, OnTheFly, OpFamily, QuantRule,
    WeightLayout, WorkbookRow, NO_WORKBOOK_ROW,
};
use crate::ir::{Convert, QuantParams};
use crate::kernels::{dequantize_per_tensor, elementwise, qrange, scale_zp, Arithmetic, QuantMultiplier, Values};
use crate::units::Macs;

/// A prepared conversion.
pub enum IntConvert {
    /// To the output's parameters from floats, or from integers with the input's.
    Quantize {
        /// Input scale and zero point (for integer inputs).
        input: (f32, i32),
        /// Output scale, zero point and integer range.
        output: (f32, i32, i32, i32),
    },
    /// To floats with the input's parameters (none: the integers as they are).
    Dequantize(Option<QuantParams>),
}

impl IntConvert {
    pub(super) fn run(&self, inputs: &[&Values]) -> Result<Vec<Values>, String> {
        Ok(vec![match self {
            IntConvert::Quantize { input: (si, zi), output: (so, zo, qmin, qmax) } => match inputs.first() {
                Some(Values::F32(v)) => Values::Int(elementwise::quantize(v, *so, *zo, *qmin, *qmax)),
                Some(Values::Int(v)) => {
                    let m = QuantMultiplier::checked(*si as f64 / *so as f64)?;
                    Values::Int(elementwise::requantize_tensor(v, *zi, m, *zo, *qmin, *qmax))
                }
                None => return Err("input not computed".into()),
            },
            IntConvert::Dequantize(q) => {
                let x = int_input(inputs, 0)?;
                Values::F32(match q {
                    Some(q) => dequantize_per_tensor(x, q),
                    None => x.iter().map(|&v| v as f32).collect(),
                })
            }
        }])
    }
}

impl OpFamily for Convert {
    fn name(&self) -> &'static str {
        match self {
            Convert::Quantize => "quantize",
            Convert::Dequantize => "dequantize",
        }
    }

    fn infer_shapes(&self, cx: &LayerCx) -> Result<Vec<Vec<usize>>, String> {
        Ok(vec![cx.x().shape.clone()])
    }

    fn macs(&self, _cx: &LayerCx) -> Macs {
        Macs::ZERO
    }

    /// One operation (a scale and round) per element.
    fn work(&self, cx: &LayerCx) -> Vec<Phase> {
        vec![vector_phase(cx, false, |_, o| o)]
    }

    fn quant_rule(&self, _input_bits: u8, _output_bits: u8) -> QuantRule {
        match self {
            Convert::Quantize => QuantRule::Free,
            Convert::Dequantize => QuantRule::FloatOnly,
        }
    }

    fn dequantizes(&self) -> bool {
        match self {
            Convert::Dequantize => true,
            Convert::Quantize => false,
        }
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

    /// Float execution passes values through (they are real values already).
    fn eval_float(&self, _cx: &LayerCx, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, String> {
        Ok(vec![inputs.first().ok_or("missing input")?.clone()])
    }

    fn prepare_int(&self, cx: &LayerCx, _arith: &Arithmetic) -> Result<IntKernel, String> {
        let (x, out) = (cx.x(), cx.out());
        Ok(IntKernel::Convert(match self {
            Convert::Quantize => {
                let (so, zo) = scale_zp(out);
                let (qmin, qmax) = qrange(out.dtype);
                IntConvert::Quantize { input: scale_zp(x), output: (so, zo, qmin, qmax) }
            }
            Convert::Dequantize => IntConvert::Dequantize(x.quant.clone()),
        }))
    }

    /// Real values are unchanged by a conversion.
    fn data_free(&self, _cx: &LayerCx, inputs: &[Option<&Moments>]) -> Option<DataFree> {
        same_moments(inputs, false)
    }
}
