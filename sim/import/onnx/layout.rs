//! ONNX readers of the layout operators (data movement; their ONNX axes remapped once through
//! `Held::ir_axis`): `Concat`, `Transpose`, `Gather`, `Split`, `Tile`, `Resize`,
//! `DepthToSpace` / `SpaceToDepth`, `Reshape` / `Flatten` / `Squeeze` / `Unsqueeze`, `Pad` and
//! `Slice`.

use super::{
    attr, attr_f, attr_i, attr_ints, attr_s, fold, nchw_to_nhwc, pb, same_order, Const, Held, Importer, Node, Reader,
    Res, Value,
};
use crate::ir::{Layout as LayoutOp, Op, Resize, ResizeKind, TensorId};

/// The op types this module reads, with their readers.
pub(super) const READERS: &[(&str, Reader)] = &[
    ("Tile", tile),
    ("Concat", concat),
    ("Transpose", transpose),
    ("Gather", gather),
    ("Split", split),
    ("Resize", resize),
    ("DepthToSpace", depth_space),
    ("SpaceToDepth", depth_space),
    ("Reshape", reshape_node),
    ("Flatten", reshape_node),
    ("Squeeze", reshape_node),
    ("Unsqueeze", reshape_node),
    ("Pad", pad),
    ("Slice", slice),
];

/// `Tile`: repeats in the ONNX order, moved to the IR axes.
fn tile(im: &mut Importer<'_>, d: &Node<'_>) -> Res<()> {
    let &Node { index, n, name, out } = d;
    let (x, l) = im.act(n, index, 0)?;
    let rank = im.g.tensor(x).shape.len();
    let r = im.cst(n, index, 1)?.ok_or_else(|| im.unsupported(n, index, "no repeats"))?;
    if r.i.len() != rank || r.i.iter().any(|&v| v < 1) {
        return Err(im.unsupported(
            n,
            index,
            &format!("repeats {:?} (one value >= 1 per axis of a rank-{rank} input)", r.i),
        ));
    }
    // Repeats in the ONNX order, moved to the IR axes.
    let mut multiples = vec![1; rank];
    for (d, &v) in r.i.iter().enumerate() {
        let ir = l.ir_axis(d as i64, rank).map_err(|a| im.invalid(format!("axis {a}")))?;
        multiples[ir] = v as usize;
    }
    if multiples.iter().all(|&m| m == 1) {
        im.values.insert(out.into(), Value::Act(x, l));
        return Ok(());
    }
    im.add_layer(name, Op::Layout(LayoutOp::Tile { multiples }), vec![x], out, l)?;
    Ok(())
}

/// `Concat`.
fn concat(im: &mut Importer<'_>, d: &Node<'_>) -> Res<()> {
    let &Node { index, n, name, out } = d;
    let mut acts = Vec::new();
    for k in 0..n.input.len() {
        acts.push(im.act(n, index, k)?);
    }
    let &(_, first) = acts.first().ok_or_else(|| im.unsupported(n, index, "no inputs"))?;
    // Inputs held in different layouts (all rank 4, as NCHW is) are all held NHWC.
    let l = if acts.iter().all(|&(_, l)| l == first) { first } else { Held::Nchw };
    let ins = acts.into_iter().map(|(x, from)| im.to_layout(x, from, l)).collect::<Res<Vec<_>>>()?;
    let rank = im.g.tensor(ins[0]).shape.len();
    let axis = l
        .ir_axis(attr_i(n, "axis", 1), rank)
        .map_err(|a| im.unsupported(n, index, &format!("axis {a} for rank {rank}")))?;
    im.add_layer(name, Op::Layout(LayoutOp::Concat { axis }), ins, out, l)?;
    Ok(())
}

