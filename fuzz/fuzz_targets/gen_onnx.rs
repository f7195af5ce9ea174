//! Structure-aware ONNX generator for the fuzz checks: bytes choose a small float CNN, which
//! is written as two `.onnx` files that compute the same function in two forms:
//!
//! - `exported`, the way exporters write it: every Conv followed by a BatchNormalization,
//!   Gemm with `transB = 1` and `alpha`/`beta` other than 1 (or MatMul + Add of the bias),
//!   Identity and Dropout nodes between layers, Clip with its bounds as inputs;
//! - `folded`, the same network with BatchNormalization, alpha and beta folded into the
//!   weights by the generator (in f64), Gemm with `transB = 0`, no Identity.
//!
//! The importer's folding, transposition and fusion paths are then checked against the
//! generator's: both files must import, execute to (nearly) the same outputs and cost the
//! same. The protobuf is written by hand (field numbers of `onnx.proto`), so the generator
//! does not depend on the importer's private message types.

/// A protobuf message being written.
#[derive(Default)]
struct Pb(Vec<u8>);

impl Pb {
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push(v as u8 | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn key(&mut self, field: u64, wire: u64) {
        self.varint(field << 3 | wire);
    }
    fn int(&mut self, field: u64, v: i64) -> &mut Self {
        self.key(field, 0);
        self.varint(v as u64);
        self
    }
    fn bytes(&mut self, field: u64, b: &[u8]) -> &mut Self {
        self.key(field, 2);
        self.varint(b.len() as u64);
        self.0.extend_from_slice(b);
        self
    }
    fn str(&mut self, field: u64, s: &str) -> &mut Self {
        self.bytes(field, s.as_bytes())
    }
    fn msg(&mut self, field: u64, m: Pb) -> &mut Self {
        self.bytes(field, &m.0)
    }
    fn float(&mut self, field: u64, f: f32) -> &mut Self {
        self.key(field, 5);
        self.0.extend_from_slice(&f.to_le_bytes());
        self
    }
}

/// An AttributeProto.
enum Attr {
    Int(&'static str, i64),
    Float(&'static str, f32),
    Ints(&'static str, Vec<i64>),
    Str(&'static str, &'static str),
}

fn attr(a: &Attr) -> Pb {
    let mut p = Pb::default();
    match a {
        Attr::Int(n, v) => p.str(1, n).int(3, *v).int(20, 2),
        Attr::Float(n, v) => p.str(1, n).float(2, *v).int(20, 1),
        Attr::Ints(n, v) => {
            p.str(1, n);
            v.iter().for_each(|&x| {
                p.int(8, x);
            });
            p.int(20, 7)
        }
        Attr::Str(n, v) => p.str(1, n).str(4, v).int(20, 3),
    };
    p
}

/// A float32 TensorProto (raw little-endian data).
fn tensor(name: &str, dims: &[usize], v: &[f32]) -> Pb {
    let mut p = Pb::default();
    dims.iter().for_each(|&d| {
        p.int(1, d as i64);
    });
    p.int(2, 1).str(8, name);
    let raw: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    p.bytes(9, &raw);
    p
}

/// A float32 ValueInfoProto with `dims` (none: shape left out).
fn value_info(name: &str, dims: &[usize]) -> Pb {
    let mut shape = Pb::default();
    for &d in dims {
        let mut dim = Pb::default();
        dim.int(1, d as i64);
        shape.msg(1, dim);
    }
    let mut tt = Pb::default();
    tt.int(1, 1);
    if !dims.is_empty() {
        tt.msg(2, shape);
    }
    let mut ty = Pb::default();
    ty.msg(1, tt);
    let mut p = Pb::default();
    p.str(1, name).msg(2, ty);
    p
}

/// A graph being written: nodes and initializers, names made unique by a counter.
#[derive(Default)]
struct G {
    nodes: Vec<Pb>,
    inits: Vec<Pb>,
    n: usize,
}

impl G {
    fn name(&mut self, s: &str) -> String {
        self.n += 1;
        format!("{s}{}", self.n)
    }
    fn init(&mut self, s: &str, dims: &[usize], v: &[f32]) -> String {
        let name = self.name(s);
        self.inits.push(tensor(&name, dims, v));
        name
    }
    /// Adds a node; returns its output's name.
    fn node(&mut self, op: &str, inputs: &[&str], attrs: &[Attr]) -> String {
        let out = self.name(&op.to_lowercase());
        let mut p = Pb::default();
        inputs.iter().for_each(|i| {
            p.str(1, i);
        });
        p.str(2, &out).str(3, &out).str(4, op);
        attrs.iter().for_each(|a| {
            p.msg(5, attr(a));
        });
        self.nodes.push(p);
        out
    }
    fn model(self, input: &str, input_dims: &[usize], output: &str) -> Vec<u8> {
        let mut g = Pb::default();
        self.nodes.into_iter().for_each(|n| {
            g.msg(1, n);
        });
        g.str(2, "gen");
        self.inits.into_iter().for_each(|t| {
            g.msg(5, t);
        });
        g.msg(11, value_info(input, input_dims)).msg(12, value_info(output, &[]));
        let mut opset = Pb::default();
        opset.str(1, "").int(2, 13);
        let mut m = Pb::default();
        m.int(1, 8).msg(8, opset).str(2, "accelsim-fuzz").msg(7, g);
        m.0
    }
}

/// Deterministic values from the input bytes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Uniform in [lo, hi), on a 1/256 grid of the range.
    fn f(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next() % 256) as f64 / 256.0
    }
    fn vec(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| self.f(lo, hi)).collect()
    }
}

fn f32s(v: &[f64]) -> Vec<f32> {
    v.iter().map(|&x| x as f32).collect()
}

/// The two forms of a generated network, and its input shape (NCHW).
pub struct Pair {
    /// As exporters write it.
    pub exported: Vec<u8>,
    /// With BatchNormalization, alpha and beta folded by the generator.
    pub folded: Vec<u8>,
    /// The input's ONNX shape.
    pub input: [usize; 4],
}

/// The network `data` chooses, or `None` when it chooses no layer.
pub fn generate(data: &[u8]) -> Option<Pair> {
    let mut bytes = data.iter().copied();
    let mut b = || bytes.next();
    let seed = data.iter().fold(0x9E37_79B9_7F4A_7C15u64, |h, &x| (h ^ x as u64).wrapping_mul(0x100_0000_01B3)) | 1;
    let mut rng = Rng(seed);
    let (mut c, mut h) = (1 + b()? as usize % 4, 1 + b()? as usize % 8);
    let mut w = if b()? & 1 == 0 { h } else { 1 + (h + 3) % 8 };
    let input = [1, c, h, w];
    let (mut ea, mut fo) = (G::default(), G::default());
    let (mut xa, mut xf) = ("input".to_string(), "input".to_string());
    // Features of the flattened tail (after the head), `None` while 4-D.
    let mut flat: Option<usize> = None;
    let mut layers = 0;
    let act_of = |k: u8| k % 3;
    while let Some(op) = b() {
        let arg = b().unwrap_or(0);
        if layers == 6 {
            break;
        }
        match (op % 7, flat) {
            (0 | 1, None) => {
                // Conv (1) or depthwise conv (0), then BatchNormalization in the exported form.
                let depthwise = op % 7 == 0;
                let k = if depthwise || arg & 1 == 1 { 3 } else { 1 };
                let s = 1 + (arg >> 1) as usize % 2;
                let o = if depthwise { c } else { 1 + (arg >> 2) as usize % 8 };
                let ig = if depthwise { 1 } else { c };
                let wt = rng.vec(o * ig * k * k, -1.0, 1.0);
                let bias = rng.vec(o, -0.5, 0.5);
                let (scale, beta, mean) = (rng.vec(o, 0.5, 1.5), rng.vec(o, -0.5, 0.5), rng.vec(o, -0.5, 0.5));
                let var = rng.vec(o, 0.25, 2.0);
                let eps = 1e-5;
                let kf: Vec<f64> = (0..o).map(|j| scale[j] / (var[j] + eps).sqrt()).collect();
                let wf: Vec<f64> = wt.iter().enumerate().map(|(i, v)| v * kf[i / (ig * k * k)]).collect();
                let bf: Vec<f64> = (0..o).map(|j| (bias[j] - mean[j]) * kf[j] + beta[j]).collect();
                // Padding: SAME_UPPER, symmetric explicit pads, or VALID when the kernel fits.
                let p = k / 2;
                let (pad, oh, ow) = match (arg >> 5) % 3 {
                    0 => (Attr::Str("auto_pad", "SAME_UPPER"), h.div_ceil(s), w.div_ceil(s)),
                    2 if h >= k && w >= k => (Attr::Str("auto_pad", "VALID"), (h - k) / s + 1, (w - k) / s + 1),
                    _ => (Attr::Ints("pads", vec![p as i64; 4]), (h + 2 * p - k) / s + 1, (w + 2 * p - k) / s + 1),
                };
                let at = [
                    Attr::Ints("kernel_shape", vec![k as i64; 2]),
                    Attr::Ints("strides", vec![s as i64; 2]),
                    Attr::Int("group", if depthwise { c as i64 } else { 1 }),
                    pad,
                ];
                let dims = [o, ig, k, k];
                let (wa, ba) = (ea.init("w", &dims, &f32s(&wt)), ea.init("b", &[o], &f32s(&bias)));
                let conv = ea.node("Conv", &[&xa, &wa, &ba], &at);
                let bn: Vec<String> =
                    [&scale, &beta, &mean, &var].iter().map(|v| ea.init("bn", &[o], &f32s(v))).collect();
                xa = ea.node(
                    "BatchNormalization",
                    &[&conv, &bn[0], &bn[1], &bn[2], &bn[3]],
                    &[Attr::Float("epsilon", eps as f32)],
                );
                let (wf_, bf_) = (fo.init("w", &dims, &f32s(&wf)), fo.init("b", &[o], &f32s(&bf)));
                xf = fo.node("Conv", &[&xf, &wf_, &bf_], &at);
                (c, h, w) = (o, oh, ow);
                activation(&mut ea, &mut xa, &mut fo, &mut xf, act_of(arg >> 3));
            }
            (2 | 3, None) if h >= 2 && w >= 2 => {
                let kind = if op % 7 == 2 { "MaxPool" } else { "AveragePool" };
                let at = || vec![Attr::Ints("kernel_shape", vec![2, 2]), Attr::Ints("strides", vec![2, 2])];
                xa = ea.node(kind, &[&xa], &at());
                xf = fo.node(kind, &[&xf], &at());
                (h, w) = (h / 2, w / 2);
            }
            (4, _) => {
                // A residual-free Add of the activation to itself.
                xa = ea.node("Add", &[&xa, &xa], &[]);
                xf = fo.node("Add", &[&xf, &xf], &[]);
            }
            (5, _) => {
                // Identity or Dropout: only in the exported form.
                xa = ea.node(if arg & 1 == 0 { "Identity" } else { "Dropout" }, &[&xa], &[]);
                continue;
            }
            (_, None) => {
                // The head: global average pooling, flatten, then a fully connected layer.
                xa = ea.node("GlobalAveragePool", &[&xa], &[]);
                xf = fo.node("GlobalAveragePool", &[&xf], &[]);
                xa = ea.node("Flatten", &[&xa], &[]);
                xf = fo.node("Flatten", &[&xf], &[]);
                flat = Some(c);
                fully_connected(&mut rng, &mut ea, &mut xa, &mut fo, &mut xf, &mut flat, arg);
            }
            (_, Some(_)) => fully_connected(&mut rng, &mut ea, &mut xa, &mut fo, &mut xf, &mut flat, arg),
        }
        layers += 1;
    }
    if layers == 0 {
        return None;
    }
    Some(Pair { exported: ea.model("input", &input, &xa), folded: fo.model("input", &input, &xf), input })
}

/// A fused activation after a layer: none, Relu, or Clip(0, 6) (bounds as inputs in the
/// exported form, as attributes-free opset 11+ Clip; the same in the folded form).
fn activation(ea: &mut G, xa: &mut String, fo: &mut G, xf: &mut String, kind: u8) {
    match kind {
        1 => {
            *xa = ea.node("Relu", &[xa], &[]);
            *xf = fo.node("Relu", &[xf], &[]);
        }
        2 => {
            let (lo, hi) = (ea.init("lo", &[], &[0.0]), ea.init("hi", &[], &[6.0]));
            *xa = ea.node("Clip", &[xa, &lo, &hi], &[]);
            let (lo, hi) = (fo.init("lo", &[], &[0.0]), fo.init("hi", &[], &[6.0]));
            *xf = fo.node("Clip", &[xf, &lo, &hi], &[]);
        }
        _ => {}
    }
}

/// A fully connected layer of the flattened tail: Gemm (transB = 1, alpha and beta) or
/// MatMul + Add in the exported form, Gemm (transB = 0, alpha and beta folded) in the folded.
fn fully_connected(
    rng: &mut Rng,
    ea: &mut G,
    xa: &mut String,
    fo: &mut G,
    xf: &mut String,
    flat: &mut Option<usize>,
    arg: u8,
) {
    let k = flat.unwrap_or(1);
    let n = 1 + arg as usize % 10;
    let wt = rng.vec(n * k, -1.0, 1.0); // [n, k]: transB layout
    let bias = rng.vec(n, -0.5, 0.5);
    let (alpha, beta) = if arg & 0x80 != 0 { (rng.f(0.25, 2.0), rng.f(0.25, 2.0)) } else { (1.0, 1.0) };
    let kn = |scale: f64| -> Vec<f64> { (0..k * n).map(|i| wt[(i % n) * k + i / n] * scale).collect() };
    if arg & 0x40 != 0 && alpha == 1.0 {
        // MatMul with [k, n] weights, then Add of the bias.
        let w = ea.init("fcw", &[k, n], &f32s(&kn(1.0)));
        let m = ea.node("MatMul", &[xa, &w], &[]);
        let b = ea.init("fcb", &[n], &f32s(&bias));
        *xa = ea.node("Add", &[&m, &b], &[]);
    } else {
        let (w, b) = (ea.init("fcw", &[n, k], &f32s(&wt)), ea.init("fcb", &[n], &f32s(&bias)));
        let attrs = [Attr::Int("transB", 1), Attr::Float("alpha", alpha as f32), Attr::Float("beta", beta as f32)];
        *xa = ea.node("Gemm", &[xa, &w, &b], &attrs);
    }
    let bias_f: Vec<f64> = bias.iter().map(|v| v * beta).collect();
    let (w, b) = (fo.init("fcw", &[k, n], &f32s(&kn(alpha))), fo.init("fcb", &[n], &f32s(&bias_f)));
    *xf = fo.node("Gemm", &[xf, &w, &b], &[]);
    activation(ea, xa, fo, xf, (arg >> 4) % 2);
    *flat = Some(n);
}
