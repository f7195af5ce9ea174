//! The layout operators, [`Op::Layout`]: CONCATENATION, PAD, RESHAPE (also SQUEEZE and
//! EXPAND_DIMS, views of the same bytes), STRIDED_SLICE and SLICE (a strided window), TILE,
//! TRANSPOSE, DEPTH_TO_SPACE, SPACE_TO_DEPTH, GATHER with constant indices and SPLIT /
//! SPLIT_V (one layer with every output). Their sizes, axes and indices are constant
//! operands in TFLite, appended by the writer.

use super::{corrupt, ints_i32, ReadCtx, WriteCtx, Written};
use crate::export::ExportError;
use crate::import::tflite::generated::tflite as fb;
use crate::import::tflite::{slice, LayerErr};
use crate::ir::{Activation, DataType, Layer, Layout, Op};

pub(super) fn read(cx: &mut ReadCtx<'_, '_>) -> Result<Layer, LayerErr> {
    use fb::BuiltinOperator as B;
    use fb::BuiltinOptionsRef as O;
    let c = corrupt(cx.imp);
    let (layout, inputs, act) = match (cx.code, cx.opts) {
        (B::Concatenation, Some(O::ConcatenationOptions(o))) => {
            let act = cx.act(o.fused_activation_function().map_err(&c)?)?;
            let inputs = (0..cx.inputs.len()).map(|i| cx.input(i)).collect::<Result<Vec<_>, _>>()?;
            (Layout::Concat { axis: cx.rank_axis(o.axis().map_err(&c)? as i64, cx.out()?)? }, inputs, act)
        }
        // SQUEEZE and EXPAND_DIMS are views, as RESHAPE: the output's shape is the file's.
        (B::Reshape | B::Squeeze | B::ExpandDims, _) => {
            let x = cx.input(0)?;
            (
                Layout::Reshape { shape: cx.g.tensor(cx.out()?).shape.iter().map(|&d| d as i64).collect() },
                vec![x],
                Activation::None,
            )
        }
        (B::StridedSlice, o) => {
            let x = cx.input(0)?;
            let masks = match o {
                Some(O::StridedSliceOptions(s)) => slice::Masks {
                    begin: s.begin_mask().map_err(&c)?,
                    end: s.end_mask().map_err(&c)?,
                    shrink: s.shrink_axis_mask().map_err(&c)?,
                    ellipsis: s.ellipsis_mask().map_err(&c)?,
                    new_axis: s.new_axis_mask().map_err(&c)?,
                },
                _ => slice::Masks::default(),
            };
            let (b, e, st) = (cx.const_ints(cx.input(1)?)?, cx.const_ints(cx.input(2)?)?, cx.const_ints(cx.input(3)?)?);
            let window = slice::strided_slice(&cx.g.tensor(x).shape, &b, &e, &st, masks).map_err(|m| cx.inv(m))?;
            (window, vec![x], Activation::None)
        }
        (B::Slice, _) => {
            let x = cx.input(0)?;
            let (b, n) = (cx.const_ints(cx.input(1)?)?, cx.const_ints(cx.input(2)?)?);
            (slice::slice(&cx.g.tensor(x).shape, &b, &n).map_err(|m| cx.inv(m))?, vec![x], Activation::None)
        }
        (B::Pad, _) => {
            let x = cx.input(0)?;
            let p = cx.const_ints(cx.input(1)?)?;
            if p.len() != 2 * cx.g.tensor(x).shape.len() || p.iter().any(|&v| v < 0) {
                return Err(cx.inv(format!("paddings {p:?} do not fit input {:?}", cx.g.tensor(x).shape)));
            }
            (
                Layout::Pad { pads: p.chunks(2).map(|c| (c[0] as usize, c[1] as usize)).collect() },
                vec![x],
                Activation::None,
            )
        }
        (B::Tile, _) => {
            let x = cx.input(0)?;
            let m = cx.const_ints(cx.input(1)?)?;
            let rank = cx.g.tensor(x).shape.len();
            if m.len() != rank || m.iter().any(|&v| v < 1) {
                return Err(cx.inv(format!("multiples {m:?} must be {rank} values >= 1")));
            }
            (Layout::Tile { multiples: m.iter().map(|&v| v as usize).collect() }, vec![x], Activation::None)
        }
        (B::Transpose, _) => {
            let x = cx.input(0)?;
            let perm = cx.const_ints(cx.input(1)?)?;
            let perm = perm.iter().map(|&p| cx.rank_axis(p, x)).collect::<Result<Vec<_>, _>>()?;
            (Layout::Transpose { perm }, vec![x], Activation::None)
        }
        (B::DepthToSpace, Some(O::DepthToSpaceOptions(o))) => {
            let x = cx.input(0)?;
            let block =
                usize::try_from(o.block_size().map_err(&c)?).map_err(|_| cx.inv("negative block_size".into()))?;
            (Layout::DepthToSpace { block }, vec![x], Activation::None)
        }
        (B::SpaceToDepth, Some(O::SpaceToDepthOptions(o))) => {
            let x = cx.input(0)?;
            let block =
                usize::try_from(o.block_size().map_err(&c)?).map_err(|_| cx.inv("negative block_size".into()))?;
            (Layout::SpaceToDepth { block }, vec![x], Activation::None)
        }
        (B::Gather, o) => {
            let (axis, batch_dims) = match o {
                Some(O::GatherOptions(o)) => (o.axis().map_err(&c)?, o.batch_dims().map_err(&c)?),
                _ => (0, 0),
            };
            if batch_dims != 0 {
                return Err(LayerErr::Unsupported(format!(" with batch_dims {batch_dims} (0 only)")));
            }
            let (x, idx) = (cx.input(0)?, cx.input(1)?);
            if cx.g.tensor(idx).data.is_none() {
                return Err(LayerErr::Unsupported(" with computed indices (constant indices only)".into()));
            }
            let axis = cx.rank_axis(axis as i64, x)?;
            let dim = cx.g.tensor(x).shape[axis] as i64;
            let indices = cx
                .const_ints(idx)?
                .into_iter()
                .map(|i| usize::try_from(i).ok().filter(|&i| (i as i64) < dim))
                .collect::<Option<Vec<usize>>>()
                .ok_or_else(|| cx.inv(format!("indices must lie in 0..{dim} (axis {axis})")))?;
            (Layout::Gather { axis, indices, indices_shape: cx.g.tensor(idx).shape.clone() }, vec![x], Activation::None)
        }
        (B::Split | B::SplitV, _) => return split(cx),
        // CONCATENATION, DEPTH_TO_SPACE and SPACE_TO_DEPTH without their options.
        _ => return Err(LayerErr::Unsupported(String::new())),
    };
    cx.layer(Op::Layout(layout), inputs, act)
}

