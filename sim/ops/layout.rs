//! The layout family: ops that move or view values without computing on them -- CONCAT
//! (rescaling inputs whose quantization differs from the output's, as LiteRT does), PAD
//! (with the zero point), RESHAPE (a view of the same bytes; TFLite's SQUEEZE and
//! EXPAND_DIMS import as it), SLICE (a strided window: SLICE, STRIDED_SLICE) and the
//! copies TRANSPOSE, DEPTH_TO_SPACE, SPACE_TO_DEPTH, GATHER (constant indices), TILE and
//! SPLIT (SPLIT, SPLIT_V: one output per piece). All but CONCAT pass their input's quantization
//! through (LiteRT's kernels copy the integers), at every width.

use super::work::{Phase, VectorWork};
use super::{
    int_input, vector_phase, DataFree, IntKernel, LayerCx, Moments, OnTheFly, OpFamily, QuantRule, WeightLayout,
    WorkbookRow, NO_WORKBOOK_ROW,
};
use crate::ir::Layout;
use crate::kernels::{elementwise, layout, qrange, scale_zp, Arithmetic, Values};
use crate::units::Macs;

/// A prepared integer layout op.
pub enum IntLayout {
    /// Concatenation: each input's shape and, where it differs from the output's, its
    /// quantization to rescale from.
    Concat {
        /// Axis.
        axis: usize,
        /// Per input: shape, and `(scale, zero point)` when it must be rescaled.
        inputs: Vec<(Vec<usize>, Option<(f32, i32)>)>,
        /// Output scale, zero point and integer range.
        output: (f32, i32, i32, i32),
        /// The fused activation's clamp.
        act: (i32, i32),
    },
    /// Padding with the output zero point.
    Pad {
        /// Input shape.
        shape: Vec<usize>,
        /// Pads per dimension.
        pads: Vec<(usize, usize)>,
        /// Padding value.
        zero_point: i32,
    },
    /// A view.
    Reshape,
    /// A strided window.
    Slice {
        /// Input shape.
        shape: Vec<usize>,
        /// First index per axis.
        begin: Vec<usize>,
        /// Elements per axis.
        size: Vec<usize>,
        /// Step per axis.
        stride: Vec<i64>,
    },
    /// A copy that moves every element ([`Layout::moves`]): the op and its input's shape.
    Move(Layout, Vec<usize>),
}

impl IntLayout {
    pub(super) fn run(&self, inputs: &[&Values]) -> Result<Vec<Values>, String> {
        match self {
            IntLayout::Move(op, shape) => {
                return Ok(op.moves(&int_input(inputs, 0)?, shape).into_iter().map(Values::Int).collect())
            }
            // The same values in the element type they are stored in.
            IntLayout::Reshape => {
                return match inputs.first() {
                    Some(v @ (Values::Int(_) | Values::I8(_))) => Ok(vec![(*v).clone()]),
                    Some(Values::F32(_)) => Err("expects an integer input, got floats".into()),
                    None => Err("input not computed".into()),
                }
            }
            IntLayout::Concat { .. } | IntLayout::Pad { .. } | IntLayout::Slice { .. } => {}
        }
        Ok(vec![Values::Int(match self {
            IntLayout::Concat { axis, inputs: ins, output: (so, zo, qmin, qmax), act: (amin, amax) } => {
                let mut parts = Vec::with_capacity(ins.len());
                for (i, (_, rescale)) in ins.iter().enumerate() {
                    let v = int_input(inputs, i)?;
                    parts.push(match rescale {
                        None => v.into_owned(),
                        Some((si, zi)) => layout::rescale(&v, *si, *zi, *so, *zo, *qmin, *qmax),
                    });
                }
                let refs: Vec<&[i32]> = parts.iter().map(|p| p.as_slice()).collect();
                let shapes: Vec<Vec<usize>> = ins.iter().map(|(s, _)| s.clone()).collect();
                let mut r = layout::concat(&refs, &shapes, *axis);
                r.iter_mut().for_each(|v| *v = (*v).clamp(*amin, *amax));
                r
            }
            IntLayout::Pad { shape, pads, zero_point } => layout::pad(&int_input(inputs, 0)?, shape, pads, *zero_point),
            IntLayout::Slice { shape, begin, size, stride } => {
                layout::slice(&int_input(inputs, 0)?, shape, begin, size, stride)
            }
            IntLayout::Move(..) | IntLayout::Reshape => return Err("a copy or a reshape runs above".into()),
        })])
    }
}

