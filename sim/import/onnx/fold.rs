//! Constant folding at import. Exporters (PyTorch's `torch.onnx.export`, Paddle) compute
//! shapes at run time with small subgraphs: `Shape -> Gather -> Unsqueeze -> Concat ->
//! Reshape`, `ConstantOfShape`, `Cast`, `Slice` of a shape, integer arithmetic on its
//! entries. Once the input shapes are known every such value is a constant, so the importer
//! evaluates them here instead of turning them into layers: a node whose inputs are all
//! constants and whose op is listed in [`FOLDABLE`] becomes a constant too.
//!
//! The arithmetic follows the ONNX operator definitions (numpy broadcasting, integer
//! division truncating toward zero, negative indices counting from the end); integers are
//! evaluated in `i64`, floats in `f32`.

use super::{attr, attr_i, pb, Const};

/// The ops evaluated on constant inputs ([`fold`]).
pub(super) const FOLDABLE: &[&str] = &[
    "Identity",
    "Cast",
    "ConstantOfShape",
    "Shape",
    "Size",
    "Unsqueeze",
    "Squeeze",
    "Concat",
    "Gather",
    "Slice",
    "Reshape",
    "Flatten",
    "Expand",
    "Transpose",
    "Range",
    "Where",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Mod",
    "Min",
    "Max",
    "Pow",
    "Equal",
    "Less",
    "Greater",
    "Neg",
    "Abs",
    "Floor",
    "Ceil",
    "Sqrt",
    "Reciprocal",
    "Not",
];

/// The largest constant folding may create (elements): shapes are small; a
/// `ConstantOfShape` of an activation's size would be a weight-sized buffer.
const MAX_ELEMENTS: usize = 1 << 24;

/// ONNX element types read as floats (float32, float16, double, bfloat16).
fn is_float(dt: i32) -> bool {
    matches!(dt, 1 | 10 | 11 | 16)
}

/// The values of a constant, as floats or as integers by its type.
#[derive(Debug, Clone)]
enum Data {
    F(Vec<f32>),
    I(Vec<i64>),
}

impl Data {
    fn of(c: &Const) -> Data {
        if is_float(c.dt) {
            Data::F(c.f.clone())
        } else {
            Data::I(c.i.clone())
        }
    }
    fn len(&self) -> usize {
        match self {
            Data::F(v) => v.len(),
            Data::I(v) => v.len(),
        }
    }
    /// The elements at `idx`, in that order.
    fn pick(&self, idx: &[usize]) -> Data {
        match self {
            Data::F(v) => Data::F(idx.iter().map(|&k| v[k]).collect()),
            Data::I(v) => Data::I(idx.iter().map(|&k| v[k]).collect()),
        }
    }
}

/// A constant of shape `dims` and type `dt` holding `data`.
fn make(dims: Vec<usize>, data: Data, dt: i32) -> Const {
    match data {
        Data::F(f) => Const { dims, f, i: Vec::new(), dt, quant: None },
        Data::I(i) => Const { dims, f: Vec::new(), i, dt, quant: None },
    }
}

/// A 1-D int64 constant.
pub(super) fn int64s(v: Vec<i64>) -> Const {
    make(vec![v.len()], Data::I(v), 7)
}

fn count(dims: &[usize]) -> Result<usize, String> {
    dims.iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| format!("a folded constant of shape {dims:?} is too large"))
}

/// Row-major strides.
fn strides(dims: &[usize]) -> Vec<usize> {
    let mut s = vec![1; dims.len()];
    for k in (0..dims.len().saturating_sub(1)).rev() {
        s[k] = s[k + 1] * dims[k + 1];
    }
    s
}

/// numpy broadcasting of shapes.
fn broadcast_shape(shapes: &[&[usize]]) -> Result<Vec<usize>, String> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1; rank];
    for s in shapes {
        for (k, &d) in s.iter().enumerate() {
            let o = &mut out[rank - s.len() + k];
            if *o == 1 {
                *o = d;
            } else if d != 1 && d != *o {
                return Err(format!("shapes {shapes:?} do not broadcast"));
            }
        }
    }
    Ok(out)
}

