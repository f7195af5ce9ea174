//! QUANTIZE and DEQUANTIZE: [`Op::Convert`], rows of `codes::CONVERT` (a DEQUANTIZE of a
//! FLOAT16 constant is folded by the importer before it gets here).

use super::{ReadCtx, WriteCtx, Written};
use crate::export::ExportError;
use crate::import::tflite::{codes, LayerErr};
use crate::ir::{Activation, Convert, Layer, Op};

pub(super) fn read(cx: &mut ReadCtx<'_, '_>) -> Result<Layer, LayerErr> {
    let x = cx.input(0)?;
    let kind = codes::convert_in(cx.code).ok_or(LayerErr::Unsupported(String::new()))?;
    cx.layer(Op::Convert(kind), vec![x], Activation::None)
}

pub(super) fn write(cx: &mut WriteCtx<'_>, kind: Convert) -> Result<Written, ExportError> {
    let (code, versions) =
        codes::convert_out(kind).ok_or_else(|| cx.err(format!("TFLite has no {} operator", cx.l.op.name())))?;
    Ok(Written { code, version: cx.version(versions), options: None })
}