/// The output shape of a strided window of `input`, or why the window does not fit.
fn slice_shape(
    input: &[usize],
    begin: &[usize],
    size: &[usize],
    stride: &[i64],
    drop: &[usize],
) -> Result<Vec<usize>, String> {
    let rank = input.len();
    if begin.len() != rank || size.len() != rank || stride.len() != rank {
        return Err(format!(
            "slice of a rank-{rank} input needs {rank} begins, sizes and strides, got {}, {} and {}",
            begin.len(),
            size.len(),
            stride.len()
        ));
    }
    for d in 0..rank {
        if stride[d] == 0 {
            return Err(format!("slice stride of axis {d} is 0"));
        }
        if size[d] == 0 {
            continue;
        }
        let last = (begin[d] as i128) + (size[d] as i128 - 1) * stride[d] as i128;
        if begin[d] >= input[d] || last < 0 || last >= input[d] as i128 {
            return Err(format!(
                "slice of axis {d} (size {}) from {} by {} for {} elements leaves the axis",
                input[d], begin[d], stride[d], size[d]
            ));
        }
    }
    if drop.windows(2).any(|w| w[0] >= w[1]) || drop.iter().any(|&d| d >= rank || size[d] != 1) {
        return Err(format!("slice drops axes {drop:?}, which must be ascending axes of size 1 (sizes {size:?})"));
    }
    Ok((0..rank).filter(|d| !drop.contains(d)).map(|d| size[d]).collect())
}

impl Layout {
    /// The op on plain values of the same type in and out (floats, or integers that keep
    /// their meaning: the TFLite importer folds integer shape arithmetic with it):
    /// `inputs[i]` of shape `shapes[i]`, PAD filling with `pad`. Concat rescales nothing.
    pub(crate) fn apply<T: Copy>(&self, shapes: &[Vec<usize>], inputs: &[&[T]], pad: T) -> Result<Vec<Vec<T>>, String> {
        let (Some(x), Some(shape)) = (inputs.first(), shapes.first()) else { return Err("missing input".into()) };
        Ok(vec![match self {
            Layout::Concat { axis } => layout::concat(inputs, shapes, *axis),
            Layout::Pad { pads } => layout::pad(x, shape, pads, pad),
            Layout::Reshape { .. } => x.to_vec(),
            Layout::Slice { begin, size, stride, .. } => layout::slice(x, shape, begin, size, stride),
            Layout::Transpose { .. }
            | Layout::DepthToSpace { .. }
            | Layout::SpaceToDepth { .. }
            | Layout::Gather { .. }
            | Layout::Tile { .. }
            | Layout::Split { .. } => return Ok(self.moves(x, shape)),
        }])
    }

    /// The outputs of a copy (TRANSPOSE, DEPTH_TO_SPACE, SPACE_TO_DEPTH, GATHER, SPLIT) of
    /// `x` of shape `shape`, the same for floats and integers; empty for the other ops.
    fn moves<T: Copy>(&self, x: &[T], shape: &[usize]) -> Vec<Vec<T>> {
        match self {
            Layout::Transpose { perm } => vec![layout::transpose(x, shape, perm)],
            Layout::DepthToSpace { block } => vec![layout::depth_to_space(x, shape, *block)],
            Layout::SpaceToDepth { block } => vec![layout::space_to_depth(x, shape, *block)],
            Layout::Gather { axis, indices, .. } => vec![layout::gather(x, shape, *axis, indices)],
            Layout::Split { axis, sizes } => layout::split(x, shape, *axis, sizes),
            Layout::Tile { multiples } => vec![layout::tile(x, shape, multiples)],
            Layout::Concat { .. } | Layout::Pad { .. } | Layout::Reshape { .. } | Layout::Slice { .. } => Vec::new(),
        }
    }
}