/// `Transpose`: a change of view when it composes to the identity, else an IR TRANSPOSE.
fn transpose(im: &mut Importer<'_>, d: &Node<'_>) -> Res<()> {
    let &Node { index, n, name, out } = d;
    let (x, l) = im.act(n, index, 0)?;
    let rank = im.g.tensor(x).shape.len();
    let perm = attr_ints(n, "perm").unwrap_or_else(|| (0..rank as i64).rev().collect());
    let mut seen = vec![false; rank];
    let valid = perm.len() == rank
        && perm.iter().all(|&p| {
            usize::try_from(p).ok().filter(|&p| p < rank).is_some_and(|p| !std::mem::replace(&mut seen[p], true))
        });
    if !valid {
        return Err(im.invalid(format!("node {index} (Transpose): perm {perm:?} is not a permutation of 0..{rank}")));
    }
    // The output's layout: the one that makes the IR permutation the identity
    // (a change of view only, such as NCHW <-> NHWC), else NCHW for rank 4 (what
    // Conv and pooling read) and the ONNX order otherwise.
    let ir_perm = |out: Held| -> Vec<usize> {
        (0..rank)
            .map(|d| {
                let onnx_out = match out {
                    Held::Same => d,
                    Held::Nchw => [0, 2, 3, 1][d],
                };
                l.ir_axis(perm[onnx_out], rank).unwrap_or(d)
            })
            .collect()
    };
    let identity = |p: &[usize]| p.iter().enumerate().all(|(i, &v)| v == i);
    let candidates: &[Held] = if rank == 4 { &[Held::Nchw, Held::Same] } else { &[Held::Same] };
    match candidates.iter().find(|&&c| identity(&ir_perm(c))) {
        Some(&c) => {
            im.values.insert(out.into(), Value::Act(x, c));
        }
        None => {
            let layout = candidates[0];
            let op = Op::Layout(LayoutOp::Transpose { perm: ir_perm(layout) });
            im.add_layer(name, op, vec![x], out, layout)?;
        }
    }
    Ok(())
}

/// `Gather` of constant indices.
fn gather(im: &mut Importer<'_>, d: &Node<'_>) -> Res<()> {
    let &Node { index, n, name, out } = d;
    let (x, l) = im.act(n, index, 0)?;
    let idx = im.cst(n, index, 1)?.ok_or_else(|| im.unsupported(n, index, "no indices"))?;
    let s = im.onnx_shape(x, l);
    let rank = s.len();
    let onnx_axis = Held::Same
        .ir_axis(attr_i(n, "axis", 0), rank)
        .map_err(|a| im.unsupported(n, index, &format!("axis {a} of rank {rank}")))?;
    let dim = s[onnx_axis] as i64;
    let indices = idx
        .i
        .iter()
        .map(|&v| if v < 0 { v + dim } else { v })
        .map(|v| usize::try_from(v).ok().filter(|&v| (v as i64) < dim))
        .collect::<Option<Vec<usize>>>()
        .ok_or_else(|| im.invalid(format!("node {index} (Gather): indices {:?} outside 0..{dim}", idx.i)))?;
    // An NCHW tensor keeps its layout when the gathered axis stays (one axis of
    // indices); a scalar index of the channel axis leaves [N, H, W] in both orders.
    // Otherwise the tensor is gathered in the ONNX order.
    let kept = match (l, idx.dims.len()) {
        (Held::Same, _) => Some(Held::Same),
        (Held::Nchw, 1) => Some(Held::Nchw),
        (Held::Nchw, 0) if onnx_axis == 1 || s[1] == 1 => Some(Held::Same),
        (Held::Nchw, _) => None,
    };
    let (x, l, layout) = match kept {
        Some(layout) => (x, l, layout),
        None => (im.to_layout(x, l, Held::Same)?, Held::Same, Held::Same),
    };
    let axis = l.ir_axis(onnx_axis as i64, rank).map_err(|a| im.invalid(format!("axis {a}")))?;
    let op = Op::Layout(LayoutOp::Gather { axis, indices, indices_shape: idx.dims.clone() });
    im.add_layer(name, op, vec![x], out, layout)?;
    Ok(())
}

