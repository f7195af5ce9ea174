//! MAX_POOL_2D and AVERAGE_POOL_2D: [`Op::Pool`], rows of `POOL`.

use super::{corrupt, padding_in, pos, stride_i32, ReadCtx, WriteCtx, Written};
use super::{kind_in, kind_out};
use crate::export::ExportError;
use crate::import::tflite::generated::tflite as fb;
use crate::import::tflite::LayerErr;
use crate::ir::{Layer, Op, Pool, PoolKind};

pub(super) fn read(cx: &mut ReadCtx<'_, '_>) -> Result<Layer, LayerErr> {
    let c = corrupt(cx.imp);
    let (Some(kind), Some(fb::BuiltinOptionsRef::Pool2DOptions(o))) = (of_code(cx.code), cx.opts) else {
        return Err(LayerErr::Unsupported(String::new()));
    };
    let act = cx.act(o.fused_activation_function().map_err(&c)?)?;
    let x = cx.input(0)?;
    let op = Op::Pool(Pool {
        kind,
        kernel: [pos(o.filter_height().map_err(&c)?), pos(o.filter_width().map_err(&c)?)],
        stride: [pos(o.stride_h().map_err(&c)?), pos(o.stride_w().map_err(&c)?)],
        padding: padding_in(o.padding().map_err(&c)?),
    });
    cx.layer(op, vec![x], act)
}

pub(super) fn write(cx: &mut WriteCtx<'_>, p: &Pool) -> Result<Written, ExportError> {
    let padding = cx.padding(p.padding, p.kernel, p.stride, [1, 1])?;
    let o = fb::Pool2DOptions {
        padding,
        stride_w: stride_i32(p.stride[1]),
        stride_h: stride_i32(p.stride[0]),
        filter_width: stride_i32(p.kernel[1]),
        filter_height: stride_i32(p.kernel[0]),
        fused_activation_function: cx.act,
    };
    let (code, versions) =
        of_kind(p.kind).ok_or_else(|| cx.err(format!("TFLite has no {} operator", cx.l.op.name())))?;
    Ok(Written { code, version: cx.version(versions), options: Some(fb::BuiltinOptions::Pool2DOptions(Box::new(o))) })
}

/// Pooling kinds and TFLite's operators, with the operator version for 8-bit and wider
/// operands.
const POOL: [(PoolKind, fb::BuiltinOperator, [i32; 2]); 2] = [
    (PoolKind::Max, fb::BuiltinOperator::MaxPool2d, [2, 3]),
    (PoolKind::Avg, fb::BuiltinOperator::AveragePool2d, [2, 3]),
];

/// The pooling kind of a TFLite operator, if it is a pooling.
pub(crate) fn of_code(code: fb::BuiltinOperator) -> Option<PoolKind> {
    kind_in(&POOL, code)
}

/// TFLite's operator and its versions for a pooling kind.
pub(crate) fn of_kind(kind: PoolKind) -> Option<(fb::BuiltinOperator, [i32; 2])> {
    kind_out(&POOL, kind)
}