/// For each element of a tensor of shape `out`, the index of the element of a tensor of
/// shape `dims` (broadcast to `out`) it reads.
pub(super) fn broadcast_index(out: &[usize], dims: &[usize]) -> Result<Vec<usize>, String> {
    let n = count(out)?;
    let os = strides(out);
    let is = strides(dims);
    let off = out.len() - dims.len();
    Ok((0..n)
        .map(|flat| {
            let mut src = 0;
            for (k, &d) in dims.iter().enumerate() {
                let coord = flat / os[off + k] % out[off + k];
                if d != 1 {
                    src += coord * is[k];
                }
            }
            src
        })
        .collect())
}

/// Normalizes axis `a` of a rank-`rank` tensor.
fn axis(a: i64, rank: usize) -> Result<usize, String> {
    let n = if a < 0 { a + rank as i64 } else { a };
    usize::try_from(n).ok().filter(|&n| n < rank).ok_or_else(|| format!("axis {a} is out of range for rank {rank}"))
}

/// The `k`-th input, which must be present.
fn input<'c>(ins: &[Option<&'c Const>], k: usize) -> Result<&'c Const, String> {
    ins.get(k).copied().flatten().ok_or_else(|| format!("input {k} is missing"))
}

/// Integer axes from input `k` (newer opsets) or the attribute `axes` (older ones).
pub(super) fn axes_of(n: &pb::NodeProto, ins: &[Option<&Const>], k: usize) -> Option<Vec<i64>> {
    match ins.get(k).copied().flatten() {
        Some(c) => Some(c.i.clone()),
        None => attr(n, "axes").map(|a| a.ints.clone()),
    }
}

/// The shape `target` (ONNX Reshape semantics: 0 copies the input dimension unless
/// `allowzero`, one -1 is inferred) for an input of shape `dims`.
pub(super) fn reshape_dims(dims: &[usize], target: &[i64], allowzero: bool) -> Result<Vec<usize>, String> {
    let total: usize = dims.iter().product();
    let mut out = Vec::with_capacity(target.len());
    let mut infer = None;
    for (k, &t) in target.iter().enumerate() {
        match t {
            0 if !allowzero => {
                out.push(*dims.get(k).ok_or_else(|| format!("shape {target:?}: no dimension {k} to copy"))?)
            }
            -1 if infer.is_none() => {
                infer = Some(k);
                out.push(1);
            }
            t if t >= 0 => out.push(t as usize),
            _ => return Err(format!("shape {target:?} is not a valid Reshape target")),
        }
    }
    let known: usize = out.iter().product();
    if let Some(k) = infer {
        if known == 0 || total % known != 0 {
            return Err(format!("cannot reshape {dims:?} to {target:?}"));
        }
        out[k] = total / known;
    }
    if out.iter().product::<usize>() != total {
        return Err(format!("cannot reshape {dims:?} ({total} elements) to {target:?}"));
    }
    Ok(out)
}

/// A transpose of `dims` by `perm`: the output shape and, per output element, its source.
pub(super) fn transpose_index(dims: &[usize], perm: &[usize]) -> (Vec<usize>, Vec<usize>) {
    let out: Vec<usize> = perm.iter().map(|&p| dims[p]).collect();
    let is = strides(dims);
    let os = strides(&out);
    let n: usize = out.iter().product();
    let idx = (0..n).map(|flat| perm.iter().enumerate().map(|(k, &p)| flat / os[k] % out[k] * is[p]).sum()).collect();
    (out, idx)
}

