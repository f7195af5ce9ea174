//! QUANTIZE, DEQUANTIZE and CAST: [`Op::Convert`], rows of `CONVERT` (a DEQUANTIZE of a
//! FLOAT16 constant is folded by the importer before it gets here). CAST takes unquantized
//! float32 and integer tensors (of up to 32 bits); a CAST of quantized tensors (LiteRT casts
//! their raw integers) or of other types is refused by name.

use super::{kind_in, kind_out};
use super::{ReadCtx, WriteCtx, Written};
use crate::export::ExportError;
use crate::import::tflite::generated::tflite as fb;
use crate::import::tflite::LayerErr;
use crate::ir::{Activation, Convert, DataType, Layer, Op};

pub(super) fn read(cx: &mut ReadCtx<'_, '_>) -> Result<Layer, LayerErr> {
    let x = cx.input(0)?;
    let kind = of_code(cx.code).ok_or(LayerErr::Unsupported(String::new()))?;
    if kind == Convert::Cast {
        let y = cx.out()?;
        let fits = |t: &crate::ir::Tensor| {
            t.quant.is_none() && matches!(t.dtype, DataType::F32 | DataType::Int { bits: 8 | 16 | 32, .. })
        };
        let (xt, yt) = (cx.g.tensor(x), cx.g.tensor(y));
        if !fits(xt) || !fits(yt) {
            return Err(LayerErr::Unsupported(format!(
                " from {} to {} (unquantized float32 and integers of up to 32 bits only)",
                xt.dtype, yt.dtype
            )));
        }
    }
    cx.layer(Op::Convert(kind), vec![x], Activation::None)
}

pub(super) fn write(cx: &mut WriteCtx<'_>, kind: Convert) -> Result<Written, ExportError> {
    let (code, versions) = of_kind(kind).ok_or_else(|| cx.err(format!("TFLite has no {} operator", cx.l.op.name())))?;
    Ok(Written { code, version: cx.version(versions), options: None })
}

/// Conversions and TFLite's operators, with the operator version for 8-bit and wider
/// operands.
const CONVERT: [(Convert, fb::BuiltinOperator, [i32; 2]); 3] = [
    (Convert::Quantize, fb::BuiltinOperator::Quantize, [2, 3]),
    (Convert::Dequantize, fb::BuiltinOperator::Dequantize, [2, 4]),
    (Convert::Cast, fb::BuiltinOperator::Cast, [1, 1]),
];

/// The conversion of a TFLite operator, if it is one.
pub(crate) fn of_code(code: fb::BuiltinOperator) -> Option<Convert> {
    kind_in(&CONVERT, code)
}

/// TFLite's operator and its versions for a conversion.
pub(crate) fn of_kind(kind: Convert) -> Option<(fb::BuiltinOperator, [i32; 2])> {
    kind_out(&CONVERT, kind)
}
