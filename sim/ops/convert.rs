//! The conversion family: QUANTIZE (float to integer, or requantization between integer
//! types), DEQUANTIZE (integer to float) and CAST (an element type conversion of unquantized
//! values, LiteRT's `static_cast`).

use super::work::Phase;
use super::{
    int_input, same_moments, vector_phase, DataFree, IntKernel, LayerCx, Moments, OnTheFly, OpFamily, QuantRule,
    WeightLayout, WorkbookRow, NO_WORKBOOK_ROW,
};
use crate::ir::{Convert, DataType, QuantParams};
use crate::kernels::{dequantize_per_tensor, elementwise, qrange, scale_zp, Arithmetic, QuantMultiplier, Values, View};
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
    /// CAST to the element type.
    Cast(DataType),
}

/// `static_cast` of a value to `to`, as LiteRT's CAST: toward zero then wrapped to the width
/// for integer targets (a float beyond i64 saturates first: C++ leaves it undefined), the
/// nearest float32 for float targets.
pub fn cast_value(x: f64, to: DataType) -> f64 {
    match to {
        DataType::Int { bits, signed } => {
            let v = x.trunc() as i64;
            let bits = u32::from(bits).clamp(1, 64);
            if bits == 64 {
                return v as f64;
            }
            let low = v & ((1i64 << bits) - 1);
            let wrapped = if signed && low >> (bits - 1) != 0 { low - (1i64 << bits) } else { low };
            wrapped as f64
        }
        DataType::F32 | DataType::F16 => f64::from(x as f32),
    }
}

impl IntConvert {
    pub(super) fn run(&self, inputs: &[&Values]) -> Result<Vec<Values>, String> {
        Ok(vec![match self {
            IntConvert::Quantize { input: (si, zi), output: (so, zo, qmin, qmax) } => {
                match inputs.first().map(|v| v.view()) {
                    Some(View::F32(v)) => Values::Int(elementwise::quantize(v, *so, *zo, *qmin, *qmax)),
                    Some(View::Int(v)) => {
                        let m = QuantMultiplier::checked(*si as f64 / *so as f64)?;
                        Values::Int(elementwise::requantize_tensor(&v, *zi, m, *zo, *qmin, *qmax))
                    }
                    None => return Err("input not computed".into()),
                }
            }
            IntConvert::Dequantize(q) => {
                let x = int_input(inputs, 0)?;
                let x = &*x;
                Values::F32(match q {
                    Some(q) => dequantize_per_tensor(x, q),
                    None => x.iter().map(|&v| v as f32).collect(),
                })
            }
            IntConvert::Cast(to) => {
                let x: Vec<f64> = match inputs.first().map(|v| v.view()) {
                    Some(View::F32(v)) => v.iter().map(|&x| f64::from(x)).collect(),
                    Some(View::Int(v)) => v.iter().map(|&x| f64::from(x)).collect(),
                    None => return Err("input not computed".into()),
                };
                let y = x.into_iter().map(|v| cast_value(v, *to));
                if to.is_int() {
                    Values::Int(y.map(|v| v as i32).collect())
                } else {
                    Values::F32(y.map(|v| v as f32).collect())
                }
            }
        }])
    }
}

impl OpFamily for Convert {
    fn name(&self) -> &'static str {
        match self {
            Convert::Quantize => "quantize",
            Convert::Dequantize => "dequantize",
            Convert::Cast => "cast",
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
            // A CAST converts values, not real numbers: quantization leaves it as it is.
            Convert::Dequantize | Convert::Cast => QuantRule::FloatOnly,
        }
    }

    /// DEQUANTIZE writes floats; CAST reads or writes them (it runs on its integer kernel
    /// whatever the types, as LiteRT's).
    fn dequantizes(&self) -> bool {
        match self {
            Convert::Dequantize | Convert::Cast => true,
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

    /// Float execution passes values through (they are real values already); a CAST
    /// converts them to its target type as its integer kernel does.
    fn eval_float(&self, cx: &LayerCx, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, String> {
        let x = inputs.first().ok_or("missing input")?;
        Ok(vec![match self {
            Convert::Quantize | Convert::Dequantize => x.clone(),
            Convert::Cast => x.iter().map(|&v| cast_value(f64::from(v), cx.out().dtype) as f32).collect(),
        }])
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
            Convert::Cast => {
                if x.quant.is_some() || out.quant.is_some() {
                    return Err("CAST of quantized tensors (LiteRT casts their raw integers) is not supported".into());
                }
                IntConvert::Cast(out.dtype)
            }
        }))
    }

    /// Real values are unchanged by a conversion.
    fn data_free(&self, _cx: &LayerCx, inputs: &[Option<&Moments>]) -> Option<DataFree> {
        same_moments(inputs, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `static_cast`: toward zero, wrapped to the width, float32 rounding to nearest even.
    #[test]
    fn casts_are_static_casts() {
        assert_eq!(cast_value(-2.7, DataType::int(32)), -2.0);
        assert_eq!(cast_value(2.7, DataType::int(8)), 2.0);
        assert_eq!(cast_value(200.0, DataType::int(8)), -56.0);
        assert_eq!(cast_value(-129.0, DataType::int(8)), 127.0);
        assert_eq!(cast_value(300.0, DataType::Int { bits: 8, signed: false }), 44.0);
        assert_eq!(cast_value(16_777_217.0, DataType::F32), 16_777_216.0);
    }
}