/// Element-wise arithmetic of two broadcast constants.
fn binary(op: &str, a: &Const, b: &Const) -> Result<Const, String> {
    let out = broadcast_shape(&[&a.dims, &b.dims])?;
    let (ia, ib) = (broadcast_index(&out, &a.dims)?, broadcast_index(&out, &b.dims)?);
    let cmp = matches!(op, "Equal" | "Less" | "Greater");
    let fl = is_float(a.dt) || is_float(b.dt);
    let data = if fl {
        let fa = |k: usize| if is_float(a.dt) { a.f[ia[k]] } else { a.i[ia[k]] as f32 };
        let fb = |k: usize| if is_float(b.dt) { b.f[ib[k]] } else { b.i[ib[k]] as f32 };
        let n = ia.len();
        if cmp {
            Data::I(
                (0..n)
                    .map(|k| {
                        let (x, y) = (fa(k), fb(k));
                        i64::from(match op {
                            "Equal" => x == y,
                            "Less" => x < y,
                            _ => x > y,
                        })
                    })
                    .collect(),
            )
        } else {
            Data::F(
                (0..n)
                    .map(|k| {
                        let (x, y) = (fa(k), fb(k));
                        match op {
                            "Add" => x + y,
                            "Sub" => x - y,
                            "Mul" => x * y,
                            "Div" => x / y,
                            "Mod" => x % y,
                            "Min" => x.min(y),
                            "Max" => x.max(y),
                            _ => x.powf(y),
                        }
                    })
                    .collect(),
            )
        }
    } else {
        let mut v = Vec::with_capacity(ia.len());
        for k in 0..ia.len() {
            let (x, y) = (a.i[ia[k]], b.i[ib[k]]);
            v.push(match op {
                "Add" => x.wrapping_add(y),
                "Sub" => x.wrapping_sub(y),
                "Mul" => x.wrapping_mul(y),
                "Div" | "Mod" if y == 0 => return Err("integer division by zero".into()),
                "Div" => x.wrapping_div(y),
                // ONNX Mod with fmod = 0 takes the sign of the divisor (Python's %).
                "Mod" => x.rem_euclid(y) + if y < 0 && x.rem_euclid(y) != 0 { y } else { 0 },
                "Min" => x.min(y),
                "Max" => x.max(y),
                "Equal" => i64::from(x == y),
                "Less" => i64::from(x < y),
                "Greater" => i64::from(x > y),
                _ => match u32::try_from(y) {
                    Ok(e) => x.wrapping_pow(e),
                    Err(_) => return Err(format!("integer Pow with exponent {y}")),
                },
            });
        }
        Data::I(v)
    };
    let dt = if cmp {
        9
    } else if fl {
        if is_float(a.dt) {
            a.dt
        } else {
            b.dt
        }
    } else {
        a.dt
    };
    Ok(make(out, data, dt))
}

fn unary(op: &str, a: &Const) -> Result<Const, String> {
    let data = match Data::of(a) {
        Data::F(v) => Data::F(
            v.iter()
                .map(|&x| match op {
                    "Neg" => -x,
                    "Abs" => x.abs(),
                    "Floor" => x.floor(),
                    "Ceil" => x.ceil(),
                    "Sqrt" => x.sqrt(),
                    "Reciprocal" => 1.0 / x,
                    _ => f32::from(x == 0.0),
                })
                .collect(),
        ),
        Data::I(v) => Data::I(
            v.iter()
                .map(|&x| match op {
                    "Neg" => Ok(x.wrapping_neg()),
                    "Abs" => Ok(x.wrapping_abs()),
                    "Floor" | "Ceil" => Ok(x),
                    "Not" => Ok(i64::from(x == 0)),
                    _ => Err(format!("{op} of an integer tensor")),
                })
                .collect::<Result<_, _>>()?,
        ),
    };
    Ok(make(a.dims.clone(), data, a.dt))
}

/// The values of `c` converted to ONNX type `to`.
fn cast(c: &Const, to: i32) -> Result<Const, String> {
    let data = match (Data::of(c), is_float(to)) {
        (Data::F(v), true) => Data::F(v),
        (Data::I(v), true) => Data::F(v.iter().map(|&x| x as f32).collect()),
        (Data::F(v), false) if to == 9 => Data::I(v.iter().map(|&x| i64::from(x != 0.0)).collect()),
        // Float to integer truncates toward zero (saturating where the C cast is undefined).
        (Data::F(v), false) => Data::I(v.iter().map(|&x| x as i64).collect()),
        (Data::I(v), false) if to == 9 => Data::I(v.iter().map(|&x| i64::from(x != 0)).collect()),
        (Data::I(v), false) => Data::I(v),
    };
    if !matches!(to, 1 | 2 | 3 | 4 | 5 | 6 | 7 | 9 | 10 | 11 | 12 | 13 | 16) {
        return Err(format!("Cast to ONNX type {to}"));
    }
    Ok(make(c.dims.clone(), data, to))
}