/// The output shapes of a copy of an input of shape `x`, or why it does not fit.
fn move_shapes(op: &Layout, x: &[usize]) -> Result<Vec<Vec<usize>>, String> {
    let rank = x.len();
    let nhwc = |block: usize| -> Result<[usize; 4], String> {
        match x {
            [n, h, w, c] if block >= 1 => Ok([*n, *h, *w, *c]),
            _ => Err(format!("needs an NHWC input and a block size >= 1, got {x:?} and {block}")),
        }
    };
    Ok(match op {
        Layout::Transpose { perm } => {
            let mut seen = vec![false; rank];
            if perm.len() != rank || perm.iter().any(|&p| p >= rank || std::mem::replace(&mut seen[p], true)) {
                return Err(format!("perm {perm:?} is not a permutation of the {rank} axes of {x:?}"));
            }
            vec![perm.iter().map(|&p| x[p]).collect()]
        }
        Layout::DepthToSpace { block } => {
            let [n, h, w, c] = nhwc(*block)?;
            let bb = block * block;
            if c % bb != 0 {
                return Err(format!("{c} channels are not a multiple of block {block} squared"));
            }
            let (oh, ow) = (h.checked_mul(*block), w.checked_mul(*block));
            let (Some(oh), Some(ow)) = (oh, ow) else { return Err(format!("block {block} overflows {x:?}")) };
            vec![vec![n, oh, ow, c / bb]]
        }
        Layout::SpaceToDepth { block } => {
            let [n, h, w, c] = nhwc(*block)?;
            if h % block != 0 || w % block != 0 {
                return Err(format!("height {h} and width {w} are not multiples of block {block}"));
            }
            let oc = c.checked_mul(block * block).ok_or(format!("block {block} overflows {x:?}"))?;
            vec![vec![n, h / block, w / block, oc]]
        }
        Layout::Gather { axis, indices, indices_shape } => {
            if *axis >= rank {
                return Err(format!("gather axis {axis} out of range for rank {rank}"));
            }
            if indices_shape.iter().product::<usize>() != indices.len() {
                return Err(format!("{} indices for an indices shape {indices_shape:?}", indices.len()));
            }
            if let Some(i) = indices.iter().find(|&&i| i >= x[*axis]) {
                return Err(format!("index {i} out of range for axis {axis} of {x:?}"));
            }
            vec![[&x[..*axis], indices_shape, &x[axis + 1..]].concat()]
        }
        Layout::Split { axis, sizes } => {
            if *axis >= rank || sizes.iter().sum::<usize>() != x[*axis] || sizes.is_empty() {
                return Err(format!("pieces {sizes:?} along axis {axis} do not make up {x:?}"));
            }
            sizes
                .iter()
                .map(|&n| {
                    let mut s = x.to_vec();
                    s[*axis] = n;
                    s
                })
                .collect()
        }
        Layout::Tile { multiples } => {
            if multiples.len() != rank || multiples.contains(&0) {
                return Err(format!("multiples {multiples:?} must be {rank} values >= 1 for {x:?}"));
            }
            let out = x.iter().zip(multiples).map(|(&d, &m)| d.checked_mul(m)).collect::<Option<Vec<usize>>>();
            let out = out.filter(|o| o.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).is_some());
            vec![out.ok_or(format!("tiling {x:?} by {multiples:?} overflows"))?]
        }
        Layout::Concat { .. } | Layout::Pad { .. } | Layout::Reshape { .. } | Layout::Slice { .. } => {
            return Err("not a copy".into())
        }
    })
}

