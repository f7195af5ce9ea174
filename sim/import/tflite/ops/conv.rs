//! CONV_2D and DEPTHWISE_CONV_2D: [`Op::Conv2d`] (depthwise weights `[1, kh, kw, C*m]` are
//! OHWI `[C*m, kh, kw, 1]` in the IR, `groups = C`; the exporter transposes them back and
//! refuses grouped convolutions that are not depthwise, `export::tflite::depthwise_weights`).

use super::{corrupt, padding_in, pos, stride_i32, ReadCtx, WriteCtx, Written};
use crate::export::ExportError;
use crate::import::tflite::generated::tflite as fb;
use crate::import::tflite::{to_ohwi_depthwise, LayerErr};
use crate::ir::{Conv2d, Layer, Op, TensorKind};

pub(super) fn read(cx: &mut ReadCtx<'_, '_>) -> Result<Layer, LayerErr> {
    use fb::BuiltinOperator as B;
    use fb::BuiltinOptionsRef as O;
    let c = corrupt(cx.imp);
    let x = cx.input(0)?;
    let w = cx.input(1)?;
    let bias = cx.optional(2);
    let cin = cx.g.tensor(x).shape.last().copied().unwrap_or(0);
    let ws = cx.g.tensor(w).shape.clone();
    if ws.len() != 4 {
        return Err(cx.inv(format!("weights must be 4-D, got {ws:?}")));
    }
    let (pad, stride, dil, a, groups, cout) = match cx.opts {
        Some(O::DepthwiseConv2DOptions(d)) if cx.code == B::DepthwiseConv2d => {
            // [1, kh, kw, C*m] -> OHWI [C*m, kh, kw, 1].
            if ws[0] != 1 {
                return Err(cx.inv(format!("depthwise weights must be [1, kh, kw, C*m], got {ws:?}")));
            }
            let cout = ws[3];
            to_ohwi_depthwise(cx.g.tensor_mut(w));
            (
                d.padding().map_err(c)?,
                [d.stride_h().map_err(c)?, d.stride_w().map_err(c)?],
                [d.dilation_h_factor().map_err(c)?, d.dilation_w_factor().map_err(c)?],
                d.fused_activation_function().map_err(c)?,
                cin,
                cout,
            )
        }
        Some(O::Conv2DOptions(o)) if cx.code == B::Conv2d => (
            o.padding().map_err(c)?,
            [o.stride_h().map_err(c)?, o.stride_w().map_err(c)?],
            [o.dilation_h_factor().map_err(c)?, o.dilation_w_factor().map_err(c)?],
            o.fused_activation_function().map_err(c)?,
            1,
            ws[0],
        ),
        _ => return Err(cx.inv("missing or mismatched options".into())),
    };
    let act = cx.act(a)?;
    let kshape = cx.g.tensor(w).shape.clone();
    cx.g.tensor_mut(w).kind = TensorKind::Weight;
    let mut inputs = vec![x, w];
    if let Some(b) = bias {
        cx.g.tensor_mut(b).kind = TensorKind::Bias;
        inputs.push(b);
    }
    let op = Op::Conv2d(Conv2d {
        out_channels: cout,
        kernel: [kshape[1], kshape[2]],
        stride: [pos(stride[0]), pos(stride[1])],
        dilation: [pos(dil[0]), pos(dil[1])],
        padding: padding_in(pad),
        groups: groups.max(1),
        bias: bias.is_some(),
    });
    cx.layer(op, inputs, act)
}

pub(super) fn write(cx: &mut WriteCtx<'_>, c: &Conv2d) -> Result<Written, ExportError> {
    let padding = cx.padding(c.padding, c.kernel, c.stride, c.dilation)?;
    let [stride_h, stride_w] = c.stride.map(stride_i32);
    let [dilation_h_factor, dilation_w_factor] = c.dilation.map(stride_i32);
    if !c.bias {
        cx.inputs.push(-1);
    }
    let fused_activation_function = cx.act;
    Ok(if c.groups > 1 {
        let o = fb::DepthwiseConv2DOptions {
            padding,
            stride_w,
            stride_h,
            depth_multiplier: (c.out_channels / c.groups.max(1)) as i32,
            fused_activation_function,
            dilation_w_factor,
            dilation_h_factor,
        };
        Written {
            code: fb::BuiltinOperator::DepthwiseConv2d,
            version: 3,
            options: Some(fb::BuiltinOptions::DepthwiseConv2DOptions(Box::new(o))),
        }
    } else {
        let o = fb::Conv2DOptions {
            padding,
            stride_w,
            stride_h,
            fused_activation_function,
            dilation_w_factor,
            dilation_h_factor,
            ..Default::default()
        };
        Written {
            code: fb::BuiltinOperator::Conv2d,
            version: 3,
            options: Some(fb::BuiltinOptions::Conv2DOptions(Box::new(o))),
        }
    })
}