fn concat(n: &pb::NodeProto, ins: &[Option<&Const>]) -> Result<Const, String> {
    let parts: Vec<&Const> = ins.iter().map(|c| c.ok_or("an input is missing")).collect::<Result<_, _>>()?;
    let first = parts.first().ok_or("no inputs")?;
    let rank = first.dims.len();
    let ax = axis(attr_i(n, "axis", 0), rank)?;
    let mut dims = first.dims.clone();
    dims[ax] = 0;
    for p in &parts {
        if p.dims.len() != rank || p.dims.iter().enumerate().any(|(k, &d)| k != ax && d != first.dims[k]) {
            return Err(format!("inputs of shapes {:?} and {:?} do not concatenate on axis {ax}", first.dims, p.dims));
        }
        dims[ax] += p.dims[ax];
    }
    let outer: usize = dims[..ax].iter().product();
    let fl = parts.iter().any(|p| is_float(p.dt));
    let mut f = Vec::new();
    let mut i = Vec::new();
    for o in 0..outer {
        for p in &parts {
            let chunk: usize = p.dims[ax..].iter().product();
            let r = o * chunk..(o + 1) * chunk;
            if fl {
                if is_float(p.dt) {
                    f.extend_from_slice(&p.f[r]);
                } else {
                    f.extend(p.i[r].iter().map(|&x| x as f32));
                }
            } else {
                i.extend_from_slice(&p.i[r]);
            }
        }
    }
    let data = if fl { Data::F(f) } else { Data::I(i) };
    let dt = parts.iter().find(|p| is_float(p.dt) == fl).map_or(first.dt, |p| p.dt);
    Ok(make(dims, data, dt))
}

fn gather(n: &pb::NodeProto, data: &Const, ind: &Const) -> Result<Const, String> {
    let rank = data.dims.len();
    let ax = axis(attr_i(n, "axis", 0), rank)?;
    let d = data.dims[ax] as i64;
    let mut idx = Vec::with_capacity(ind.i.len());
    for &k in &ind.i {
        let k2 = if k < 0 { k + d } else { k };
        if !(0..d).contains(&k2) {
            return Err(format!("index {k} is out of range for a dimension of {d}"));
        }
        idx.push(k2 as usize);
    }
    let outer: usize = data.dims[..ax].iter().product();
    let inner: usize = data.dims[ax + 1..].iter().product();
    let mut dims = data.dims[..ax].to_vec();
    dims.extend_from_slice(&ind.dims);
    dims.extend_from_slice(&data.dims[ax + 1..]);
    count(&dims)?;
    let mut src = Vec::new();
    for o in 0..outer {
        for &k in &idx {
            src.extend((0..inner).map(|j| (o * data.dims[ax] + k) * inner + j));
        }
    }
    Ok(make(dims, Data::of(data).pick(&src), data.dt))
}

/// Resolves a Slice's `start..end` by `step` on a dimension of `d` (ONNX clamping rules):
/// the indices it selects.
pub(super) fn slice_range(start: i64, end: i64, step: i64, d: usize) -> Vec<usize> {
    let d = d as i64;
    let norm = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
    let (s, e) = (norm(start), norm(end));
    let mut out = Vec::new();
    if step > 0 {
        let (mut k, e) = (s.clamp(0, d), e.clamp(0, d));
        while k < e {
            out.push(k as usize);
            k += step;
        }
    } else if step < 0 {
        let (mut k, e) = (s.clamp(-1, d - 1), e.clamp(-1, d - 1));
        while k > e {
            out.push(k as usize);
            k += step;
        }
    }
    out
}

