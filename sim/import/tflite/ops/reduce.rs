//! MEAN and REDUCE_MAX: [`Op::Reduce`] (the axes a constant operand; keep_dims in the
//! options).

use super::{corrupt, ReadCtx, WriteCtx, Written};
use crate::export::ExportError;
use crate::import::tflite::generated::tflite as fb;
use crate::import::tflite::LayerErr;
use crate::ir::{Activation, Layer, Op, Reduce, ReduceKind};

pub(super) fn read(cx: &mut ReadCtx<'_, '_>) -> Result<Layer, LayerErr> {
    let keep_dims = match cx.opts {
        Some(fb::BuiltinOptionsRef::ReducerOptions(r)) => r.keep_dims().map_err(corrupt(cx.imp))?,
        _ => false,
    };
    let x = cx.input(0)?;
    let mut axes = vec![];
    for a in cx.const_ints(cx.input(1)?)? {
        let a = cx.rank_axis(a, x)?;
        if !axes.contains(&a) {
            axes.push(a);
        }
    }
    let kind = if cx.code == fb::BuiltinOperator::Mean { ReduceKind::Mean } else { ReduceKind::Max };
    cx.layer(Op::Reduce(Reduce { kind, axes, keep_dims }), vec![x], Activation::None)
}

pub(super) fn write(cx: &mut WriteCtx<'_>, r: &Reduce) -> Result<Written, ExportError> {
    let a: Vec<i32> = r.axes.iter().map(|&a| a as i32).collect();
    let axes = cx.const_i32(format!("{}/axes", cx.out.name), vec![a.len() as i32], &a);
    cx.inputs.push(axes);
    let options = Some(fb::BuiltinOptions::ReducerOptions(Box::new(fb::ReducerOptions { keep_dims: r.keep_dims })));
    let (code, version) = match r.kind {
        ReduceKind::Mean => (fb::BuiltinOperator::Mean, if cx.wide { 3 } else { 2 }),
        ReduceKind::Max => (fb::BuiltinOperator::ReduceMax, cx.copy_version([1, 2, 3])),
    };
    Ok(Written { code, version, options })
}