/// `Split` (sizes from the input, the attribute or `num_outputs`).
fn split(im: &mut Importer<'_>, d: &Node<'_>) -> Res<()> {
    let &Node { index, n, name, .. } = d;
    let (x, l) = im.act(n, index, 0)?;
    let s = im.onnx_shape(x, l);
    let rank = s.len();
    let a = attr_i(n, "axis", 0);
    let axis = l.ir_axis(a, rank).map_err(|a| im.unsupported(n, index, &format!("axis {a} of rank {rank}")))?;
    let dim = im.g.tensor(x).shape[axis];
    let outs: Vec<String> = n.output.clone();
    let k = outs.len();
    // Sizes: the `split` input (opset 13+) or attribute (before), else equal
    // pieces; opset 18's `num_outputs` makes the last piece the smaller one.
    let given = im.cst(n, index, 1)?.map(|c| c.i).or_else(|| attr_ints(n, "split"));
    let sizes: Vec<usize> = match given {
        Some(v) => {
            if v.len() != k || v.iter().any(|&p| p < 0) || v.iter().sum::<i64>() != dim as i64 {
                return Err(im.invalid(format!(
                    "node {index} (Split): split {v:?} does not cut an axis of size {dim} into {k} outputs"
                )));
            }
            v.iter().map(|&p| p as usize).collect()
        }
        None if k == 0 => return Err(im.invalid(format!("node {index} (Split): no outputs"))),
        None => {
            let piece = if attr(n, "num_outputs").is_some() { dim.div_ceil(k) } else { dim / k };
            let last = dim.checked_sub(piece * (k - 1)).filter(|&r| r > 0 && r <= piece);
            let last = last.filter(|&r| r == piece || attr(n, "num_outputs").is_some());
            let last = last.ok_or_else(|| {
                im.invalid(format!("node {index} (Split): an axis of size {dim} does not split into {k} pieces"))
            })?;
            (0..k).map(|i| if i + 1 < k { piece } else { last }).collect()
        }
    };
    if outs.iter().any(String::is_empty) {
        return Err(im.unsupported(n, index, "an unused (empty) output"));
    }
    let op = Op::Layout(LayoutOp::Split { axis, sizes });
    im.add_layer_outputs(name, op, vec![x], &outs, l)?;
    Ok(())
}

/// `Resize` (the modes `Importer::resize` reads).
fn resize(im: &mut Importer<'_>, d: &Node<'_>) -> Res<()> {
    let &Node { index, n, name, out } = d;
    let (x, l) = im.act(n, index, 0)?;
    let op = im.resize(n, index, x, l)?;
    im.add_layer(name, Op::Resize(op), vec![x], out, l)?;
    Ok(())
}

/// `DepthToSpace` (DCR, or CRD through a channel gather) and `SpaceToDepth`.
fn depth_space(im: &mut Importer<'_>, d: &Node<'_>) -> Res<()> {
    let &Node { index, n, name, out } = d;
    let x = im.act_nchw(n, index, 0)?;
    let block = attr_i(n, "blocksize", 0);
    let block = usize::try_from(block)
        .ok()
        .filter(|&b| b >= 1)
        .ok_or_else(|| im.invalid(format!("node {index} ({}): blocksize {block}", n.op_type)))?;
    if n.op_type == "SpaceToDepth" {
        // ONNX's output channel (i*b + j)*C + c is TensorFlow's order.
        let op = Op::Layout(LayoutOp::SpaceToDepth { block });
        im.add_layer(name, op, vec![x], out, Held::Nchw)?;
        return Ok(());
    }
    let mut x = x;
    match attr_s(n, "mode").as_str() {
        // DCR reads input channel (i*b + j)*C' + c: TensorFlow's order.
        "" | "DCR" => {}
        // CRD reads channel c*b*b + i*b + j: the channels are gathered into DCR
        // order first (a copy), then rearranged as DCR.
        "CRD" => {
            let c = im.g.tensor(x).shape[3];
            let bb = block * block;
            if c % bb != 0 {
                return Err(im.invalid(format!("node {index} (DepthToSpace): {c} channels for blocksize {block}")));
            }
            let cp = c / bb;
            let mut indices = vec![0usize; c];
            for ij in 0..bb {
                for ch in 0..cp {
                    indices[ij * cp + ch] = ch * bb + ij;
                }
            }
            let op = Op::Layout(LayoutOp::Gather { axis: 3, indices, indices_shape: vec![c] });
            let g = im.add_layer(&format!("{name}/crd_to_dcr"), op, vec![x], &format!("{out}/dcr"), Held::Nchw)?;
            // In a QDQ model the copy keeps its input's integers and parameters.
            let (dtype, quant) = (im.g.tensor(x).dtype, im.g.tensor(x).quant.clone());
            let t = im.g.tensor_mut(g);
            (t.dtype, t.quant) = (dtype, quant);
            x = g;
        }
        other => return Err(im.unsupported(n, index, &format!("mode '{other}'"))),
    }
    im.add_layer(name, Op::Layout(LayoutOp::DepthToSpace { block }), vec![x], out, Held::Nchw)?;
    Ok(())
}