/// The per-axis indices a Slice node selects from a tensor of shape `dims`: inputs
/// (starts, ends, axes, steps) from opset 10, attributes before.
pub(super) fn slice_indices(
    n: &pb::NodeProto,
    ins: &[Option<&Const>],
    dims: &[usize],
) -> Result<Vec<Vec<usize>>, String> {
    let list = |k: usize, name: &str| -> Option<Vec<i64>> {
        match ins.get(k).copied().flatten() {
            Some(c) => Some(c.i.clone()),
            None => attr(n, name).map(|a| a.ints.clone()),
        }
    };
    let starts = list(1, "starts").ok_or("no starts")?;
    let ends = list(2, "ends").ok_or("no ends")?;
    let axes = list(3, "axes").unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = ins.get(4).copied().flatten().map(|c| c.i.clone()).unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(format!("starts {starts:?}, ends {ends:?}, axes {axes:?} and steps {steps:?} differ in length"));
    }
    let mut sel: Vec<Vec<usize>> = dims.iter().map(|&d| (0..d).collect()).collect();
    for k in 0..starts.len() {
        let a = axis(axes[k], dims.len())?;
        if steps[k] == 0 {
            return Err("a step of 0".into());
        }
        sel[a] = slice_range(starts[k], ends[k], steps[k], dims[a]);
    }
    Ok(sel)
}

/// Flat indices of the elements selected per axis.
pub(super) fn gather_nd(dims: &[usize], sel: &[Vec<usize>]) -> Vec<usize> {
    let st = strides(dims);
    let mut out = vec![0usize];
    for (s, &stride) in sel.iter().zip(&st) {
        out = out.iter().flat_map(|&base| s.iter().map(move |&i| base + i * stride)).collect();
    }
    out
}

