//! The element-wise unary kinds: [`Op::Unary`], by their rows in `codes::UNARY` (LEAKY_RELU's
//! alpha in its options); a kind without a row (ONNX's HardSigmoid) is refused by name.

use super::{corrupt, ReadCtx, WriteCtx, Written};
use crate::export::ExportError;
use crate::import::tflite::{codes, LayerErr};
use crate::ir::{Activation, Layer, Op, UnaryKind};

pub(super) fn read(cx: &mut ReadCtx<'_, '_>) -> Result<Layer, LayerErr> {
    let kind =
        codes::unary_in(cx.code, cx.opts).ok_or(LayerErr::Unsupported(String::new()))?.map_err(corrupt(cx.imp))?;
    cx.layer(Op::Unary(kind), vec![cx.input(0)?], Activation::None)
}

pub(super) fn write(cx: &mut WriteCtx<'_>, kind: UnaryKind) -> Result<Written, ExportError> {
    let (row, options) = codes::unary_out(kind)
        .ok_or_else(|| cx.err(format!("TFLite has no operator for the element-wise {}", cx.l.op.name())))?;
    Ok(Written { code: row.code, version: cx.version(row.versions), options })
}