/// `Reshape`, `Flatten`, `Squeeze`, `Unsqueeze`: a reshape to the target shape.
fn reshape_node(im: &mut Importer<'_>, d: &Node<'_>) -> Res<()> {
    let &Node { index, n, name, out } = d;
    let (x, l) = im.act(n, index, 0)?;
    let s = im.onnx_shape(x, l);
    let target = match n.op_type.as_str() {
        "Flatten" => {
            let a = attr_i(n, "axis", 1);
            let a = if a < 0 { a + s.len() as i64 } else { a }.clamp(0, s.len() as i64) as usize;
            Ok(vec![s[..a].iter().product(), s[a..].iter().product()])
        }
        "Reshape" => {
            let c = im.cst(n, index, 1)?.ok_or_else(|| im.unsupported(n, index, "no shape input"))?;
            fold::reshape_dims(&s, &c.i, attr_i(n, "allowzero", 0) != 0)
        }
        "Squeeze" => {
            let axes = im.cst(n, index, 1)?.map(|c| c.i).or_else(|| attr_ints(n, "axes"));
            fold::squeeze_dims(&s, axes.as_deref())
        }
        _ => {
            let axes = im.cst(n, index, 1)?.map(|c| c.i).or_else(|| attr_ints(n, "axes"));
            let axes = axes.ok_or_else(|| im.unsupported(n, index, "no axes"))?;
            fold::unsqueeze_dims(&s, &axes)
        }
    };
    let target = target.map_err(|m| im.unsupported(n, index, &m))?;
    im.reshape(name, x, l, target, out)?;
    Ok(())
}

/// ONNX `Slice` of an activation (a constant Slice is folded): constant starts, ends,
/// axes and steps (inputs from opset 10, attributes before), resolved as ONNX does
/// (negative indices from the end, clamped per direction) into the IR's strided window,
/// each ONNX axis mapped by the tensor's layout (a slice keeps the rank, so the layout).
fn slice(im: &mut Importer<'_>, d: &Node<'_>) -> Res<()> {
    let &Node { index, n, name, out } = d;
    let (x, l) = im.act(n, index, 0)?;
    let s = im.onnx_shape(x, l);
    let mut params = vec![None];
    for k in 1..n.input.len() {
        params.push(im.cst(n, index, k)?);
    }
    let refs: Vec<Option<&Const>> = params.iter().map(Option::as_ref).collect();
    let sel = fold::slice_indices(n, &refs, &s).map_err(|m| im.unsupported(n, index, &m))?;
    if let Some(a) = sel.iter().position(Vec::is_empty) {
        return Err(im.unsupported(n, index, &format!("a slice that selects nothing of axis {a} of {s:?}")));
    }
    let rank = s.len();
    let (mut begin, mut size, mut stride) = (vec![0; rank], vec![0; rank], vec![1i64; rank]);
    for (d, picked) in sel.iter().enumerate() {
        let ir = l.ir_axis(d as i64, rank).map_err(|a| im.invalid(format!("axis {a}")))?;
        begin[ir] = picked[0];
        size[ir] = picked.len();
        if let [a, b, ..] = picked[..] {
            stride[ir] = b as i64 - a as i64;
        }
    }
    if size == im.g.tensor(x).shape && stride.iter().all(|&v| v == 1) {
        im.values.insert(out.to_string(), Value::Act(x, l));
        return Ok(());
    }
    let op = Op::Layout(LayoutOp::Slice { begin, size, stride, drop: Vec::new() });
    im.add_layer(name, op, vec![x], out, l)?;
    Ok(())
}