/// Evaluates node `n` on constant inputs (`None` for an absent optional input). `opset` is
/// the model's default-domain opset.
pub(super) fn fold(n: &pb::NodeProto, ins: &[Option<&Const>]) -> Result<Const, String> {
    let op = n.op_type.as_str();
    let x = || input(ins, 0);
    match op {
        "Identity" => Ok(x()?.clone()),
        "Cast" => cast(x()?, attr_i(n, "to", 1) as i32),
        "Shape" | "Size" => fold_shape(n, x()?),
        "ConstantOfShape" => {
            let dims: Vec<usize> = x()?
                .i
                .iter()
                .map(|&d| usize::try_from(d).map_err(|_| format!("dimension {d}")))
                .collect::<Result<_, _>>()?;
            let n_el = count(&dims)?;
            let value = match attr(n, "value").and_then(|a| a.t.as_ref()) {
                None => make(vec![1], Data::F(vec![0.0]), 1),
                Some(t) => {
                    let dt = t.data_type;
                    let f = if !t.raw_data.is_empty() && dt == 1 {
                        t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
                    } else {
                        t.float_data.clone()
                    };
                    let i: Vec<i64> = if !t.raw_data.is_empty() && dt == 7 {
                        t.raw_data
                            .chunks_exact(8)
                            .map(|c| i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                            .collect()
                    } else if !t.raw_data.is_empty() && matches!(dt, 2 | 3 | 9) {
                        t.raw_data.iter().map(|&b| if dt == 3 { b as i8 as i64 } else { b as i64 }).collect()
                    } else if !t.raw_data.is_empty() && dt == 6 {
                        t.raw_data
                            .chunks_exact(4)
                            .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64)
                            .collect()
                    } else if !t.int64_data.is_empty() {
                        t.int64_data.clone()
                    } else {
                        t.int32_data.iter().map(|&v| v as i64).collect()
                    };
                    if is_float(dt) {
                        make(vec![1], Data::F(f), dt)
                    } else {
                        make(vec![1], Data::I(i), dt)
                    }
                }
            };
            if Data::of(&value).len() != 1 {
                return Err("the 'value' attribute must hold one element".into());
            }
            Ok(make(dims, Data::of(&value).pick(&vec![0; n_el]), value.dt))
        }
        "Unsqueeze" => {
            let c = x()?;
            let dims = unsqueeze_dims(&c.dims, &axes_of(n, ins, 1).ok_or("no axes")?)?;
            Ok(Const { dims, ..c.clone() })
        }
        "Squeeze" => {
            let c = x()?;
            let dims = squeeze_dims(&c.dims, axes_of(n, ins, 1).as_deref())?;
            Ok(Const { dims, ..c.clone() })
        }
        "Concat" => concat(n, ins),
        "Gather" => gather(n, x()?, input(ins, 1)?),
        "Slice" => {
            let c = x()?;
            let sel = slice_indices(n, ins, &c.dims)?;
            let dims = sel.iter().map(Vec::len).collect();
            Ok(make(dims, Data::of(c).pick(&gather_nd(&c.dims, &sel)), c.dt))
        }
        "Reshape" | "Flatten" => {
            let c = x()?;
            let dims = if op == "Flatten" {
                let a = attr_i(n, "axis", 1);
                let a = if a < 0 { a + c.dims.len() as i64 } else { a }.clamp(0, c.dims.len() as i64) as usize;
                vec![c.dims[..a].iter().product(), c.dims[a..].iter().product()]
            } else {
                reshape_dims(&c.dims, &input(ins, 1)?.i, attr_i(n, "allowzero", 0) != 0)?
            };
            Ok(Const { dims, ..c.clone() })
        }
        "Expand" => {
            let c = x()?;
            let shape: Vec<usize> = input(ins, 1)?.i.iter().map(|&d| d.max(0) as usize).collect();
            let out = broadcast_shape(&[&c.dims, &shape])?;
            let idx = broadcast_index(&out, &c.dims)?;
            Ok(make(out, Data::of(c).pick(&idx), c.dt))
        }
        "Transpose" => {
            let c = x()?;
            let rank = c.dims.len();
            let perm: Vec<usize> = match attr(n, "perm") {
                Some(a) => a.ints.iter().map(|&p| axis(p, rank)).collect::<Result<_, _>>()?,
                None => (0..rank).rev().collect(),
            };
            let mut seen = perm.clone();
            seen.sort_unstable();
            if seen != (0..rank).collect::<Vec<_>>() {
                return Err(format!("perm {perm:?} is not a permutation of rank {rank}"));
            }
            let (dims, idx) = transpose_index(&c.dims, &perm);
            Ok(make(dims, Data::of(c).pick(&idx), c.dt))
        }
        "Range" => {
            let (s, l, d) = (x()?, input(ins, 1)?, input(ins, 2)?);
            if is_float(s.dt) {
                let (s0, l0, d0) = (s.f[0], l.f[0], d.f[0]);
                let n_el = ((l0 - s0) / d0).ceil().max(0.0) as usize;
                count(&[n_el])?;
                Ok(make(vec![n_el], Data::F((0..n_el).map(|k| s0 + k as f32 * d0).collect()), s.dt))
            } else {
                let (s0, l0, d0) = (s.i[0], l.i[0], d.i[0]);
                if d0 == 0 {
                    return Err("a delta of 0".into());
                }
                let n_el = ((l0 - s0) as f64 / d0 as f64).ceil().max(0.0) as usize;
                count(&[n_el])?;
                Ok(make(vec![n_el], Data::I((0..n_el as i64).map(|k| s0 + k * d0).collect()), s.dt))
            }
        }
        "Where" => {
            let (c, a, b) = (x()?, input(ins, 1)?, input(ins, 2)?);
            let out = broadcast_shape(&[&c.dims, &a.dims, &b.dims])?;
            let (ic, ia, ib) =
                (broadcast_index(&out, &c.dims)?, broadcast_index(&out, &a.dims)?, broadcast_index(&out, &b.dims)?);
            let data = match (Data::of(a), Data::of(b)) {
                (Data::F(fa), Data::F(fb)) => {
                    Data::F((0..ic.len()).map(|k| if c.i[ic[k]] != 0 { fa[ia[k]] } else { fb[ib[k]] }).collect())
                }
                (Data::I(va), Data::I(vb)) => {
                    Data::I((0..ic.len()).map(|k| if c.i[ic[k]] != 0 { va[ia[k]] } else { vb[ib[k]] }).collect())
                }
                _ => return Err("Where of a float and an integer tensor".into()),
            };
            Ok(make(out, data, a.dt))
        }
        "Add" | "Sub" | "Mul" | "Div" | "Mod" | "Min" | "Max" | "Pow" | "Equal" | "Less" | "Greater" => {
            if op == "Mod" && attr_i(n, "fmod", 0) != 0 {
                return Err("Mod with fmod = 1".into());
            }
            binary(op, x()?, input(ins, 1)?)
        }
        "Neg" | "Abs" | "Floor" | "Ceil" | "Sqrt" | "Reciprocal" | "Not" => unary(op, x()?),
        other => Err(format!("{other} is not folded")),
    }
}

