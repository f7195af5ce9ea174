//! The element-wise ONNX operators, one row per kind, read by the importer (op type ->
//! kind) and the exporter (kind -> op type), so a kind's ONNX spelling is written once.
//!
//! A new element-wise kind with an ONNX operator is a row here; the importer dispatches on
//! these tables and the exporter writes the binary rows' op types (its unary writer stays a
//! match over every [`UnaryKind`], since several kinds export as compositions).

use super::{attr_f, fold, pb, Const, Held, Importer, Node, Reader, Res, Value};
use crate::ir::{Activation, BinaryKind, Op, TensorId, TensorKind, UnaryKind};
use crate::ops::OpFamily;

/// One element-wise binary kind and its ONNX operator.
pub(crate) struct OnnxBinary {
    /// The IR kind.
    pub kind: BinaryKind,
    /// ONNX's op type.
    pub op_type: &'static str,
}

/// Every element-wise binary kind (all of them have an ONNX operator).
pub(crate) const BINARY: &[OnnxBinary] = &[
    OnnxBinary { kind: BinaryKind::Add, op_type: "Add" },
    OnnxBinary { kind: BinaryKind::Sub, op_type: "Sub" },
    OnnxBinary { kind: BinaryKind::Mul, op_type: "Mul" },
    OnnxBinary { kind: BinaryKind::Div, op_type: "Div" },
    OnnxBinary { kind: BinaryKind::Maximum, op_type: "Max" },
    OnnxBinary { kind: BinaryKind::Minimum, op_type: "Min" },
    // The slope broadcast against X (ONNX's unidirectional broadcasting).
    OnnxBinary { kind: BinaryKind::Prelu, op_type: "PRelu" },
    // On import a constant exponent is first tried as a cheaper kind (`Importer::pow`).
    OnnxBinary { kind: BinaryKind::Pow, op_type: "Pow" },
];

/// The binary kind of an ONNX op type.
pub(crate) fn binary_kind(op_type: &str) -> Option<BinaryKind> {
    BINARY.iter().find(|r| r.op_type == op_type).map(|r| r.kind)
}

/// The ONNX op type of a binary kind; `None` for the one ONNX has no operator for
/// (SQUARED_DIFFERENCE, which the exporter writes as Sub then Mul).
pub(crate) fn binary_op_type(kind: BinaryKind) -> Option<&'static str> {
    BINARY.iter().find(|r| r.kind == kind).map(|r| r.op_type)
}

/// One ONNX operator read as an element-wise unary kind.
pub(crate) struct OnnxUnary {
    /// ONNX's op type.
    pub op_type: &'static str,
    /// The kind, with its parameters from the node's attributes (ONNX's defaults when
    /// absent).
    pub kind: fn(&pb::NodeProto) -> UnaryKind,
}

/// The ONNX operators imported as one unary layer. (Relu and Clip become a fused
/// activation when they can, `Pow` / `Reciprocal` by their exponent: their own arms.)
pub(crate) const UNARY: &[OnnxUnary] = &[
    OnnxUnary { op_type: "Sigmoid", kind: |_| UnaryKind::Logistic },
    OnnxUnary { op_type: "Tanh", kind: |_| UnaryKind::Tanh },
    OnnxUnary { op_type: "HardSwish", kind: |_| UnaryKind::HardSwish },
    OnnxUnary {
        op_type: "HardSigmoid",
        kind: |n| UnaryKind::HardSigmoid { alpha: attr_f(n, "alpha", 0.2), beta: attr_f(n, "beta", 0.5) },
    },
    OnnxUnary { op_type: "LeakyRelu", kind: |n| UnaryKind::LeakyRelu { alpha: attr_f(n, "alpha", 0.01) } },
    OnnxUnary { op_type: "Sqrt", kind: |_| UnaryKind::Sqrt },
    OnnxUnary { op_type: "Neg", kind: |_| UnaryKind::Neg },
    OnnxUnary { op_type: "Log", kind: |_| UnaryKind::Log },
];

/// The unary row of an ONNX op type.
pub(crate) fn unary(op_type: &str) -> Option<&'static OnnxUnary> {
    UNARY.iter().find(|r| r.op_type == op_type)
}