/// SPLIT: (axis, input), equal pieces; SPLIT_V: (input, size_splits, axis). One layer
/// writing every output.
fn split(cx: &mut ReadCtx<'_, '_>) -> Result<Layer, LayerErr> {
    let split = cx.code == fb::BuiltinOperator::Split;
    let (x, axis_t) = if split { (cx.input(1)?, cx.input(0)?) } else { (cx.input(0)?, cx.input(2)?) };
    let [a] = cx.const_ints(axis_t)?[..] else { return Err(cx.inv("axis must be one value".into())) };
    let axis = cx.rank_axis(a, x)?;
    let dim = cx.g.tensor(x).shape[axis];
    let n = cx.outputs.len();
    let sizes = if split {
        if n == 0 || dim % n != 0 {
            return Err(cx.inv(format!("axis {axis} of size {dim} does not split into {n} equal pieces")));
        }
        vec![dim / n; n]
    } else {
        let given = cx.const_ints(cx.input(1)?)?;
        let known: i64 = given.iter().filter(|&&v| v >= 0).sum();
        let unknown = given.iter().filter(|&&v| v < 0).count();
        if given.len() != n || given.iter().any(|&v| v < -1) || unknown > 1 || known > dim as i64 {
            return Err(
                cx.inv(format!("size_splits {given:?} do not split axis {axis} of size {dim} into {n} outputs"))
            );
        }
        given.iter().map(|&v| if v < 0 { dim - known as usize } else { v as usize }).collect()
    };
    Ok(Layer {
        name: cx.name(),
        op: Op::Layout(Layout::Split { axis, sizes }),
        inputs: vec![x],
        outputs: cx.outputs.to_vec(),
        activation: Activation::None,
    })
}