/// `Shape` (with its `start` and `end`, opset 15) or `Size` of `x`: reads its dims only.
pub(super) fn fold_shape(n: &pb::NodeProto, x: &Const) -> Result<Const, String> {
    let d = &x.dims;
    if n.op_type == "Size" {
        return Ok(make(Vec::new(), Data::I(vec![d.iter().product::<usize>() as i64]), 7));
    }
    let r = d.len() as i64;
    let clamp = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let (s, e) = (clamp(attr_i(n, "start", 0)), clamp(attr_i(n, "end", r)));
    Ok(int64s(d[s..e.max(s)].iter().map(|&v| v as i64).collect()))
}

/// The shape after ONNX Squeeze of `axes` (all size-1 dimensions when `None`).
pub(super) fn squeeze_dims(dims: &[usize], axes: Option<&[i64]>) -> Result<Vec<usize>, String> {
    match axes {
        None => Ok(dims.iter().copied().filter(|&d| d != 1).collect()),
        Some(ax) => {
            let ax: Vec<usize> = ax.iter().map(|&a| axis(a, dims.len())).collect::<Result<_, _>>()?;
            if let Some(&a) = ax.iter().find(|&&a| dims[a] != 1) {
                return Err(format!("cannot squeeze axis {a} of size {} (shape {dims:?})", dims[a]));
            }
            Ok(dims.iter().enumerate().filter(|(k, _)| !ax.contains(k)).map(|(_, &d)| d).collect())
        }
    }
}

