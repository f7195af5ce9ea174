//! The element-wise binary kinds: [`Op::Binary`], by their rows in `codes::BINARY` (operator,
//! versions, fused activation in the options).

use super::{corrupt, ReadCtx, WriteCtx, Written};
use crate::export::ExportError;
use crate::import::tflite::{codes, LayerErr};
use crate::ir::{Activation, BinaryKind, Layer, Op};

pub(super) fn read(cx: &mut ReadCtx<'_, '_>) -> Result<Layer, LayerErr> {
    let Some(row) = codes::binary_in(cx.code) else { return Err(LayerErr::Unsupported(String::new())) };
    let mut act = Activation::None;
    if let Some(a) = (row.read_activation)(cx.opts).map_err(corrupt(cx.imp))? {
        act = cx.act(a)?;
    }
    cx.layer(Op::Binary(row.kind), vec![cx.input(0)?, cx.input(1)?], act)
}

pub(super) fn write(cx: &mut WriteCtx<'_>, kind: BinaryKind) -> Result<Written, ExportError> {
    let row = codes::binary_out(kind)
        .ok_or_else(|| cx.err(format!("TFLite has no operator for the element-wise {}", cx.l.op.name())))?;
    // A kind without options carries no fused activation (checked by the exporter).
    let options = row.options.map(|options| options(cx.act));
    Ok(Written { code: row.code, version: cx.version(row.versions), options })
}