/// ONNX `Pad` (constant zero padding; pads from the input since opset 11, the attribute
/// before; `axes` from opset 18).
fn pad(im: &mut Importer<'_>, d: &Node<'_>) -> Res<()> {
    let &Node { index, n, name, out } = d;
    let (x, l) = im.act(n, index, 0)?;
    let mode = attr_s(n, "mode");
    if !(mode.is_empty() || mode == "constant") {
        return Err(im.unsupported(n, index, &format!("mode '{mode}' (only constant padding)")));
    }
    let value = match im.cst(n, index, 2)? {
        Some(c) => c.f.first().copied().or_else(|| c.i.first().map(|&v| v as f32)).unwrap_or(0.0),
        None => attr_f(n, "value", 0.0),
    };
    if value != 0.0 {
        return Err(im.unsupported(n, index, &format!("padding with {value} (only with zeros)")));
    }
    let pads = match im.cst(n, index, 1)? {
        Some(c) => c.i,
        None => attr_ints(n, "pads").ok_or_else(|| im.unsupported(n, index, "no pads"))?,
    };
    let shape = im.onnx_shape(x, l);
    let rank = shape.len();
    let axes: Vec<i64> = match im.cst(n, index, 3)? {
        Some(c) => c.i,
        None => (0..rank as i64).collect(),
    };
    if pads.len() != 2 * axes.len() || pads.iter().any(|&p| p < 0) {
        return Err(im.unsupported(
            n,
            index,
            &format!("pads {pads:?} for axes {axes:?} (two non-negative pads per axis)"),
        ));
    }
    let mut ir_pads = vec![(0usize, 0usize); rank];
    for (k, &a) in axes.iter().enumerate() {
        let ir = l.ir_axis(a, rank).map_err(|a| im.unsupported(n, index, &format!("axis {a} of rank {rank}")))?;
        ir_pads[ir] = (pads[k] as usize, pads[k + axes.len()] as usize);
    }
    if ir_pads.iter().all(|&p| p == (0, 0)) {
        im.values.insert(out.to_string(), Value::Act(x, l));
        return Ok(());
    }
    im.add_layer(name, Op::Layout(LayoutOp::Pad { pads: ir_pads }), vec![x], out, l)?;
    Ok(())
}

