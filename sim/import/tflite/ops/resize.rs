//! RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR: [`Op::Resize`], rows of `RESIZE` (the
//! size a constant operand; align_corners and half_pixel_centers in the options).

use super::{corrupt, ReadCtx, WriteCtx, Written};
use super::{kind_in, kind_out};
use crate::export::ExportError;
use crate::import::tflite::generated::tflite as fb;
use crate::import::tflite::LayerErr;
use crate::ir::{Activation, Layer, Op, Resize, ResizeKind};

pub(super) fn read(cx: &mut ReadCtx<'_, '_>) -> Result<Layer, LayerErr> {
    use fb::BuiltinOptionsRef as O;
    let c = corrupt(cx.imp);
    let kind = of_code(cx.code).ok_or(LayerErr::Unsupported(String::new()))?;
    let (align_corners, half_pixel_centers) = match cx.opts {
        Some(O::ResizeBilinearOptions(r)) => (r.align_corners().map_err(&c)?, r.half_pixel_centers().map_err(&c)?),
        Some(O::ResizeNearestNeighborOptions(r)) => {
            (r.align_corners().map_err(&c)?, r.half_pixel_centers().map_err(&c)?)
        }
        _ => (false, false),
    };
    let x = cx.input(0)?;
    let size = cx.const_ints(cx.input(1)?)?;
    let [h, w] = size[..] else {
        return Err(cx.inv(format!("size must hold 2 values (height, width), got {size:?}")));
    };
    if h <= 0 || w <= 0 || h > i32::MAX as i64 || w > i32::MAX as i64 {
        return Err(cx.inv(format!("size {size:?} must be positive")));
    }
    if align_corners && half_pixel_centers {
        return Err(cx.inv("align_corners and half_pixel_centers are both set; LiteRT allows one".into()));
    }
    let op = Op::Resize(Resize { kind, size: [h as usize, w as usize], align_corners, half_pixel_centers });
    cx.layer(op, vec![x], Activation::None)
}

pub(super) fn write(cx: &mut WriteCtx<'_>, r: &Resize) -> Result<Written, ExportError> {
    let size = [i32::try_from(r.size[0]), i32::try_from(r.size[1])];
    let [Ok(h), Ok(w)] = size else {
        return Err(cx.err(format!("resize to {:?} does not fit int32", r.size)));
    };
    let size = cx.const_i32(format!("{}/size", cx.out.name), vec![2], &[h, w]);
    cx.inputs.push(size);
    let (code, versions) = of_kind(r.kind);
    let (align_corners, half_pixel_centers) = (r.align_corners, r.half_pixel_centers);
    let options = match r.kind {
        ResizeKind::Bilinear => fb::BuiltinOptions::ResizeBilinearOptions(Box::new(fb::ResizeBilinearOptions {
            align_corners,
            half_pixel_centers,
        })),
        ResizeKind::Nearest => {
            fb::BuiltinOptions::ResizeNearestNeighborOptions(Box::new(fb::ResizeNearestNeighborOptions {
                align_corners,
                half_pixel_centers,
            }))
        }
    };
    Ok(Written { code, version: cx.version(versions), options: Some(options) })
}

/// Resize kinds and TFLite's operators, with the operator version for 8-bit and wider
/// operands (the converter writes 3 at every width: half-pixel centres need it).
const RESIZE: [(ResizeKind, fb::BuiltinOperator, [i32; 2]); 2] = [
    (ResizeKind::Bilinear, fb::BuiltinOperator::ResizeBilinear, [3, 3]),
    (ResizeKind::Nearest, fb::BuiltinOperator::ResizeNearestNeighbor, [3, 3]),
];

/// The resize kind of a TFLite operator, if it is one.
pub(crate) fn of_code(code: fb::BuiltinOperator) -> Option<ResizeKind> {
    kind_in(&RESIZE, code)
}

/// TFLite's operator and its versions for a resize kind.
pub(crate) fn of_kind(kind: ResizeKind) -> (fb::BuiltinOperator, [i32; 2]) {
    kind_out(&RESIZE, kind).expect("every ResizeKind has a row in import::tflite::RESIZE")
}