/// The op types read by their own readers rather than a table row: `Relu` and `Clip` (a fused
/// activation when they can be), `Pow` (by its exponent first; ahead of its `BINARY` row) and
/// `Reciprocal`.
pub(super) const READERS: &[(&str, Reader)] =
    &[("Relu", relu_clip), ("Clip", relu_clip), ("Pow", pow), ("Reciprocal", pow)];

/// The reader of an op type with a row in [`BINARY`] or [`UNARY`].
pub(super) fn table_reader(op_type: &str) -> Option<Reader> {
    if binary_kind(op_type).is_some() {
        Some(binary)
    } else if unary(op_type).is_some() {
        Some(unary_layer)
    } else {
        None
    }
}

/// A [`UNARY`] row's op type: one unary layer.
fn unary_layer(im: &mut Importer<'_>, d: &Node<'_>) -> Res<()> {
    let &Node { index, n, name, out } = d;
    let row = unary(&n.op_type).ok_or_else(|| im.unsupported(n, index, ""))?;
    let (x, l) = im.act(n, index, 0)?;
    im.add_layer(name, Op::Unary((row.kind)(n)), vec![x], out, l)?;
    Ok(())
}

/// `Relu` / `Clip`: the producing layer's fused activation when it takes one, else a
/// unary layer.
fn relu_clip(im: &mut Importer<'_>, d: &Node<'_>) -> Res<()> {
    let &Node { index, n, name, out } = d;
    let (x, l) = im.act(n, index, 0)?;
    let act = if n.op_type == "Relu" {
        Activation::Relu
    } else {
        let lo = im.cst(n, index, 1)?.and_then(|c| c.f.first().copied()).unwrap_or(attr_f(n, "min", f32::NEG_INFINITY));
        let hi = im.cst(n, index, 2)?.and_then(|c| c.f.first().copied()).unwrap_or(attr_f(n, "max", f32::INFINITY));
        match (lo, hi) {
            (a, b) if a == 0.0 && b == 6.0 => Activation::Relu6,
            (a, b) if a == 0.0 && b == f32::INFINITY => Activation::Relu,
            (a, b) if a == -1.0 && b == 1.0 => Activation::ReluN1To1,
            _ => return Err(im.unsupported(n, index, &format!("Clip({lo}, {hi}): only (0,6), (0,inf), (-1,1)"))),
        }
    };
    let fused = im.fusable_producer(n, x).filter(|&li| {
        let ly = &im.g.layers[li];
        ly.activation == Activation::None && ly.op.fused_activation()
    });
    match fused {
        Some(li) => {
            im.g.layers[li].activation = act;
            im.values.insert(out.into(), Value::Act(x, l));
        }
        // No single-use producer that takes a fused activation: a layer of its own.
        None => {
            let kind = match act {
                Activation::Relu => UnaryKind::Relu,
                Activation::Relu6 => UnaryKind::Relu6,
                Activation::ReluN1To1 => UnaryKind::ReluN1To1,
                other => return Err(im.unsupported(n, index, &format!("activation {other:?}"))),
            };
            im.add_layer(name, Op::Unary(kind), vec![x], out, l)?;
        }
    }
    Ok(())
}