fn reshape(input: &[usize], total: u64, shape: &[i64]) -> Result<Vec<usize>, String> {
    let known = shape.iter().filter(|&&d| d >= 0).try_fold(1u64, |a, &d| a.checked_mul(d as u64));
    let Some(known) = known else {
        return Err(format!("target shape {:?} has too many elements", shape));
    };
    let unknown = shape.iter().filter(|&&d| d < 0).count();
    if shape.iter().any(|&d| d < -1) || unknown > 1 {
        return Err(format!("invalid target shape {:?}", shape));
    }
    if unknown == 1 {
        if known == 0 || total % known != 0 {
            return Err(format!("cannot reshape {:?} to {:?}", input, shape));
        }
        Ok(shape.iter().map(|&d| if d < 0 { (total / known) as usize } else { d as usize }).collect())
    } else if known == total {
        Ok(shape.iter().map(|&d| d as usize).collect())
    } else {
        Err(format!("cannot reshape {:?} ({} elements) to {:?}", input, total, shape))
    }
}

impl OpFamily for Layout {
    fn name(&self) -> &'static str {
        match self {
            Layout::Concat { .. } => "concat",
            Layout::Pad { .. } => "pad",
            Layout::Reshape { .. } => "reshape",
            Layout::Slice { .. } => "slice",
            Layout::Transpose { .. } => "transpose",
            Layout::DepthToSpace { .. } => "depth_to_space",
            Layout::SpaceToDepth { .. } => "space_to_depth",
            Layout::Gather { .. } => "gather",
            Layout::Split { .. } => "split",
            Layout::Tile { .. } => "tile",
        }
    }

    fn infer_shapes(&self, cx: &LayerCx) -> Result<Vec<Vec<usize>>, String> {
        let x = cx.x();
        let shape = match self {
            Layout::Concat { axis } => {
                let axis = *axis;
                let mut shape = x.shape.clone();
                if axis >= shape.len() {
                    return Err(format!("axis {} out of range for rank {}", axis, shape.len()));
                }
                for t in cx.data().skip(1) {
                    let same_rank = t.shape.len() == shape.len();
                    let same_other =
                        same_rank && t.shape.iter().zip(&x.shape).enumerate().all(|(d, (a, b))| d == axis || a == b);
                    if !same_other {
                        return Err(format!("concatenates {:?} with {:?} along axis {}", x.shape, t.shape, axis));
                    }
                    shape[axis] =
                        shape[axis].checked_add(t.shape[axis]).ok_or(format!("concatenated axis {axis} overflows"))?;
                }
                shape
            }
            Layout::Pad { pads } => {
                if pads.len() != x.shape.len() {
                    return Err(format!("{} pad pairs for a rank-{} input", pads.len(), x.shape.len()));
                }
                x.shape
                    .iter()
                    .zip(pads)
                    .map(|(&s, &(a, b))| s.checked_add(a)?.checked_add(b))
                    .collect::<Option<Vec<usize>>>()
                    .ok_or_else(|| format!("padding {:?} overflows shape {:?}", pads, x.shape))?
            }
            Layout::Reshape { shape } => reshape(&x.shape, x.elements(), shape)?,
            Layout::Slice { begin, size, stride, drop } => slice_shape(&x.shape, begin, size, stride, drop)?,
            Layout::Transpose { .. }
            | Layout::DepthToSpace { .. }
            | Layout::SpaceToDepth { .. }
            | Layout::Gather { .. }
            | Layout::Tile { .. }
            | Layout::Split { .. } => return move_shapes(self, &x.shape),
        };
        Ok(vec![shape])
    }

    fn macs(&self, _cx: &LayerCx) -> Macs {
        Macs::ZERO
    }

    /// Concat, pad, slice and the copies (TILE too: the bytes it writes) move one element
    /// per output element; a slice
    /// (and a gather) is costed as reading its whole input (the compulsory traffic every
    /// pass is held to: a strided window rarely lands on whole DRAM bursts); a split
    /// writes all its outputs; a reshape moves nothing.
    fn work(&self, cx: &LayerCx) -> Vec<Phase> {
        match self {
            Layout::Concat { .. }
            | Layout::Pad { .. }
            | Layout::Slice { .. }
            | Layout::Transpose { .. }
            | Layout::DepthToSpace { .. }
            | Layout::SpaceToDepth { .. }
            | Layout::Gather { .. }
            | Layout::Tile { .. } => vec![vector_phase(cx, false, |_, o| o)],
            Layout::Split { .. } => {
                let in_elements = cx.x().elements();
                let out_elements = cx.l.outputs.iter().map(|&t| cx.g.tensor(t).elements()).fold(0, u64::saturating_add);
                vec![Phase::Vector(VectorWork {
                    in_elements,
                    out_elements,
                    weights: 0,
                    ops: out_elements,
                    pooling: false,
                })]
            }
            Layout::Reshape { .. } => Vec::new(),
        }
    }

    fn quant_rule(&self, _input_bits: u8, _output_bits: u8) -> QuantRule {
        if requantizes(self) {
            QuantRule::SharedWithInputs
        } else {
            QuantRule::SameAsInput
        }
    }

    fn dequantizes(&self) -> bool {
        false
    }

    fn on_the_fly(&self, _cx: &LayerCx) -> OnTheFly {
        OnTheFly::No
    }

    /// A reshape moves no data (a view); the others have no row.
    fn workbook_row(&self, _cx: &LayerCx) -> WorkbookRow<'_> {
        match self {
            Layout::Reshape { .. } => WorkbookRow::View,
            Layout::Concat { .. }
            | Layout::Pad { .. }
            | Layout::Slice { .. }
            | Layout::Transpose { .. }
            | Layout::DepthToSpace { .. }
            | Layout::SpaceToDepth { .. }
            | Layout::Gather { .. }
            | Layout::Tile { .. }
            | Layout::Split { .. } => NO_WORKBOOK_ROW,
        }
    }

    /// A reshape to a leading 1 and a slice taking one item from the start of the batch
    /// axis (the single image; with a stride of a sequence's tokens, a token-major graph's
    /// first token, `Graph::sequence_rows`) name the batch: the slice then takes it from each
    /// of the `n`. The others follow their input's.
    fn set_batch(&mut self, n: usize) {
        match self {
            Layout::Reshape { shape } => {
                if shape.first() == Some(&1) {
                    shape[0] = n as i64;
                }
            }
            Layout::Slice { begin, size, stride, .. } => {
                if begin.first() == Some(&0) && size.first() == Some(&1) && stride.first().is_some_and(|&s| s >= 1) {
                    size[0] = n;
                }
            }
            Layout::Concat { .. }
            | Layout::Pad { .. }
            | Layout::Transpose { .. }
            | Layout::DepthToSpace { .. }
            | Layout::SpaceToDepth { .. }
            | Layout::Gather { .. }
            | Layout::Split { .. }
            | Layout::Tile { .. } => {}
        }
    }

    fn weight_layout(&self) -> WeightLayout<'_> {
        WeightLayout::None
    }

    fn fused_activation(&self) -> bool {
        requantizes(self)
    }

    fn eval_float(&self, cx: &LayerCx, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, String> {
        let shapes: Vec<Vec<usize>> = cx.data().map(|t| t.shape.clone()).collect();
        let refs: Vec<&[f32]> = inputs.iter().map(|p| p.as_slice()).collect();
        self.apply(&shapes, &refs, 0.0)
    }

    fn prepare_int(&self, cx: &LayerCx, _arith: &Arithmetic) -> Result<IntKernel, String> {
        let out = cx.out();
        let (so, zo) = scale_zp(out);
        Ok(IntKernel::Layout(match self {
            Layout::Concat { axis } => {
                let (qmin, qmax) = qrange(out.dtype);
                let act = elementwise::activation_range(cx.l.activation, so, zo, qmin, qmax);
                let inputs = cx
                    .data()
                    .map(|t| {
                        let q = scale_zp(t);
                        (t.shape.clone(), (q != (so, zo)).then_some(q))
                    })
                    .collect();
                IntLayout::Concat { axis: *axis, inputs, output: (so, zo, qmin, qmax), act }
            }
            Layout::Pad { pads } => IntLayout::Pad { shape: cx.x().shape.clone(), pads: pads.clone(), zero_point: zo },
            Layout::Reshape { .. } => IntLayout::Reshape,
            Layout::Slice { begin, size, stride, .. } => IntLayout::Slice {
                shape: cx.x().shape.clone(),
                begin: begin.clone(),
                size: size.clone(),
                stride: stride.clone(),
            },
            Layout::Transpose { .. }
            | Layout::DepthToSpace { .. }
            | Layout::SpaceToDepth { .. }
            | Layout::Gather { .. }
            | Layout::Tile { .. }
            | Layout::Split { .. } => IntLayout::Move(self.clone(), cx.x().shape.clone()),
        }))
    }

    /// Concat lays its inputs' channels side by side; pad and reshape keep the moments
    /// (collapsed when a reshape or slice changes the channel count).
    fn data_free(&self, cx: &LayerCx, inputs: &[Option<&Moments>]) -> Option<DataFree> {
        let x = inputs.first().copied().flatten()?;
        let cout = cx.out().shape.last().copied().unwrap_or(1);
        let moments = match self {
            Layout::Concat { .. } => {
                let mut mm = Moments { mean: Vec::new(), var: Vec::new() };
                for (t, y) in cx.l.inputs.iter().zip(inputs) {
                    let Some(y) = y else { continue };
                    let c = cx.g.tensor(*t).shape.last().copied().unwrap_or(1);
                    (0..c).for_each(|i| {
                        mm.mean.push(y.channel(i).0);
                        mm.var.push(y.channel(i).1);
                    });
                }
                mm
            }
            Layout::Pad { .. } => x.clone(),
            Layout::Reshape { .. } => x.clone().with_channels(cout),
            // The channels the window keeps, in its order (one when the last axis is dropped).
            Layout::Slice { begin, size, stride, .. } => match (begin.last(), size.last(), stride.last()) {
                (Some(&b), Some(&n), Some(&st)) => {
                    let picked: Vec<(f64, f64)> =
                        (0..n).map(|i| x.channel((b as i64 + i as i64 * st) as usize)).collect();
                    let mm = Moments {
                        mean: picked.iter().map(|p| p.0).collect(),
                        var: picked.iter().map(|p| p.1).collect(),
                    };
                    mm.with_channels(cout)
                }
                _ => x.clone(),
            },
            // The channels stay whole when the last axis does (collapsed otherwise); a split
            // along the channels gives every piece the collapsed moments.
            Layout::Transpose { perm } if perm.last() == Some(&(perm.len() - 1)) => x.clone(),
            Layout::Gather { axis, indices, .. } if *axis + 1 == cx.x().shape.len() => {
                let mm = Moments {
                    mean: indices.iter().map(|&i| x.channel(i).0).collect(),
                    var: indices.iter().map(|&i| x.channel(i).1).collect(),
                };
                mm.with_channels(cout)
            }
            // Each channel's moments, repeated as the channels are.
            Layout::Tile { .. } => {
                let c = cx.x().shape.last().copied().unwrap_or(1).max(1);
                let mm = Moments {
                    mean: (0..cout).map(|i| x.channel(i % c).0).collect(),
                    var: (0..cout).map(|i| x.channel(i % c).1).collect(),
                };
                mm.with_channels(cout)
            }
            Layout::Transpose { .. }
            | Layout::DepthToSpace { .. }
            | Layout::SpaceToDepth { .. }
            | Layout::Gather { .. }
            | Layout::Split { .. } => x.clone().with_channels(cout),
        };
        Some(DataFree { moments, within_input_range: false })
    }
}

/// Whether a layout op requantizes: CONCATENATION rescales each input into the output's
/// parameters and clamps by its fused activation; every other layout op passes its input's
/// integers (or the input's zero point, for PAD) and parameters through unchanged. The
/// quantization rule and the fused activation both follow from it.
fn requantizes(l: &Layout) -> bool {
    match l {
        Layout::Concat { .. } => true,
        Layout::Pad { .. }
        | Layout::Reshape { .. }
        | Layout::Slice { .. }
        | Layout::Transpose { .. }
        | Layout::DepthToSpace { .. }
        | Layout::SpaceToDepth { .. }
        | Layout::Gather { .. }
        | Layout::Tile { .. }
        | Layout::Split { .. } => false,
    }
}
