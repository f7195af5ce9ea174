//! FULLY_CONNECTED: [`Op::FullyConnected`] (weights `[out, in]`, optional bias).

use super::{corrupt, ReadCtx, WriteCtx, Written};
use crate::export::ExportError;
use crate::import::tflite::generated::tflite as fb;
use crate::import::tflite::LayerErr;
use crate::ir::{Activation, FullyConnected, Layer, Op, TensorKind};

pub(super) fn read(cx: &mut ReadCtx<'_, '_>) -> Result<Layer, LayerErr> {
    let c = corrupt(cx.imp);
    let (mut act, mut keep_dims, mut asymmetric_inputs) = (Activation::None, false, false);
    if let Some(fb::BuiltinOptionsRef::FullyConnectedOptions(o)) = cx.opts {
        act = cx.act(o.fused_activation_function().map_err(&c)?)?;
        keep_dims = o.keep_num_dims().map_err(&c)?;
        asymmetric_inputs = o.asymmetric_quantize_inputs().map_err(&c)?;
    }
    let (x, w) = (cx.input(0)?, cx.input(1)?);
    let bias = cx.optional(2);
    let cout = cx.g.tensor(w).shape.first().copied().unwrap_or(0);
    cx.g.tensor_mut(w).kind = TensorKind::Weight;
    let mut inputs = vec![x, w];
    if let Some(b) = bias {
        cx.g.tensor_mut(b).kind = TensorKind::Bias;
        inputs.push(b);
    }
    let fc = FullyConnected { out_features: cout, bias: bias.is_some(), keep_dims, asymmetric_inputs };
    cx.layer(Op::FullyConnected(fc), inputs, act)
}

pub(super) fn write(cx: &mut WriteCtx<'_>, f: &FullyConnected) -> Result<Written, ExportError> {
    if !f.bias {
        cx.inputs.push(-1);
    }
    let o = fb::FullyConnectedOptions {
        fused_activation_function: cx.act,
        keep_num_dims: f.keep_dims,
        asymmetric_quantize_inputs: f.asymmetric_inputs,
        ..Default::default()
    };
    Ok(Written {
        code: fb::BuiltinOperator::FullyConnected,
        version: 4,
        options: Some(fb::BuiltinOptions::FullyConnectedOptions(Box::new(o))),
    })
}