/// Add, Sub, Mul, Div, Max and Min (two operands, NumPy broadcasting): an activation and
/// a float constant that varies along the channels only is a per-channel scale and shift
/// (folded into the producing Conv / Gemm) for Add / Sub / Mul / Div; anything else is a
/// binary layer, its constant operand (if any) a constant tensor in the IR's layout.
fn binary(im: &mut Importer<'_>, d: &Node<'_>) -> Res<()> {
    let &Node { index, n, name, out } = d;
    let Some(kind) = binary_kind(&n.op_type) else {
        return Err(im.unsupported(n, index, &format!("{} is not an element-wise binary op", n.op_type)));
    };
    if n.input.len() != 2 {
        return Err(im.unsupported(n, index, &format!("{} inputs (two only)", n.input.len())));
    }
    if let Some((k, c)) = im.const_operand(n) {
        let (x, l) = im.act(n, index, 1 - k)?;
        let s = im.onnx_shape(x, l);
        let affine = match im.per_channel(&c, &s, l) {
            Some(per) => {
                let ch = per.len();
                match (kind, k) {
                    (BinaryKind::Add, _) => Some((vec![1.0; ch], per)),
                    (BinaryKind::Sub, 1) => Some((vec![1.0; ch], per.iter().map(|v| -v).collect())),
                    (BinaryKind::Sub, _) => Some((vec![-1.0; ch], per)),
                    (BinaryKind::Mul, _) => Some((per, vec![0.0; ch])),
                    (BinaryKind::Div, 1) => Some((per.iter().map(|v| 1.0 / v).collect(), vec![0.0; ch])),
                    _ => None,
                }
            }
            None => None,
        };
        // Nothing (an identity), folded into the producer's weights, else a depthwise 1x1
        // convolution (rank 4); at other ranks a binary layer with the constant.
        let rank4 = im.g.tensor(x).shape.len() == 4;
        let foldable = |(scale, shift): &(Vec<f32>, Vec<f32>)| {
            rank4
                || (scale.iter().all(|&v| v == 1.0) && shift.iter().all(|&v| v == 0.0))
                || im.fold_target(n, 1 - k, x, scale.len()).is_some()
        };
        if let Some((scale, shift)) = affine.filter(foldable) {
            return im.affine(n, index, name, 1 - k, x, l, scale, shift, out);
        }
        // The integer kernels need the constant's integers and parameters: an integer
        // constant behind a DequantizeLinear, per tensor (onnxruntime's quantized `* 2`,
        // grids and anchors). A float constant beside a quantized activation is an op the
        // quantizer left in float (a PRelu's slope): it runs in float on the dequantized
        // activation, and the QuantizeLinear after it quantizes its output (a float island,
        // as onnxruntime runs it). A per-channel quantized constant is refused.
        let (x, quantized) = match (im.g.tensor(x).dtype.is_int(), &c.quant) {
            (true, None) => (im.float_input(name, x, "X")?, false),
            (quantized, _) => (x, quantized),
        };
        let per_tensor = c.quant.as_ref().filter(|q| q.scales.len() == 1);
        if quantized && per_tensor.is_none() {
            return Err(im.unsupported(
                n,
                index,
                &format!("a per-channel quantized constant operand of shape {:?} beside a quantized activation (an integer constant behind a DequantizeLinear, per tensor, expected)", c.dims),
            ));
        }
        // A constant of a higher rank than an NCHW tensor broadcasts against its ONNX order.
        let (x, l, s) = if l == Held::Nchw && c.f.len() > 1 && c.dims.len() > 4 {
            (im.to_layout(x, l, Held::Same)?, Held::Same, s)
        } else {
            (x, l, s)
        };
        let cid = im.binary_const(n, index, name, &c, &s, l, quantized)?;
        let ins = if k == 0 { vec![cid, x] } else { vec![x, cid] };
        im.add_layer(name, Op::Binary(kind), ins, out, l)?;
        return Ok(());
    }
    let (a, la) = im.act(n, index, 0)?;
    let (b, lb) = im.act(n, index, 1)?;
    let (ra, rb) = (im.g.tensor(a).shape.len(), im.g.tensor(b).shape.len());
    // The IR broadcasts its own shapes (aligned at the last axis); ONNX's broadcasting is
    // the same when both operands are held alike at the same rank, or both in the ONNX
    // order. Operands held differently are held NHWC when both are rank 4, else both in
    // the ONNX order.
    let l = match (la, lb) {
        (Held::Same, Held::Same) => Held::Same,
        (Held::Nchw, Held::Nchw) if ra == rb => Held::Nchw,
        _ if ra == 4 && rb == 4 => Held::Nchw,
        _ => Held::Same,
    };
    let a = im.to_layout(a, la, l)?;
    let b = im.to_layout(b, lb, l)?;
    im.add_layer(name, Op::Binary(kind), vec![a, b], out, l)?;
    Ok(())
}

