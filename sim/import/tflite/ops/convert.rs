//! QUANTIZE and DEQUANTIZE: [`Op::Convert`], rows of `CONVERT` (a DEQUANTIZE of a
//! FLOAT16 constant is folded by the importer before it gets here).

use super::{kind_in, kind_out};
use super::{ReadCtx, WriteCtx, Written};
use crate::export::ExportError;
use crate::import::tflite::generated::tflite as fb;
use crate::import::tflite::LayerErr;
use crate::ir::{Activation, Convert, Layer, Op};

pub(super) fn read(cx: &mut ReadCtx<'_, '_>) -> Result<Layer, LayerErr> {
    let x = cx.input(0)?;
    let kind = of_code(cx.code).ok_or(LayerErr::Unsupported(String::new()))?;
    cx.layer(Op::Convert(kind), vec![x], Activation::None)
}

pub(super) fn write(cx: &mut WriteCtx<'_>, kind: Convert) -> Result<Written, ExportError> {
    let (code, versions) = of_kind(kind).ok_or_else(|| cx.err(format!("TFLite has no {} operator", cx.l.op.name())))?;
    Ok(Written { code, version: cx.version(versions), options: None })
}

/// Conversions and TFLite's operators, with the operator version for 8-bit and wider
/// operands.
const CONVERT: [(Convert, fb::BuiltinOperator, [i32; 2]); 2] = [
    (Convert::Quantize, fb::BuiltinOperator::Quantize, [2, 3]),
    (Convert::Dequantize, fb::BuiltinOperator::Dequantize, [2, 4]),
];

/// The conversion of a TFLite operator, if it is one.
pub(crate) fn of_code(code: fb::BuiltinOperator) -> Option<Convert> {
    kind_in(&CONVERT, code)
}

/// TFLite's operator and its versions for a conversion.
pub(crate) fn of_kind(kind: Convert) -> Option<(fb::BuiltinOperator, [i32; 2])> {
    kind_out(&CONVERT, kind)
}
