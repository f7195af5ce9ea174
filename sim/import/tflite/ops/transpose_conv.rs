//! TRANSPOSE_CONV: [`Op::TransposeConv`]. Operands: the output shape (a constant), OHWI
//! weights, the data, an optional bias; LiteRT crops by the conv padding rule applied to the
//! output size.

use super::{corrupt, ints_i32, padding_in, pos, stride_i32, ReadCtx, WriteCtx, Written};
use crate::export::ExportError;
use crate::import::tflite::generated::tflite as fb;
use crate::import::tflite::LayerErr;
use crate::ir::{resolve_padding, window_out, Activation, Layer, Op, Padding, TensorKind, TransposeConv};

pub(super) fn read(cx: &mut ReadCtx<'_, '_>) -> Result<Layer, LayerErr> {
    let c = corrupt(cx.imp);
    let Some(fb::BuiltinOptionsRef::TransposeConvOptions(o)) = cx.opts else {
        return Err(LayerErr::Unsupported(String::new()));
    };
    // Inputs: output shape (a constant), OHWI weights, data, optional bias.
    let (x, w) = (cx.input(2)?, cx.input(1)?);
    let bias = cx.optional(3);
    let shape = cx.const_ints(cx.input(0)?)?;
    let ws = cx.g.tensor(w).shape.clone();
    let [_, oh, ow, _] = shape[..] else {
        return Err(cx.inv(format!("output shape must have 4 entries, got {shape:?}")));
    };
    if ws.len() != 4 || oh < 1 || ow < 1 {
        return Err(cx.inv(format!("weights {ws:?} must be 4-D (OHWI) and the output {shape:?} non-empty")));
    }
    let act = cx.act(o.fused_activation_function().map_err(&c)?)?;
    let stride = [pos(o.stride_h().map_err(&c)?), pos(o.stride_w().map_err(&c)?)];
    let (kernel, output) = ([ws[1], ws[2]], [oh as usize, ow as usize]);
    // LiteRT crops by the conv padding rule applied to the output size.
    let p = resolve_padding(padding_in(o.padding().map_err(&c)?), output, kernel, stride, [1, 1]);
    cx.g.tensor_mut(w).kind = TensorKind::Weight;
    let mut inputs = vec![x, w];
    if let Some(b) = bias {
        cx.g.tensor_mut(b).kind = TensorKind::Bias;
        inputs.push(b);
    }
    let op = Op::TransposeConv(TransposeConv {
        out_channels: ws[0],
        kernel,
        stride,
        pad: [p.top, p.left],
        output,
        bias: bias.is_some(),
    });
    cx.layer(op, inputs, act)
}

pub(super) fn write(cx: &mut WriteCtx<'_>, t: &TransposeConv) -> Result<Written, ExportError> {
    // LiteRT crops by its padding rule applied to the output size, and requires that rule's
    // conv of the output to give back the input's size.
    let x = cx.x;
    let input = [x.shape.get(1).copied().unwrap_or(1), x.shape.get(2).copied().unwrap_or(1)];
    let fits = |p: Padding| {
        let e = resolve_padding(p, t.output, t.kernel, t.stride, [1, 1]);
        [e.top, e.left] == t.pad && window_out(t.output, t.kernel, t.stride, [1, 1], p) == Ok((input[0], input[1]))
    };
    let padding = if fits(Padding::Same) {
        fb::Padding::Same
    } else if fits(Padding::Valid) {
        fb::Padding::Valid
    } else {
        return Err(cx.err(format!(
            "output {:?} cropped by {:?} from a {input:?} input is neither TFLite's SAME nor its VALID",
            t.output, t.pad
        )));
    };
    let out = cx.out;
    let shape = ints_i32(&out.shape).map_err(|m| cx.err(m))?;
    let shape = cx.const_i32(format!("{}/output_shape", out.name), vec![shape.len() as i32], &shape);
    // TRANSPOSE_CONV's inputs: output shape, weights, data, optional bias.
    let inputs = &cx.inputs;
    cx.inputs = [shape, inputs[1], inputs[0]].into_iter().chain(inputs.get(2).copied()).collect();
    let [stride_h, stride_w] = t.stride.map(stride_i32);
    let o = fb::TransposeConvOptions { padding, stride_w, stride_h, fused_activation_function: cx.act };
    // LiteRT's versions: 4 with a fused activation, 3 with a bias, 2 int8 weights.
    let version = if cx.l.activation != Activation::None {
        4
    } else if t.bias {
        3
    } else if cx.g.weight_bits(cx.l).is_some_and(|b| b <= 8) {
        2
    } else {
        1
    };
    Ok(Written {
        code: fb::BuiltinOperator::TransposeConv,
        version,
        options: Some(fb::BuiltinOptions::TransposeConvOptions(Box::new(o))),
    })
}
