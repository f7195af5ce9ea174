//! SOFTMAX: [`Op::Softmax`] (beta in the options; a causal mask, which TFLite's SOFTMAX has
//! not, is refused).

use super::{corrupt, ReadCtx, WriteCtx, Written};
use crate::export::ExportError;
use crate::import::tflite::generated::tflite as fb;
use crate::import::tflite::LayerErr;
use crate::ir::{Activation, DataType, Layer, Op, Softmax};

pub(super) fn read(cx: &mut ReadCtx<'_, '_>) -> Result<Layer, LayerErr> {
    let beta = match cx.opts {
        Some(fb::BuiltinOptionsRef::SoftmaxOptions(s)) => s.beta().map_err(corrupt(cx.imp))?,
        _ => 1.0,
    };
    cx.layer(Op::Softmax(Softmax { beta, causal: false }), vec![cx.input(0)?], Activation::None)
}

pub(super) fn write(cx: &mut WriteCtx<'_>, s: &Softmax) -> Result<Written, ExportError> {
    if s.causal {
        return Err(cx.err("TFLite's SOFTMAX has no causal mask; write the model as .aqm".into()));
    }
    let version = if cx.out.dtype == DataType::F32 {
        1
    } else if cx.wide {
        3
    } else {
        2
    };
    let o = fb::SoftmaxOptions { beta: s.beta };
    Ok(Written {
        code: fb::BuiltinOperator::Softmax,
        version,
        options: Some(fb::BuiltinOptions::SoftmaxOptions(Box::new(o))),
    })
}