/// Pow with a constant exponent, and Reciprocal (an exponent of -1): exponent 1 is the
/// input itself, 2 a Mul of the input by itself (which has an integer kernel), 0.5 and
/// -0.5 SQRT and RSQRT (float only), -1 a Div of 1 by the input and any other exponent
/// (one value, or a tensor broadcast against the input) a POW layer with a constant
/// operand (both float only: beside a quantized activation they run in float on its
/// dequantized values, as binary ops with a float constant do).
fn pow(im: &mut Importer<'_>, d: &Node<'_>) -> Res<()> {
    let &Node { index, n, name, out } = d;
    let (x, l) = im.act(n, index, 0)?;
    let s = im.onnx_shape(x, l);
    let e = if n.op_type == "Reciprocal" {
        Const { dims: Vec::new(), f: vec![-1.0], i: Vec::new(), dt: 1, quant: None }
    } else {
        match n.input.get(1).and_then(|i| im.values.get(i)) {
            Some(Value::Const(c)) if c.f.is_empty() => {
                // An integer exponent (ONNX allows int32 / int64 ones).
                Const { f: c.i.iter().map(|&v| v as f32).collect(), dt: 1, quant: None, ..c.clone() }
            }
            Some(Value::Const(c)) => c.clone(),
            _ => return Err(im.unsupported(n, index, "an exponent computed by the network (constants only)")),
        }
    };
    if e.dims.len() > s.len() {
        return Err(im.unsupported(
            n,
            index,
            &format!("an exponent of shape {:?} of higher rank than the input {s:?}", e.dims),
        ));
    }
    let single = match e.f.as_slice() {
        [v] => Some(*v),
        _ => None,
    };
    match single {
        Some(v) if v == 1.0 => {
            im.values.insert(out.to_string(), Value::Act(x, l));
            return Ok(());
        }
        Some(v) if v == 2.0 => {
            im.add_layer(name, Op::Binary(BinaryKind::Mul), vec![x, x], out, l)?;
            return Ok(());
        }
        Some(v) if v == 0.5 || v == -0.5 => {
            let kind = if v > 0.0 { UnaryKind::Sqrt } else { UnaryKind::Rsqrt };
            im.add_layer(name, Op::Unary(kind), vec![x], out, l)?;
            return Ok(());
        }
        _ => {}
    }
    // No integer kernel: beside a quantized activation, a float island between its QDQ (the
    // activation dequantized; the QuantizeLinear after it quantizes the result), as onnxruntime
    // runs it.
    let x = im.float_input(name, x, "X")?;
    if single == Some(-1.0) {
        let one = Const { f: vec![1.0], ..e };
        let cid = im.binary_const(n, index, name, &one, &s, l, false)?;
        im.add_layer(name, Op::Binary(BinaryKind::Div), vec![cid, x], out, l)?;
    } else {
        let cid = im.binary_const(n, index, name, &e, &s, l, false)?;
        im.add_layer(name, Op::Binary(BinaryKind::Pow), vec![x, cid], out, l)?;
    }
    Ok(())
}

