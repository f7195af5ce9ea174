//! BATCH_MATMUL: [`Op::MatMul`], a product of two activations (a constant operand is a
//! weight matrix, which the converter writes as FULLY_CONNECTED: unsupported here).

use super::{corrupt, ReadCtx, WriteCtx, Written};
use crate::export::ExportError;
use crate::import::tflite::generated::tflite as fb;
use crate::import::tflite::LayerErr;
use crate::ir::{Activation, Layer, MatMul, Op};

pub(super) fn read(cx: &mut ReadCtx<'_, '_>) -> Result<Layer, LayerErr> {
    let c = corrupt(cx.imp);
    let (adj_x, adj_y) = match cx.opts {
        Some(fb::BuiltinOptionsRef::BatchMatMulOptions(o)) => (o.adj_x().map_err(&c)?, o.adj_y().map_err(&c)?),
        _ => (false, false),
    };
    let (x, y) = (cx.input(0)?, cx.input(1)?);
    if cx.g.tensor(x).data.is_some() || cx.g.tensor(y).data.is_some() {
        return Err(LayerErr::Unsupported(" with a constant operand".into()));
    }
    cx.layer(Op::MatMul(MatMul { adj_x, adj_y }), vec![x, y], Activation::None)
}

pub(super) fn write(cx: &mut WriteCtx<'_>, m: &MatMul) -> Result<Written, ExportError> {
    let o = fb::BatchMatMulOptions { adj_x: m.adj_x, adj_y: m.adj_y, ..Default::default() };
    // The converter writes version 2 for int8 and int16 alike.
    Ok(Written {
        code: fb::BuiltinOperator::BatchMatmul,
        version: cx.copy_version([1, 2, 2]),
        options: Some(fb::BuiltinOptions::BatchMatMulOptions(Box::new(o))),
    })
}