impl Importer<'_> {
    /// A Resize of the rank-4 activation `x` (NCHW, or NHWC as tf2onnx leaves it) over H and
    /// W only, with constant `scales` or `sizes`, as the IR's resize (TensorFlow's
    /// conventions): linear with `half_pixel` (PyTorch's `pytorch_half_pixel` too, the same
    /// for outputs longer than 1), `align_corners` or `asymmetric`; nearest with
    /// `asymmetric` + `floor` (PyTorch's), `half_pixel` or `align_corners` +
    /// `round_prefer_ceil` (TensorFlow's rounding). Other modes are named as unsupported.
    fn resize(&self, n: &pb::NodeProto, index: usize, x: TensorId, l: Held) -> Res<Resize> {
        let s = self.onnx_shape(x, l);
        let [_, _, _, _] = s[..] else {
            return Err(self.unsupported(n, index, &format!("a rank-{} input (rank 4 only)", s.len())));
        };
        // Opset 10: (X, scales); 11 and later: (X, roi, scales, sizes).
        let (scales, sizes) = if n.input.len() == 2 {
            (self.cst(n, index, 1)?, None)
        } else {
            (self.cst(n, index, 2)?, self.cst(n, index, 3)?)
        };
        let out: Vec<usize> = match (sizes.filter(|c| !c.i.is_empty()), scales.filter(|c| !c.f.is_empty())) {
            (Some(c), _) if c.i.len() == 4 && c.i.iter().all(|&d| d > 0) => c.i.iter().map(|&d| d as usize).collect(),
            (None, Some(c)) if c.f.len() == 4 && c.f.iter().all(|&f| f > 0.0 && f.is_finite()) => {
                s.iter().zip(&c.f).map(|(&d, &f)| (d as f64 * f as f64).floor() as usize).collect()
            }
            _ => return Err(self.unsupported(n, index, "scales or sizes that are not 4 positive constants")),
        };
        // The spatial axes in the ONNX order: H, W of NCHW, or of an NHWC tensor.
        let (h, w, kept) = if l == Held::Nchw { (2, 3, [0, 1]) } else { (1, 2, [0, 3]) };
        if kept.iter().any(|&a| out[a] != s[a]) || out[h] == 0 || out[w] == 0 {
            return Err(self.unsupported(n, index, &format!("a resize of {s:?} to {out:?} (H and W only)")));
        }
        let mode = attr_s(n, "mode");
        let ctm = attr_s(n, "coordinate_transformation_mode");
        let ctm = if ctm.is_empty() { "half_pixel".to_string() } else { ctm };
        let nearest = attr_s(n, "nearest_mode");
        let nearest = if nearest.is_empty() { "round_prefer_floor".to_string() } else { nearest };
        let longer = out[h] > 1 && out[w] > 1;
        let (kind, align_corners, half_pixel_centers) = match (mode.as_str(), ctm.as_str(), nearest.as_str()) {
            ("linear", "half_pixel", _) => (ResizeKind::Bilinear, false, true),
            ("linear", "pytorch_half_pixel", _) if longer => (ResizeKind::Bilinear, false, true),
            ("linear", "align_corners", _) => (ResizeKind::Bilinear, true, false),
            ("linear", "asymmetric", _) => (ResizeKind::Bilinear, false, false),
            ("" | "nearest", "asymmetric", "floor") => (ResizeKind::Nearest, false, false),
            ("" | "nearest", "half_pixel", "round_prefer_ceil") => (ResizeKind::Nearest, false, true),
            ("" | "nearest", "align_corners", "round_prefer_ceil") => (ResizeKind::Nearest, true, false),
            (m, c, r) => {
                return Err(self.unsupported(
                    n,
                    index,
                    &format!("mode '{m}' with coordinate_transformation_mode '{c}' and nearest_mode '{r}'"),
                ))
            }
        };
        Ok(Resize { kind, size: [out[h], out[w]], align_corners, half_pixel_centers })
    }

    /// Binds `out` to `x` (ONNX shape `onnx_shape(x, l)`) reshaped to the ONNX shape
    /// `target`: the same tensor when nothing changes, else a Reshape layer of `x` in the
    /// ONNX element order (an NCHW tensor whose NHWC storage orders it differently is
    /// transposed back first, [`Importer::onnx_ordered`]). A rank-4 result is held NHWC (an
    /// NCHW tensor, as Conv and pooling read it) when that is the same order (C = 1 or
    /// H*W = 1), else in the ONNX order, converted when a reader needs NHWC.
    fn reshape(&mut self, name: &str, x: TensorId, l: Held, target: Vec<usize>, out: &str) -> Res<()> {
        if target == self.onnx_shape(x, l) {
            // A no-op Reshape (exporters emit them around dynamic batch dimensions).
            self.values.insert(out.to_string(), Value::Act(x, l));
            return Ok(());
        }
        let x = self.onnx_ordered(x, l)?;
        let (shape, layout) = if target.len() == 4 && same_order(&target, &[0, 2, 3, 1]) {
            (nchw_to_nhwc(&target), Held::Nchw)
        } else {
            (target, Held::Same)
        };
        let shape = shape.iter().map(|&d| d as i64).collect();
        self.add_layer(name, Op::Layout(LayoutOp::Reshape { shape }), vec![x], out, layout)?;
        Ok(())
    }
}