/// The shape after ONNX Unsqueeze of `axes`.
pub(super) fn unsqueeze_dims(dims: &[usize], axes: &[i64]) -> Result<Vec<usize>, String> {
    let rank = dims.len() + axes.len();
    let mut ax: Vec<usize> = axes.iter().map(|&a| axis(a, rank)).collect::<Result<_, _>>()?;
    ax.sort_unstable();
    ax.dedup();
    if ax.len() != axes.len() {
        return Err(format!("repeated axes {axes:?}"));
    }
    let mut out = dims.to_vec();
    for a in ax {
        out.insert(a, 1);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ints(dims: Vec<usize>, v: Vec<i64>) -> Const {
        make(dims, Data::I(v), 7)
    }
    fn node(op: &str, attrs: Vec<pb::AttributeProto>) -> pb::NodeProto {
        pb::NodeProto { op_type: op.into(), attribute: attrs, ..Default::default() }
    }
    fn int_attr(name: &str, i: i64) -> pb::AttributeProto {
        pb::AttributeProto { name: name.into(), i, r#type: 2, ..Default::default() }
    }

    #[test]
    fn pytorch_flatten_shape_chain() {
        // x.view(x.size(0), -1) of a [2, 8, 3, 3] tensor.
        let shape = ints(vec![4], vec![2, 8, 3, 3]);
        let idx = ints(vec![], vec![0]);
        let n0 = fold(&node("Gather", vec![int_attr("axis", 0)]), &[Some(&shape), Some(&idx)]).unwrap();
        assert_eq!((n0.dims.clone(), n0.i.clone()), (vec![], vec![2]));
        let axes = ints(vec![1], vec![0]);
        let u = fold(&node("Unsqueeze", vec![]), &[Some(&n0), Some(&axes)]).unwrap();
        assert_eq!(u.dims, vec![1]);
        let m1 = ints(vec![1], vec![-1]);
        let c = fold(&node("Concat", vec![int_attr("axis", 0)]), &[Some(&u), Some(&m1)]).unwrap();
        assert_eq!(c.i, vec![2, -1]);
        assert_eq!(reshape_dims(&[2, 8, 3, 3], &c.i, false).unwrap(), vec![2, 72]);
    }

    #[test]
    fn broadcasting_arithmetic_and_casts() {
        let a = ints(vec![2, 1], vec![10, 20]);
        let b = ints(vec![3], vec![1, 2, 3]);
        let s = fold(&node("Add", vec![]), &[Some(&a), Some(&b)]).unwrap();
        assert_eq!((s.dims, s.i), (vec![2, 3], vec![11, 12, 13, 21, 22, 23]));
        let d = fold(&node("Div", vec![]), &[Some(&ints(vec![2], vec![-7, 7])), Some(&ints(vec![], vec![2]))]).unwrap();
        assert_eq!(d.i, vec![-3, 3], "integer division truncates toward zero");
        let f = fold(&node("Cast", vec![int_attr("to", 1)]), &[Some(&ints(vec![2], vec![3, 4]))]).unwrap();
        let h = fold(&node("Mul", vec![]), &[Some(&f), Some(&make(vec![], Data::F(vec![1.5]), 1))]).unwrap();
        let fl = fold(&node("Floor", vec![]), &[Some(&h)]).unwrap();
        let back = fold(&node("Cast", vec![int_attr("to", 7)]), &[Some(&fl)]).unwrap();
        assert_eq!(back.i, vec![4, 6]);
        assert!(fold(&node("Add", vec![]), &[Some(&ints(vec![2], vec![1, 2])), Some(&ints(vec![3], vec![1, 2, 3]))])
            .is_err());
    }

    #[test]
    fn slices_gathers_and_constant_of_shape() {
        let shape = ints(vec![4], vec![1, 3, 224, 224]);
        let st = ints(vec![1], vec![2]);
        let en = ints(vec![1], vec![i64::MAX]);
        let s = fold(&node("Slice", vec![]), &[Some(&shape), Some(&st), Some(&en)]).unwrap();
        assert_eq!(s.i, vec![224, 224]);
        let rev = fold(
            &node("Slice", vec![]),
            &[
                Some(&shape),
                Some(&ints(vec![1], vec![-1])),
                Some(&ints(vec![1], vec![i64::MIN])),
                None,
                Some(&ints(vec![1], vec![-1])),
            ],
        )
        .unwrap();
        assert_eq!(rev.i, vec![224, 224, 3, 1]);
        let m = ints(vec![2, 3], vec![0, 1, 2, 3, 4, 5]);
        let g =
            fold(&node("Gather", vec![int_attr("axis", 1)]), &[Some(&m), Some(&ints(vec![2], vec![2, -3]))]).unwrap();
        assert_eq!((g.dims, g.i), (vec![2, 2], vec![2, 0, 5, 3]));
        let z = fold(&node("ConstantOfShape", vec![]), &[Some(&ints(vec![2], vec![2, 2]))]).unwrap();
        assert_eq!((z.dims, z.f, z.dt), (vec![2, 2], vec![0.0; 4], 1));
        let big = ints(vec![2], vec![1 << 20, 1 << 20]);
        assert!(fold(&node("ConstantOfShape", vec![]), &[Some(&big)]).unwrap_err().contains("too large"));
        let t = fold(&node("Transpose", vec![]), &[Some(&m)]).unwrap();
        assert_eq!((t.dims, t.i), (vec![3, 2], vec![0, 3, 1, 4, 2, 5]));
    }
}