impl Importer<'_> {
    /// Constant `c`, the operand of binary node `n` beside an activation of ONNX shape `s`
    /// in layout `l`, as an IR constant tensor: one value as a `[1]` tensor, else in the
    /// activation's layout (reordered NHWC beside an NCHW activation, a lower rank padded
    /// with leading axes of size 1). `quantized`: its integers and per-tensor parameters (a
    /// DequantizeLinear's), else its float values.
    #[allow(clippy::too_many_arguments)]
    fn binary_const(
        &mut self,
        n: &pb::NodeProto,
        index: usize,
        name: &str,
        c: &Const,
        s: &[usize],
        l: Held,
        quantized: bool,
    ) -> Res<TensorId> {
        let count = c.f.len().max(c.i.len()).max(c.quant.as_ref().map_or(0, |q| q.values.len()));
        let all: Vec<usize> = (0..count).collect();
        // The IR shape and, per IR element, the index of the ONNX element it holds.
        let (shape, src) = if count == 1 {
            (vec![1], vec![0])
        } else {
            match l {
                Held::Same => (c.dims.clone(), all),
                // Broadcasting aligns the last axes: a constant of a lower rank is the same
                // constant with leading axes of size 1 (PRelu's [C, 1, 1] slope).
                Held::Nchw if c.dims.len() <= 4 => {
                    let d = [vec![1; 4 - c.dims.len()], c.dims.clone()].concat();
                    let [b, ch, h, w] = [d[0], d[1], d[2], d[3]];
                    let mut v = Vec::with_capacity(count);
                    for bb in 0..b {
                        for y in 0..h {
                            for x in 0..w {
                                v.extend((0..ch).map(|k| ((bb * ch + k) * h + y) * w + x));
                            }
                        }
                    }
                    (vec![b, h, w, ch], v)
                }
                Held::Nchw => {
                    return Err(self.unsupported(
                        n,
                        index,
                        &format!("a constant of shape {:?} broadcast against an NCHW activation {s:?}", c.dims),
                    ))
                }
            }
        };
        let cname = format!("{name}/operand");
        match c.quant.as_ref().filter(|_| quantized) {
            Some(q) => {
                let values = src.iter().map(|&k| q.values[k] as i32).collect();
                let params = crate::ir::QuantParams::per_tensor(q.scales[0], q.zero_points[0]);
                Ok(self.add_quant_const(&cname, TensorKind::Constant, shape, values, q.dtype, params))
            }
            None => {
                let data = src.iter().map(|&k| c.f[k]).collect();
                Ok(self.add_const(&cname, TensorKind::Constant, shape, data))
            }
        }
    }

    /// The constant operand of a binary node with one activation and one float constant
    /// operand: its position and value.
    fn const_operand(&self, n: &pb::NodeProto) -> Option<(usize, Const)> {
        let is_act = |k: usize| matches!(n.input.get(k).and_then(|i| self.values.get(i)), Some(Value::Act(..)));
        (0..2).find_map(|k| match n.input.get(k).and_then(|i| self.values.get(i)) {
            Some(Value::Const(c)) if is_act(1 - k) && c.dt == 1 => Some((k, c.clone())),
            _ => None,
        })
    }

    /// The per-channel values of a constant `c` broadcast against an activation of ONNX
    /// shape `s` in layout `l`, when it varies along the channel axis only (the IR's last
    /// axis: ONNX axis 1 of NCHW, the last axis otherwise).
    fn per_channel(&self, c: &Const, s: &[usize], l: Held) -> Option<Vec<f32>> {
        let rank = s.len();
        let ch = match l {
            Held::Nchw => 1,
            Held::Same => rank.checked_sub(1)?,
        };
        if c.dims.len() > rank || c.f.is_empty() {
            return None;
        }
        let off = rank - c.dims.len();
        if c.dims.iter().enumerate().any(|(k, &d)| d != 1 && d != s[k + off]) {
            return None;
        }
        // The value at each channel, which every element of that channel must repeat.
        let idx = fold::broadcast_index(s, &c.dims).ok()?;
        let inner: usize = s[ch + 1..].iter().product();
        let mut per: Vec<Option<f32>> = vec![None; s[ch]];
        for (flat, &k) in idx.iter().enumerate() {
            let slot = &mut per[flat / inner % s[ch]];
            match *slot {
                None => *slot = Some(c.f[k]),
                Some(v) if v == c.f[k] => {}
                Some(_) => return None,
            }
        }
        per.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::binary;

    #[test]
    fn every_binary_kind_has_one_onnx_row() {
        let without = [BinaryKind::SquaredDifference];
        for r in binary::TABLE.iter().filter(|r| !without.contains(&r.kind)) {
            assert_eq!(BINARY.iter().filter(|o| o.kind == r.kind).count(), 1, "{}", r.name);
            assert_eq!(binary_op_type(r.kind).and_then(binary_kind), Some(r.kind));
        }
        assert_eq!(BINARY.len() + without.len(), binary::TABLE.len());
        assert!(without.iter().all(|&k| binary_op_type(k).is_none()));
    }

    #[test]
    fn op_types_are_distinct_across_tables() {
        let mut names: Vec<&str> = BINARY.iter().map(|r| r.op_type).chain(UNARY.iter().map(|r| r.op_type)).collect();
        let n = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), n);
    }

    #[test]
    fn unary_attributes_default_as_onnx_says() {
        let n = pb::NodeProto { op_type: "LeakyRelu".into(), ..Default::default() };
        assert_eq!((unary("LeakyRelu").map(|r| (r.kind)(&n))), Some(UnaryKind::LeakyRelu { alpha: 0.01 }));
        assert!(unary("Relu").is_none() && binary_kind("Relu").is_none());
    }
}