pub(super) fn write(cx: &mut WriteCtx<'_>, layout: &Layout) -> Result<Written, ExportError> {
    use fb::BuiltinOperator as B;
    use fb::BuiltinOptions as O;
    let out = cx.out;
    let err = cx.err_fn();
    let (code, version, options) = match layout {
        Layout::Concat { axis } => {
            let o = fb::ConcatenationOptions { axis: *axis as i32, fused_activation_function: cx.act };
            (B::Concatenation, if cx.wide { 3 } else { 2 }, O::ConcatenationOptions(Box::new(o)))
        }
        Layout::Pad { pads } => {
            let mut p = Vec::with_capacity(pads.len() * 2);
            for &(a, b) in pads {
                p.push(i32::try_from(a).map_err(|_| err(format!("padding {a} does not fit int32")))?);
                p.push(i32::try_from(b).map_err(|_| err(format!("padding {b} does not fit int32")))?);
            }
            let t = cx.const_i32(format!("{}/paddings", out.name), vec![pads.len() as i32, 2], &p);
            cx.inputs.push(t);
            (B::Pad, if cx.wide { 4 } else { 2 }, O::PadOptions(Box::default()))
        }
        Layout::Reshape { .. } => {
            let s = crate::export::tflite::dims(out, &out.shape)?;
            let t = cx.const_i32(format!("{}/shape", out.name), vec![s.len() as i32], &s);
            cx.inputs.push(t);
            (B::Reshape, 1, O::ReshapeOptions(Box::new(fb::ReshapeOptions { new_shape: Some(s) })))
        }
        // A window as STRIDED_SLICE (version as LiteRT's converter writes it at 8 and 16
        // bits); a backward window that runs to index 0 ends through end_mask (an end of -1
        // would count from the back).
        Layout::Slice { begin, size, stride, drop } => {
            let (mut b, mut e, mut st, mut end_mask) = (Vec::new(), Vec::new(), Vec::new(), 0i32);
            for d in 0..begin.len() {
                let first = begin[d] as i64;
                let stop = first + size[d] as i64 * stride[d];
                if stop < 0 {
                    end_mask |= 1 << d;
                }
                let fit = |v: i64| i32::try_from(v).map_err(|_| err(format!("slice index {v} does not fit int32")));
                b.push(fit(first)?);
                e.push(fit(stop.max(0))?);
                st.push(fit(stride[d])?);
            }
            let rank = vec![cx.x.shape.len() as i32];
            let t = cx.const_i32(format!("{}/begin", out.name), rank.clone(), &b);
            cx.inputs.push(t);
            let t = cx.const_i32(format!("{}/end", out.name), rank.clone(), &e);
            cx.inputs.push(t);
            let t = cx.const_i32(format!("{}/strides", out.name), rank, &st);
            cx.inputs.push(t);
            let shrink_axis_mask = drop.iter().fold(0i32, |m, &d| m | (1 << d));
            let o = fb::StridedSliceOptions { end_mask, shrink_axis_mask, ..Default::default() };
            let version = if out.dtype == DataType::F32 { 1 } else { 2 };
            (B::StridedSlice, version, O::StridedSliceOptions(Box::new(o)))
        }
        // The copies, at the versions LiteRT's converter writes for float / int8 / int16.
        Layout::Transpose { perm } => {
            let p = ints_i32(perm).map_err(&err)?;
            let t = cx.const_i32(format!("{}/perm", out.name), vec![p.len() as i32], &p);
            cx.inputs.push(t);
            (B::Transpose, cx.copy_version([1, 2, 2]), O::TransposeOptions(Box::default()))
        }
        Layout::DepthToSpace { block } => {
            let block_size = ints_i32(&[*block]).map_err(&err)?[0];
            let o = O::DepthToSpaceOptions(Box::new(fb::DepthToSpaceOptions { block_size }));
            (B::DepthToSpace, cx.copy_version([1, 2, 2]), o)
        }
        Layout::SpaceToDepth { block } => {
            let block_size = ints_i32(&[*block]).map_err(&err)?[0];
            let o = O::SpaceToDepthOptions(Box::new(fb::SpaceToDepthOptions { block_size }));
            (B::SpaceToDepth, cx.copy_version([1, 2, 2]), o)
        }
        Layout::Gather { axis, indices, indices_shape } => {
            let i = ints_i32(indices).map_err(&err)?;
            let shape = ints_i32(indices_shape).map_err(&err)?;
            let t = cx.const_i32(format!("{}/indices", out.name), shape, &i);
            cx.inputs.push(t);
            let axis = ints_i32(&[*axis]).map_err(&err)?[0];
            let o = O::GatherOptions(Box::new(fb::GatherOptions { axis, batch_dims: 0 }));
            (B::Gather, cx.copy_version([1, 2, 2]), o)
        }
        // SPLIT_V (sizes need not be equal): input, size_splits, axis.
        Layout::Split { axis, sizes } => {
            let s = ints_i32(sizes).map_err(&err)?;
            let t = cx.const_i32(format!("{}/size_splits", out.name), vec![s.len() as i32], &s);
            cx.inputs.push(t);
            let a = ints_i32(&[*axis]).map_err(&err)?;
            let t = cx.const_i32(format!("{}/axis", out.name), vec![], &a);
            cx.inputs.push(t);
            let o = O::SplitVOptions(Box::new(fb::SplitVOptions { num_splits: s.len() as i32 }));
            (B::SplitV, cx.copy_version([1, 2, 2]), o)
        }
        Layout::Tile { .. } => {
            return Err(err("the TFLite export does not write TILE yet (LiteRT's reference resolver has no int8 TILE \
                 version 3); write the model as .aqm or .onnx"
                .into()))
        }
    };
    Ok(Written { code, version, options: Some(options) })
}
