//! ONNX export: an IR graph written as an `.onnx` model in QDQ form (what onnxruntime's
//! `quantize_static` writes with `QuantFormat.QDQ`), which onnxruntime runs and accelsim's
//! own reader ([`crate::import::onnx`]) reads back to a graph that executes bit-identically.
//!
//! - **Operators in float between Q/DQ pairs.** Every quantized activation is the output of a
//!   `QuantizeLinear` (named as the IR tensor, so `exec --dump` files line up) and is read
//!   through a `DequantizeLinear` with the same scale and zero point; each IR layer is its
//!   ONNX operator on those float values, its fused activation a `Relu` / `Clip` before the
//!   output's `QuantizeLinear`. Float tensors are written as they are, so a float graph is
//!   written as a plain float model.
//! - **Weights** are int8 / uint8 initializers (narrower widths held in 8 bits, exactly)
//!   with a `DequantizeLinear` per tensor or per output channel; biases int32 initializers
//!   with scale `input scale x weight scale`, as onnxruntime's quantizer writes them.
//! - **Layout.** ONNX is channels-first: every rank-4 tensor is written NCHW (the IR holds it
//!   NHWC), Conv weights OIHW, ConvTranspose `[in, out, kh, kw]`, and every axis attribute is
//!   mapped. Layers that compute in the IR's order (Reshape, fully connected over a flattened
//!   map, Slice, Transpose, MatMul) read a rank-4 tensor through a `Transpose` 0,2,3,1 and
//!   write a rank-4 result back through 0,3,1,2, each followed by a Q/DQ pair that repeats the
//!   tensor's parameters (onnxruntime moves no value; accelsim's importer sees a change of
//!   view). So a rank-4 input and output are NCHW: run `accelsim exec --layout nchw` on them.
//! - **Opset** 17 (IR version 8), or 21 (IR version 10) when an activation is 16-bit
//!   (`QuantizeLinear` to int16 needs opset 21).
//!
//! Refused with an error naming the layer or tensor, before anything is written: RESIZE
//! (not written yet), softmax with a beta other than 1, activations narrower than 8 bits or
//! other than 8 or 16 bits (onnxruntime's quantized types), fp16 tensors, 64-bit biases
//! whose values do not fit int32, and broadcasting of a lower-rank activation against a
//! rank-4 one (its channels-first view would not broadcast the same way).

use std::collections::{HashMap, HashSet};

use prost::Message;

use super::ExportError;
use crate::import::onnx::{elementwise, pb};
use crate::ir::{
    resolve_padding, Activation, Convert, DataType, Direction, Graph, Layer, Layout, Op, PoolKind, RecurrentKind,
    Reduce, ReduceKind, Tensor, TensorData, TensorId, TensorKind, UnaryKind,
};

type Res<T> = Result<T, ExportError>;

/// ONNX's element type codes (`TensorProto.DataType`).
mod elem {
    pub const FLOAT: i32 = 1;
    pub const UINT8: i32 = 2;
    pub const INT8: i32 = 3;
    pub const UINT16: i32 = 4;
    pub const INT16: i32 = 5;
    pub const INT32: i32 = 6;
    pub const INT64: i32 = 7;
}

/// The order in which the ONNX model holds an IR tensor's axes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Order {
    /// The IR's own order (NHWC at rank 4).
    Ir,
    /// Channels first: ONNX axis `d` is IR axis `[0, 3, 1, 2][d]` (rank 4 only).
    Nchw,
}

impl Order {
    /// The order a tensor of this rank is kept in between layers.
    fn canonical(rank: usize) -> Order {
        if rank == 4 {
            Order::Nchw
        } else {
            Order::Ir
        }
    }

    /// Output axis `d` of the ONNX tensor is IR axis `perm[d]`.
    fn perm(self, rank: usize) -> Vec<usize> {
        match self {
            Order::Ir => (0..rank).collect(),
            Order::Nchw => vec![0, 3, 1, 2],
        }
    }

    /// The ONNX axis that holds IR axis `a`.
    fn axis(self, a: usize) -> usize {
        match self {
            Order::Ir => a,
            Order::Nchw => [0, 2, 3, 1].get(a).copied().unwrap_or(a),
        }
    }
}

/// Serializes a graph as an ONNX model (QDQ form when it is quantized).
pub fn to_onnx(g: &Graph) -> Res<Vec<u8>> {
    let wide = g.tensors.iter().any(|t| !t.is_constant() && t.dtype.is_int() && t.dtype.bits() > 8);
    let opset = if wide { 21 } else { 17 };
    let mut w = Writer {
        g,
        opset,
        nodes: Vec::new(),
        inits: Vec::new(),
        names: g.tensors.iter().map(|t| t.name.clone()).collect(),
        floats: HashMap::new(),
        ints: HashMap::new(),
        consts: HashMap::new(),
        qparams: HashMap::new(),
        claimed: HashSet::new(),
    };
    for t in &g.tensors {
        check_tensor(t)?;
    }
    let mut inputs = Vec::new();
    for &id in &g.inputs {
        inputs.push(w.graph_input(id)?);
    }
    for l in &g.layers {
        w.layer(l)?;
    }
    let mut outputs = Vec::new();
    for &id in &g.outputs {
        outputs.push(w.graph_output(id)?);
    }
    let graph = pb::GraphProto {
        node: w.nodes,
        name: g.name.clone(),
        initializer: w.inits,
        input: inputs,
        output: outputs,
        ..Default::default()
    };
    let model = pb::ModelProto {
        ir_version: if wide { 10 } else { 8 },
        opset_import: vec![pb::OperatorSetIdProto { domain: String::new(), version: opset }],
        producer_name: "accelsim".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: format!("accelsim export of {}", g.name),
        graph: Some(graph),
        ..Default::default()
    };
    Ok(model.encode_to_vec())
}

fn layer_err(g: &Graph, l: &Layer, message: String) -> ExportError {
    ExportError::Layer { layer: l.name.clone(), op: g.op_name(l).to_string(), message }
}

fn tensor_err(t: &Tensor, message: String) -> ExportError {
    ExportError::Tensor { tensor: t.name.clone(), message }
}

/// Element types ONNX (and onnxruntime's QDQ kernels) hold: activations float32 or 8- and
/// 16-bit integers, constants any integer up to 32 bits (held in the next ONNX type up), 64-bit
/// biases when their values fit int32.
fn check_tensor(t: &Tensor) -> Res<()> {
    match t.dtype {
        DataType::F32 => Ok(()),
        DataType::F16 => Err(tensor_err(t, "fp16 tensors are not written to ONNX".into())),
        DataType::Int { bits, .. } if !t.is_constant() && bits != 8 && bits != 16 => Err(tensor_err(
            t,
            format!(
                "{}-bit activations: onnxruntime's QuantizeLinear writes 8- and 16-bit integers; \
                 write other widths as .aqm",
                bits
            ),
        )),
        DataType::Int { bits, .. } if t.kind == TensorKind::Weight && bits > 8 => Err(tensor_err(
            t,
            format!("{bits}-bit weights: QDQ weights are written as 8-bit integers; write wider ones as .aqm"),
        )),
        DataType::Int { .. } => Ok(()),
    }
}

/// The ONNX element type that holds an IR element type.
fn elem_type(t: &Tensor) -> Res<i32> {
    Ok(match t.dtype {
        DataType::F32 => elem::FLOAT,
        DataType::Int { bits: 1..=8, signed: true } => elem::INT8,
        DataType::Int { bits: 1..=8, signed: false } => elem::UINT8,
        DataType::Int { bits: 9..=16, signed: true } => elem::INT16,
        DataType::Int { bits: 9..=16, signed: false } => elem::UINT16,
        DataType::Int { bits: 17..=32, signed: true } => elem::INT32,
        // 16x8 biases: written as int32, which DequantizeLinear reads (values checked).
        DataType::Int { bits: 33..=64, signed: true } => elem::INT32,
        other => return Err(tensor_err(t, format!("element type {other} has no ONNX type here"))),
    })
}

/// Little-endian bytes of integer values in an ONNX element type, each checked to fit.
fn encode_ints(t: &Tensor, ty: i32, v: impl Iterator<Item = i64>) -> Res<Vec<u8>> {
    let (lo, hi, width) = match ty {
        elem::INT8 => (i8::MIN as i64, i8::MAX as i64, 1),
        elem::UINT8 => (0, u8::MAX as i64, 1),
        elem::INT16 => (i16::MIN as i64, i16::MAX as i64, 2),
        elem::UINT16 => (0, u16::MAX as i64, 2),
        elem::INT32 => (i32::MIN as i64, i32::MAX as i64, 4),
        _ => (i64::MIN, i64::MAX, 8),
    };
    let mut out = Vec::new();
    for x in v {
        if x < lo || x > hi {
            return Err(tensor_err(t, format!("value {x} does not fit the ONNX type it is written as")));
        }
        out.extend_from_slice(&x.to_le_bytes()[..width]);
    }
    Ok(out)
}

/// `v` (row-major, `shape`) with its axes permuted: output axis `d` is input axis `perm[d]`.
fn permute<T: Copy>(v: &[T], shape: &[usize], perm: &[usize]) -> Vec<T> {
    let rank = shape.len();
    let mut strides = vec![1usize; rank];
    for d in (0..rank.saturating_sub(1)).rev() {
        strides[d] = strides[d + 1] * shape[d + 1];
    }
    let out_shape: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
    let mut out = Vec::with_capacity(v.len());
    let mut idx = vec![0usize; rank];
    for _ in 0..v.len() {
        let src: usize = (0..rank).map(|d| idx[d] * strides[perm[d]]).sum();
        out.push(v[src]);
        for d in (0..rank).rev() {
            idx[d] += 1;
            if idx[d] < out_shape[d] {
                break;
            }
            idx[d] = 0;
        }
    }
    out
}

fn attr_int(name: &str, i: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i,
        ..Default::default()
    }
}

fn attr_ints(name: &str, v: &[usize]) -> pb::AttributeProto {
    attr_i64s(name, v.iter().map(|&x| x as i64).collect())
}

fn attr_i64s(name: &str, ints: Vec<i64>) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Ints as i32,
        ints,
        ..Default::default()
    }
}

fn attr_float(name: &str, f: f32) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Float as i32,
        f,
        ..Default::default()
    }
}

fn attr_str(name: &str, s: &str) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::String as i32,
        s: s.as_bytes().to_vec(),
        ..Default::default()
    }
}

fn value_info(name: &str, elem_type: i32, shape: &[usize]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension, Dimension};
    let dim = shape
        .iter()
        .map(|&d| Dimension { value: Some(dimension::Value::DimValue(d as i64)), ..Default::default() })
        .collect();
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type,
                shape: Some(pb::TensorShapeProto { dim }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

struct Writer<'g> {
    g: &'g Graph,
    opset: i64,
    nodes: Vec<pb::NodeProto>,
    inits: Vec<pb::TensorProto>,
    /// Every value and initializer name taken (IR tensor names reserved up front).
    names: HashSet<String>,
    /// The float value holding an activation in an order.
    floats: HashMap<(TensorId, Order), String>,
    /// The integer value (a QuantizeLinear's output) of a quantized activation, in its
    /// canonical order.
    ints: HashMap<TensorId, String>,
    /// The float value of a constant, by the rank it is broadcast to and the permutation.
    consts: HashMap<(TensorId, usize, Vec<usize>), String>,
    /// Scale and zero-point initializers of an activation's (per-tensor) parameters.
    qparams: HashMap<TensorId, (String, String)>,
    /// IR tensor names already given to a value.
    claimed: HashSet<String>,
}

impl Writer<'_> {
    /// The IR tensor's own name for the value that holds it between layers (reserved up
    /// front, so no derived name takes it), or a fresh one if it was given out already.
    fn claim(&mut self, id: TensorId) -> String {
        let name = self.g.tensor(id).name.clone();
        if self.claimed.insert(name.clone()) {
            name
        } else {
            self.fresh(&name)
        }
    }

    /// A value name not taken yet, from `base`.
    fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 1;
        while self.names.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.names.insert(name.clone());
        name
    }

    fn node(&mut self, op: &str, inputs: Vec<String>, outputs: Vec<String>, attribute: Vec<pb::AttributeProto>) {
        let name = format!("{}_{}", op, self.nodes.len());
        self.nodes.push(pb::NodeProto {
            input: inputs,
            output: outputs,
            name,
            op_type: op.into(),
            attribute,
            ..Default::default()
        });
    }

    /// One node with one fresh output named from `base`; returns the output's name.
    fn node1(&mut self, op: &str, inputs: Vec<String>, base: &str, attribute: Vec<pb::AttributeProto>) -> String {
        let out = self.fresh(base);
        self.node(op, inputs, vec![out.clone()], attribute);
        out
    }

    fn init(&mut self, base: &str, data_type: i32, dims: &[usize], raw_data: Vec<u8>) -> String {
        let name = self.fresh(base);
        self.inits.push(pb::TensorProto {
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type,
            name: name.clone(),
            raw_data,
            ..Default::default()
        });
        name
    }

    fn init_i64(&mut self, base: &str, v: &[i64]) -> String {
        let raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.init(base, elem::INT64, &[v.len()], raw)
    }

    fn init_f32(&mut self, base: &str, dims: &[usize], v: &[f32]) -> String {
        let raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.init(base, elem::FLOAT, dims, raw)
    }

    /// Scale and zero-point initializers of a tensor's parameters (scalars per tensor, one
    /// entry per channel otherwise), the zero point in the tensor's ONNX type.
    fn qparam_inits(&mut self, t: &Tensor) -> Res<(String, String)> {
        let Some(q) = &t.quant else {
            return Err(tensor_err(t, "has no quantization parameters".into()));
        };
        if t.groups.is_some() && q.scales.len() > 1 {
            return Err(tensor_err(
                t,
                "has group-wise scales, which a QDQ DequantizeLinear of this exporter (per tensor or per axis) cannot hold; keep them in a .aqm file".into(),
            ));
        }
        let dims: Vec<usize> = if q.scales.len() == 1 { vec![] } else { vec![q.scales.len()] };
        let scale = self.init_f32(&format!("{}/scale", t.name), &dims, &q.scales);
        let ty = elem_type(t)?;
        let raw = encode_ints(t, ty, q.zero_points.iter().copied())?;
        let zp = self.init(&format!("{}/zero_point", t.name), ty, &dims, raw);
        Ok((scale, zp))
    }

    /// The per-tensor parameters of an activation, written once.
    fn act_qparams(&mut self, id: TensorId) -> Res<(String, String)> {
        if let Some(p) = self.qparams.get(&id) {
            return Ok(p.clone());
        }
        let t = self.g.tensor(id);
        if t.quant.as_ref().is_some_and(|q| q.scales.len() != 1) {
            return Err(tensor_err(t, "per-channel activation parameters: QDQ activations are per tensor".into()));
        }
        let p = self.qparam_inits(t)?;
        self.qparams.insert(id, p.clone());
        Ok(p)
    }

    fn quantized(&self, id: TensorId) -> bool {
        let t = self.g.tensor(id);
        t.dtype.is_int() && t.quant.is_some()
    }

    /// `QuantizeLinear` of float value `f` with activation `id`'s parameters.
    fn quantize(&mut self, id: TensorId, f: String, base: &str) -> Res<String> {
        let (s, z) = self.act_qparams(id)?;
        Ok(self.node1("QuantizeLinear", vec![f, s, z], base, vec![]))
    }

    /// `DequantizeLinear` of integer value `q` with activation `id`'s parameters.
    fn dequantize(&mut self, id: TensorId, q: String, base: &str) -> Res<String> {
        let (s, z) = self.act_qparams(id)?;
        Ok(self.node1("DequantizeLinear", vec![q, s, z], base, vec![]))
    }

    /// `f` (a float value of activation `id` computed by a node that reads a dequantized
    /// value and is not a layer's last) quantized and dequantized again with `id`'s
    /// parameters, so that every operator sits between a DQ and a Q; float tensors pass.
    fn requantize(&mut self, id: TensorId, f: String) -> Res<String> {
        if !self.quantized(id) {
            return Ok(f);
        }
        let name = self.g.tensor(id).name.clone();
        let q = self.quantize(id, f, &format!("{name}/q"))?;
        self.dequantize(id, q, &format!("{name}/dq"))
    }

    fn graph_input(&mut self, id: TensorId) -> Res<pb::ValueInfoProto> {
        let t = self.g.tensor(id);
        let order = Order::canonical(t.shape.len());
        let shape: Vec<usize> = order.perm(t.shape.len()).iter().map(|&p| t.shape[p]).collect();
        let ty = elem_type(t)?;
        let name = self.claim(id);
        if self.quantized(id) {
            self.ints.insert(id, name.clone());
        } else {
            self.floats.insert((id, order), name.clone());
        }
        Ok(value_info(&name, ty, &shape))
    }

    /// The output named as the IR tensor (through an Identity when its value has another
    /// name), in its canonical order.
    fn graph_output(&mut self, id: TensorId) -> Res<pb::ValueInfoProto> {
        let t = self.g.tensor(id);
        let order = Order::canonical(t.shape.len());
        let shape: Vec<usize> = order.perm(t.shape.len()).iter().map(|&p| t.shape[p]).collect();
        let value = if self.quantized(id) { self.ints.get(&id) } else { self.floats.get(&(id, order)) };
        let Some(value) = value.cloned() else {
            return Err(tensor_err(t, "is a graph output no layer computes".into()));
        };
        let name = if value == t.name {
            value
        } else {
            let name = self.claim(id);
            self.node("Identity", vec![value], vec![name.clone()], vec![]);
            name
        };
        Ok(value_info(&name, elem_type(t)?, &shape))
    }

    /// The float value of tensor `id` in `order`: a constant's initializer (dequantized when
    /// it is integer), or an activation's dequantized value, transposed when `order` is not
    /// the one it is kept in.
    fn float_in(&mut self, id: TensorId, order: Order) -> Res<String> {
        let t = self.g.tensor(id);
        let rank = t.shape.len();
        if t.is_constant() {
            return self.constant(id, rank, &order.perm(rank));
        }
        if let Some(f) = self.floats.get(&(id, order)) {
            return Ok(f.clone());
        }
        let canonical = Order::canonical(rank);
        let name = t.name.clone();
        let f = if order == canonical {
            let Some(q) = self.ints.get(&id).cloned() else {
                return Err(tensor_err(t, "is read before a layer computes it".into()));
            };
            self.dequantize(id, q, &format!("{name}/dq"))?
        } else {
            let src = self.float_in(id, canonical)?;
            let to = order.perm(rank);
            let perm: Vec<usize> = to.iter().map(|&a| canonical.axis(a)).collect();
            let f = self.node1("Transpose", vec![src], &format!("{name}/t"), vec![attr_ints("perm", &perm)]);
            self.requantize(id, f)?
        };
        self.floats.insert((id, order), f.clone());
        Ok(f)
    }

    /// A constant as an initializer, broadcast to `rank` (leading axes of 1) and permuted
    /// (output axis `d` is the broadcast tensor's axis `perm[d]`); integer constants through a
    /// `DequantizeLinear` whose axis follows the permutation.
    fn constant(&mut self, id: TensorId, rank: usize, perm: &[usize]) -> Res<String> {
        let key = (id, rank, perm.to_vec());
        if let Some(f) = self.consts.get(&key) {
            return Ok(f.clone());
        }
        let t = self.g.tensor(id);
        let Some(data) = &t.data else {
            return Err(tensor_err(t, "a constant without values (materialize the weights first)".into()));
        };
        if data.len() as u64 != t.elements() || t.shape.len() > rank {
            return Err(tensor_err(t, format!("{} values for shape {:?}", data.len(), t.shape)));
        }
        let lead = rank - t.shape.len();
        let shape: Vec<usize> = std::iter::repeat(1).take(lead).chain(t.shape.iter().copied()).collect();
        let dims: Vec<usize> = perm.iter().map(|&p| shape[p]).collect();
        let name = t.name.clone();
        let f = match (t.dtype, data) {
            (DataType::F32, TensorData::F32(v)) => self.init_f32(&name, &dims, &permute(v, &shape, perm)),
            (DataType::Int { .. }, TensorData::I8(_) | TensorData::I32(_) | TensorData::I64(_)) => {
                let ints = data.ints_i64().unwrap_or_default();
                let ty = elem_type(t)?;
                let raw = encode_ints(t, ty, permute(&ints, &shape, perm).into_iter())?;
                let q = self.init(&name, ty, &dims, raw);
                let (s, z) = self.qparam_inits(t)?;
                let mut attrs = Vec::new();
                if let Some(a) = t.quant.as_ref().filter(|q| q.scales.len() > 1).and_then(|q| q.axis) {
                    let moved = perm.iter().position(|&p| p == a + lead).unwrap_or(a + lead);
                    attrs.push(attr_int("axis", moved as i64));
                }
                self.node1("DequantizeLinear", vec![q, s, z], &format!("{name}/dq"), attrs)
            }
            _ => return Err(tensor_err(t, format!("a {} tensor holding values of another type", t.dtype))),
        };
        self.consts.insert(key, f.clone());
        Ok(f)
    }

    /// Records float value `f` (in `order`) as activation `id`: quantized with its
    /// parameters when it is an integer tensor, then brought to its canonical order.
    fn produce(&mut self, id: TensorId, f: String, order: Order) -> Res<()> {
        let t = self.g.tensor(id);
        let rank = t.shape.len();
        let canonical = Order::canonical(rank);
        let name = t.name.clone();
        if self.quantized(id) {
            if order == canonical {
                let (s, z) = self.act_qparams(id)?;
                let q = self.claim(id);
                self.node("QuantizeLinear", vec![f, s, z], vec![q.clone()], vec![]);
                self.ints.insert(id, q);
                return Ok(());
            }
            let q = self.quantize(id, f, &format!("{name}/q"))?;
            let f = self.dequantize(id, q, &format!("{name}/dq"))?;
            self.floats.insert((id, order), f.clone());
            let perm: Vec<usize> = canonical.perm(rank).iter().map(|&a| order.axis(a)).collect();
            let tr = self.node1("Transpose", vec![f], &format!("{name}/t"), vec![attr_ints("perm", &perm)]);
            let (s, z) = self.act_qparams(id)?;
            let q = self.claim(id);
            self.node("QuantizeLinear", vec![tr, s, z], vec![q.clone()], vec![]);
            self.ints.insert(id, q);
        } else {
            self.floats.insert((id, order), f.clone());
            if order != canonical {
                let perm: Vec<usize> = canonical.perm(rank).iter().map(|&a| order.axis(a)).collect();
                let tr = self.claim(id);
                self.node("Transpose", vec![f], vec![tr.clone()], vec![attr_ints("perm", &perm)]);
                self.floats.insert((id, canonical), tr);
            }
        }
        Ok(())
    }

    /// A layer's single output: its fused activation applied, then [`Writer::produce`].
    fn finish(&mut self, l: &Layer, f: String, order: Order) -> Res<()> {
        let out = l.outputs[0];
        let base = format!("{}/act", self.g.tensor(out).name);
        let f = match l.activation {
            Activation::None => f,
            Activation::Relu => self.node1("Relu", vec![f], &base, vec![]),
            Activation::Relu6 | Activation::ReluN1To1 => {
                let (lo, hi) = l.activation.range();
                let c = self.clip_bounds(lo, hi);
                self.node1("Clip", [vec![f], c].concat(), &base, vec![])
            }
        };
        self.produce(out, f, order)
    }

    fn clip_bounds(&mut self, lo: f32, hi: f32) -> Vec<String> {
        vec![self.init_f32("clip_min", &[], &[lo]), self.init_f32("clip_max", &[], &[hi])]
    }

    /// An axes operand: an attribute before `since`, an int64 input from it.
    fn axes(&mut self, since: i64, axes: &[usize], inputs: &mut Vec<String>, attrs: &mut Vec<pb::AttributeProto>) {
        if self.opset >= since {
            let v: Vec<i64> = axes.iter().map(|&a| a as i64).collect();
            inputs.push(self.init_i64("axes", &v));
        } else {
            attrs.push(attr_ints("axes", axes));
        }
    }

    fn layer(&mut self, l: &Layer) -> Res<()> {
        let g = self.g;
        let err = |m: String| layer_err(g, l, m);
        let x_id = *l.inputs.first().ok_or_else(|| err("has no input".into()))?;
        let out_id = *l.outputs.first().ok_or_else(|| err("has no output".into()))?;
        let x = g.tensor(x_id);
        let out = g.tensor(out_id);
        let rank = x.shape.len();
        let out_rank = out.shape.len();
        let base = out.name.clone();
        if l.activation != Activation::None
            && !matches!(
                l.op,
                Op::Conv2d(_)
                    | Op::FullyConnected(_)
                    | Op::TransposeConv(_)
                    | Op::Binary(_)
                    | Op::Pool(_)
                    | Op::Layout(Layout::Concat { .. })
            )
        {
            return Err(err(format!("a fused {} on this operator", l.activation.name())));
        }
        if g.is_hybrid(l) {
            return Err(err(
                "LiteRT's hybrid form (a float input quantized per row or per image when it runs, against integer weights), which a QDQ Gemm or Conv would not compute".into(),
            ));
        }
        let spatial = |what: &str| -> Res<()> {
            if rank == 4 {
                Ok(())
            } else {
                Err(err(format!("{what} of a rank-{rank} input (NHWC, rank 4, expected)")))
            }
        };
        match &l.op {
            Op::Conv2d(c) => {
                spatial("a convolution")?;
                let xf = self.float_in(x_id, Order::Nchw)?;
                let w = self.weight(l, 1, &[0, 3, 1, 2])?;
                let mut ins = vec![xf, w];
                if c.bias {
                    ins.push(self.weight(l, 2, &[0])?);
                }
                let p = resolve_padding(c.padding, [x.shape[1], x.shape[2]], c.kernel, c.stride, c.dilation);
                let attrs = vec![
                    attr_ints("kernel_shape", &c.kernel),
                    attr_ints("strides", &c.stride),
                    attr_ints("dilations", &c.dilation),
                    attr_ints("pads", &[p.top, p.left, p.bottom, p.right]),
                    attr_int("group", c.groups as i64),
                ];
                let f = self.node1("Conv", ins, &format!("{base}/conv"), attrs);
                self.finish(l, f, Order::Nchw)
            }
            Op::TransposeConv(t) => {
                spatial("a transposed convolution")?;
                let xf = self.float_in(x_id, Order::Nchw)?;
                // OHWI [out, kh, kw, in] as ONNX's [in, out, kh, kw].
                let w = self.weight(l, 1, &[3, 0, 1, 2])?;
                let mut ins = vec![xf, w];
                if t.bias {
                    ins.push(self.weight(l, 2, &[0])?);
                }
                let mut ends = [0usize; 2];
                let mut extra = [0usize; 2];
                for d in 0..2 {
                    let full = (x.shape[1 + d].saturating_sub(1)) * t.stride[d] + t.kernel[d];
                    let need = t.pad[d] + t.output[d];
                    if full >= need {
                        ends[d] = full - need;
                    } else if need - full < t.stride[d] {
                        extra[d] = need - full;
                    } else {
                        return Err(err(format!(
                            "output {:?} is larger than ONNX's ConvTranspose can give ({full} along axis {d})",
                            t.output
                        )));
                    }
                }
                let attrs = vec![
                    attr_ints("kernel_shape", &t.kernel),
                    attr_ints("strides", &t.stride),
                    attr_ints("pads", &[t.pad[0], t.pad[1], ends[0], ends[1]]),
                    attr_ints("output_padding", &extra),
                ];
                let f = self.node1("ConvTranspose", ins, &format!("{base}/convt"), attrs);
                self.finish(l, f, Order::Nchw)
            }
            Op::FullyConnected(fc) => {
                let mut xf = self.float_in(x_id, Order::Ir)?;
                let w = self.weight(l, 1, &[0, 1])?;
                let k = g.tensor(l.inputs[1]).shape.get(1).copied().unwrap_or(1);
                if rank != 2 {
                    let rows = (x.elements() as usize) / k.max(1);
                    let shape = self.init_i64(&format!("{base}/flat_shape"), &[rows as i64, k as i64]);
                    let r = self.node1("Reshape", vec![xf, shape], &format!("{}/flat", x.name), vec![]);
                    xf = self.requantize(x_id, r)?;
                }
                let mut ins = vec![xf, w];
                if fc.bias {
                    ins.push(self.weight(l, 2, &[0])?);
                }
                let mut f = self.node1("Gemm", ins, &format!("{base}/gemm"), vec![attr_int("transB", 1)]);
                if out_rank != 2 {
                    // `keep_dims`: the rows back into the input's leading axes (exact in float).
                    let dims: Vec<i64> = g.tensor(l.outputs[0]).shape.iter().map(|&d| d as i64).collect();
                    let shape = self.init_i64(&format!("{base}/out_shape"), &dims);
                    f = self.node1("Reshape", vec![f, shape], &format!("{base}/unflat"), vec![]);
                }
                self.finish(l, f, Order::Ir)
            }
            Op::MatMul(m) => {
                let b_id = *l.inputs.get(1).ok_or_else(|| err("has no second operand".into()))?;
                let mut a = self.float_in(x_id, Order::Ir)?;
                let mut b = self.float_in(b_id, Order::Ir)?;
                for (adj, v, id) in [(m.adj_x, &mut a, x_id), (m.adj_y, &mut b, b_id)] {
                    if adj {
                        let r = g.tensor(id).shape.len();
                        let mut perm: Vec<usize> = (0..r).collect();
                        perm.swap(r - 1, r - 2);
                        let tname = format!("{}/adj", g.tensor(id).name);
                        let tr = self.node1("Transpose", vec![v.clone()], &tname, vec![attr_ints("perm", &perm)]);
                        *v = self.requantize(id, tr)?;
                    }
                }
                let f = self.node1("MatMul", vec![a, b], &format!("{base}/matmul"), vec![]);
                self.finish(l, f, Order::Ir)
            }
            Op::Binary(kind) => {
                let order = Order::canonical(out_rank);
                let mut ins = Vec::new();
                for &id in &l.inputs {
                    let t = g.tensor(id);
                    let r = t.shape.len();
                    let v = if r == out_rank {
                        self.float_in(id, order)?
                    } else if t.is_constant() {
                        self.constant(id, out_rank, &order.perm(out_rank))?
                    } else if order == Order::Ir {
                        self.float_in(id, Order::Ir)?
                    } else {
                        return Err(err(format!(
                            "broadcasting rank-{r} '{}' against a rank-4 tensor (its NCHW view broadcasts otherwise)",
                            t.name
                        )));
                    };
                    ins.push(v);
                }
                let f = match elementwise::binary_op_type(*kind) {
                    Some(op) => self.node1(op, ins, &format!("{base}/{}", op.to_lowercase()), vec![]),
                    // ONNX has no squared difference: (a - b) then its square, in float. A
                    // quantized one has no QDQ form (the difference has no quantization of
                    // its own to write, and the importer reads DQ -> op -> Q only).
                    None if self.g.tensor(l.outputs[0]).dtype.is_int() => {
                        return Err(err(
                            "ONNX has no SQUARED_DIFFERENCE operator and a quantized one has no QDQ form; write the model as .tflite or .aqm"
                                .into(),
                        ))
                    }
                    None => {
                        let d = self.node1("Sub", ins, &format!("{base}/sub"), vec![]);
                        self.node1("Mul", vec![d.clone(), d], &format!("{base}/mul"), vec![])
                    }
                };
                self.finish(l, f, order)
            }
            Op::Unary(kind) => {
                let order = Order::canonical(rank);
                let xf = self.float_in(x_id, order)?;
                let b = format!("{base}/f");
                let f = match kind {
                    UnaryKind::Logistic => self.node1("Sigmoid", vec![xf], &b, vec![]),
                    UnaryKind::Tanh => self.node1("Tanh", vec![xf], &b, vec![]),
                    UnaryKind::HardSwish => self.node1("HardSwish", vec![xf], &b, vec![]),
                    UnaryKind::LeakyRelu { alpha } => {
                        self.node1("LeakyRelu", vec![xf], &b, vec![attr_float("alpha", *alpha)])
                    }
                    UnaryKind::Relu => self.node1("Relu", vec![xf], &b, vec![]),
                    UnaryKind::Relu6 | UnaryKind::ReluN1To1 => {
                        let (lo, hi) =
                            if *kind == UnaryKind::Relu6 { Activation::Relu6 } else { Activation::ReluN1To1 }.range();
                        let c = self.clip_bounds(lo, hi);
                        self.node1("Clip", [vec![xf], c].concat(), &b, vec![])
                    }
                    UnaryKind::Sqrt => self.node1("Sqrt", vec![xf], &b, vec![]),
                    UnaryKind::Rsqrt => {
                        let s = self.node1("Sqrt", vec![xf], &format!("{base}/sqrt"), vec![]);
                        self.node1("Reciprocal", vec![s], &b, vec![])
                    }
                    UnaryKind::Log => self.node1("Log", vec![xf], &b, vec![]),
                    UnaryKind::Neg => self.node1("Neg", vec![xf], &b, vec![]),
                    UnaryKind::Square => self.node1("Mul", vec![xf.clone(), xf], &b, vec![]),
                    UnaryKind::HardSigmoid { alpha, beta } => self.node1(
                        "HardSigmoid",
                        vec![xf],
                        &b,
                        vec![attr_float("alpha", *alpha), attr_float("beta", *beta)],
                    ),
                    UnaryKind::Gelu | UnaryKind::GeluTanh | UnaryKind::Silu => {
                        return Err(err(format!(
                            "ONNX export does not write {} yet (issue 19); write the model as .aqm",
                            l.op.name()
                        )))
                    }
                };
                self.finish(l, f, order)
            }
            Op::Pool(p) => {
                spatial("pooling")?;
                let xf = self.float_in(x_id, Order::Nchw)?;
                let e = resolve_padding(p.padding, [x.shape[1], x.shape[2]], p.kernel, p.stride, [1, 1]);
                let mut attrs = vec![
                    attr_ints("kernel_shape", &p.kernel),
                    attr_ints("strides", &p.stride),
                    attr_ints("pads", &[e.top, e.left, e.bottom, e.right]),
                ];
                let op = match p.kind {
                    PoolKind::Max => "MaxPool",
                    PoolKind::Avg => {
                        attrs.push(attr_int("count_include_pad", 0));
                        "AveragePool"
                    }
                };
                let f = self.node1(op, vec![xf], &format!("{base}/pool"), attrs);
                self.finish(l, f, Order::Nchw)
            }
            Op::Reduce(Reduce { kind, axes, keep_dims }) => {
                // Without kept axes, what remains of an NCHW view is in the IR's order only
                // when C goes or H and W both go.
                let nchw_ok = *keep_dims || axes.contains(&3) || (axes.contains(&1) && axes.contains(&2));
                let order = if rank == 4 && nchw_ok { Order::Nchw } else { Order::Ir };
                let xf = self.float_in(x_id, order)?;
                let mut onnx_axes: Vec<usize> = axes.iter().map(|&a| order.axis(a)).collect();
                onnx_axes.sort_unstable();
                let (op, since) = match kind {
                    ReduceKind::Mean => ("ReduceMean", 18),
                    ReduceKind::Max => ("ReduceMax", 18),
                };
                let mut ins = vec![xf];
                let mut attrs = vec![attr_int("keepdims", *keep_dims as i64)];
                self.axes(since, &onnx_axes, &mut ins, &mut attrs);
                let f = self.node1(op, ins, &format!("{base}/reduce"), attrs);
                let out_order = if out_rank == 4 { order } else { Order::Ir };
                self.finish(l, f, out_order)
            }
            Op::Softmax(s) => {
                if s.causal {
                    return Err(err("a causal softmax (ONNX's Softmax has no mask); write the model as .aqm".into()));
                }
                if s.beta != 1.0 {
                    return Err(err(format!("softmax with beta {} (ONNX's Softmax has none)", s.beta)));
                }
                let order = Order::canonical(rank);
                let xf = self.float_in(x_id, order)?;
                let axis = order.axis(rank.saturating_sub(1));
                let f =
                    self.node1("Softmax", vec![xf], &format!("{base}/softmax"), vec![attr_int("axis", axis as i64)]);
                self.finish(l, f, order)
            }
            Op::Layout(lay) => self.layout(l, lay),
            Op::Norm(_) | Op::Embedding(_) | Op::Rotary(_) => Err(err(format!(
                "ONNX export does not write {} layers yet (issue 19); write the model as .aqm",
                l.op.name()
            ))),
            Op::Recurrent(r) if r.cell_clip.is_some() => Err(err(format!(
                "ONNX has no LSTM cell-state clip (its `clip` bounds the gates' inputs): {} with cell_clip {:?} (LiteRT's) cannot be written; write the model as .aqm",
                r.label(),
                r.cell_clip
            ))),
            Op::Recurrent(r) => {
                // The ONNX node itself: X, W, R, B as they are (the IR keeps ONNX's layout),
                // no sequence_lens, the initial states (constants or activations) in order.
                let mut ins = vec![self.float_in(x_id, Order::Ir)?];
                ins.push(self.weight(l, 1, &[0, 1, 2])?);
                ins.push(self.weight(l, 2, &[0, 1, 2])?);
                ins.push(self.weight(l, 3, &[0, 1])?);
                ins.push(String::new());
                for &s in l.inputs.iter().skip(4) {
                    ins.push(self.float_in(s, Order::Ir)?);
                }
                let direction = match r.direction {
                    Direction::Forward => "forward",
                    Direction::Reverse => "reverse",
                    Direction::Bidirectional => "bidirectional",
                };
                let mut attrs = vec![attr_int("hidden_size", r.hidden as i64), attr_str("direction", direction)];
                if r.kind == RecurrentKind::Gru {
                    attrs.push(attr_int("linear_before_reset", i64::from(r.linear_before_reset)));
                }
                let outs: Vec<String> = l
                    .outputs
                    .iter()
                    .map(|&o| format!("{}/{}", g.tensor(o).name, r.label()))
                    .map(|b| self.fresh(&b))
                    .collect();
                self.node(r.label(), ins, outs.clone(), attrs);
                for (&o, f) in l.outputs.iter().zip(outs) {
                    self.produce(o, f, Order::Ir)?;
                }
                Ok(())
            }
            Op::State(_) => Err(err(
                "ONNX export does not write graph states (a streaming model's variables); write the model as .aqm"
                    .into(),
            )),
            Op::Resize(_) => {
                Err(err("ONNX export does not write RESIZE yet (TensorFlow's coordinate rules would need Resize's \
                 coordinate_transformation_mode); write the model as .tflite or .aqm"
                    .into()))
            }
            Op::Convert(Convert::Quantize) => {
                let order = Order::canonical(rank);
                let xf = self.float_in(x_id, order)?;
                self.produce(out_id, xf, order)
            }
            Op::Convert(Convert::Dequantize) => {
                let order = Order::canonical(rank);
                let Some(q) = self.ints.get(&x_id).cloned() else {
                    return Err(err("dequantizes a tensor that is not an integer activation".into()));
                };
                let (s, z) = self.act_qparams(x_id)?;
                let f = self.claim(out_id);
                self.node("DequantizeLinear", vec![q, s, z], vec![f.clone()], vec![]);
                self.produce(out_id, f, order)
            }
            Op::Convert(Convert::Cast) => Err(err(
                "ONNX export does not write CAST (the exporter writes float and QDQ tensors only); write the model as .tflite or .aqm"
                    .into(),
            )),
        }
    }

    /// A weight or bias operand of layer `l` (input `k`), permuted to ONNX's layout.
    fn weight(&mut self, l: &Layer, k: usize, perm: &[usize]) -> Res<String> {
        let id = *l.inputs.get(k).ok_or_else(|| layer_err(self.g, l, format!("has no input {k}")))?;
        let rank = self.g.tensor(id).shape.len();
        if rank != perm.len() {
            let t = self.g.tensor(id);
            return Err(tensor_err(t, format!("shape {:?}, expected rank {}", t.shape, perm.len())));
        }
        self.constant(id, rank, perm)
    }

    fn layout(&mut self, l: &Layer, lay: &Layout) -> Res<()> {
        let g = self.g;
        let err = |m: String| layer_err(g, l, m);
        let x_id = l.inputs[0];
        let x = g.tensor(x_id);
        let out = g.output(l);
        let rank = x.shape.len();
        let base = out.name.clone();
        match lay {
            Layout::Concat { axis } => {
                let order = Order::canonical(out.shape.len());
                let mut ins = Vec::new();
                for &id in &l.inputs {
                    ins.push(self.float_in(id, order)?);
                }
                let a = order.axis(*axis);
                let f = self.node1("Concat", ins, &format!("{base}/concat"), vec![attr_int("axis", a as i64)]);
                self.finish(l, f, order)
            }
            Layout::Pad { pads } => {
                let order = Order::canonical(rank);
                let xf = self.float_in(x_id, order)?;
                let p = order.perm(rank);
                let mut v: Vec<i64> = p.iter().map(|&a| pads[a].0 as i64).collect();
                v.extend(p.iter().map(|&a| pads[a].1 as i64));
                let pads = self.init_i64(&format!("{base}/pads"), &v);
                let f = self.node1("Pad", vec![xf, pads], &format!("{base}/pad"), vec![]);
                self.finish(l, f, order)
            }
            Layout::Reshape { .. } => {
                let xf = self.float_in(x_id, Order::Ir)?;
                let s: Vec<i64> = out.shape.iter().map(|&d| d as i64).collect();
                let shape = self.init_i64(&format!("{base}/shape"), &s);
                let f = self.node1("Reshape", vec![xf, shape], &format!("{base}/reshape"), vec![]);
                self.finish(l, f, Order::Ir)
            }
            Layout::Slice { begin, size, stride, drop } => {
                let xf = self.float_in(x_id, Order::Ir)?;
                let mut ends = Vec::with_capacity(rank);
                for d in 0..rank {
                    let stop = begin[d] as i64 + size[d] as i64 * stride[d];
                    // A backward window that runs to index 0 ends before it (ONNX clamps).
                    ends.push(if stop < 0 { i64::MIN } else { stop });
                }
                let b: Vec<i64> = begin.iter().map(|&v| v as i64).collect();
                let starts = self.init_i64(&format!("{base}/starts"), &b);
                let ends = self.init_i64(&format!("{base}/ends"), &ends);
                let axes: Vec<i64> = (0..rank as i64).collect();
                let axes = self.init_i64(&format!("{base}/axes"), &axes);
                let steps = self.init_i64(&format!("{base}/steps"), stride);
                let mut f = self.node1("Slice", vec![xf, starts, ends, axes, steps], &format!("{base}/slice"), vec![]);
                if !drop.is_empty() {
                    f = self.requantize(l.outputs[0], f)?;
                    let d: Vec<i64> = drop.iter().map(|&a| a as i64).collect();
                    let axes = self.init_i64(&format!("{base}/squeeze_axes"), &d);
                    f = self.node1("Squeeze", vec![f, axes], &format!("{base}/squeeze"), vec![]);
                }
                self.finish(l, f, Order::Ir)
            }
            Layout::Transpose { perm } => {
                let xf = self.float_in(x_id, Order::Ir)?;
                let f = self.node1("Transpose", vec![xf], &format!("{base}/transpose"), vec![attr_ints("perm", perm)]);
                self.finish(l, f, Order::Ir)
            }
            Layout::DepthToSpace { block } | Layout::SpaceToDepth { block } => {
                if rank != 4 {
                    return Err(err(format!("a rank-{rank} input (NHWC expected)")));
                }
                let xf = self.float_in(x_id, Order::Nchw)?;
                let (op, mut attrs) = match lay {
                    Layout::DepthToSpace { .. } => ("DepthToSpace", vec![attr_str("mode", "DCR")]),
                    _ => ("SpaceToDepth", vec![]),
                };
                attrs.push(attr_int("blocksize", *block as i64));
                let f = self.node1(op, vec![xf], &format!("{base}/{}", op.to_lowercase()), attrs);
                self.finish(l, f, Order::Nchw)
            }
            Layout::Gather { axis, indices, indices_shape } => {
                let order = if rank == 4 && indices_shape.len() == 1 { Order::Nchw } else { Order::Ir };
                let xf = self.float_in(x_id, order)?;
                let v: Vec<i64> = indices.iter().map(|&i| i as i64).collect();
                let raw = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                let idx = self.init(&format!("{base}/indices"), elem::INT64, indices_shape, raw);
                let a = order.axis(*axis) as i64;
                let f = self.node1("Gather", vec![xf, idx], &format!("{base}/gather"), vec![attr_int("axis", a)]);
                let out_order = if out.shape.len() == 4 { order } else { Order::Ir };
                self.finish(l, f, out_order)
            }
            Layout::Tile { multiples } => {
                let xf = self.float_in(x_id, Order::Ir)?;
                let m: Vec<i64> = multiples.iter().map(|&v| v as i64).collect();
                let repeats = self.init_i64(&format!("{base}/repeats"), &m);
                let f = self.node1("Tile", vec![xf, repeats], &format!("{base}/tile"), vec![]);
                self.finish(l, f, Order::Ir)
            }
            Layout::Split { axis, sizes } => {
                let order = Order::canonical(rank);
                let xf = self.float_in(x_id, order)?;
                let s: Vec<i64> = sizes.iter().map(|&v| v as i64).collect();
                let split = self.init_i64(&format!("{base}/split"), &s);
                let outs: Vec<String> =
                    l.outputs.iter().map(|&o| format!("{}/split", g.tensor(o).name)).map(|b| self.fresh(&b)).collect();
                let a = order.axis(*axis) as i64;
                self.node("Split", vec![xf, split], outs.clone(), vec![attr_int("axis", a)]);
                for (&o, f) in l.outputs.iter().zip(outs) {
                    self.produce(o, f, order)?;
                }
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::onnx::import_onnx_bytes;
    use crate::kernels::{value_of, Arithmetic, Executor, Values};

    fn tflite(name: &str) -> Graph {
        let p = format!("{}/../shared/tflite/models/{name}", env!("CARGO_MANIFEST_DIR"));
        crate::import::tflite::import_tflite(p).expect("import").graph
    }

    /// Deterministic inputs covering each input's range (integers from the type's range).
    fn inputs(g: &Graph) -> Vec<Values> {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        g.inputs
            .iter()
            .map(|&id| {
                let t = g.tensor(id);
                let n = t.elements() as usize;
                match t.dtype {
                    DataType::Int { bits, signed } => {
                        let (lo, span) = if signed { (-(1i64 << (bits - 1)), 1i64 << bits) } else { (0, 1i64 << bits) };
                        Values::Int((0..n).map(|_| (lo + (next() * span as f64) as i64) as i32).collect())
                    }
                    _ => Values::F32((0..n).map(|_| (next() * 2.0 - 1.0) as f32).collect()),
                }
            })
            .collect()
    }

    fn outputs(g: &Graph, vals: &[Option<Values>]) -> Vec<Values> {
        g.outputs.iter().map(|&o| value_of(vals, o).expect("output computed").clone()).collect()
    }

    /// A float model quantized as `accelsim quantize --data-free` does (w8a8 per channel).
    fn quantized(name: &str) -> Graph {
        use crate::quant::ptq::{quantize_graph, PtqConfig};
        use crate::quant::{data_free, Precision, WidthPlan};
        let g = tflite(name);
        let cfg = PtqConfig::min_max(WidthPlan::uniform(&g, Precision { weight_bits: 8, activation_bits: 8 }));
        quantize_graph(&g, &data_free::statistics(&g), &cfg).expect("quantize")
    }

    /// Quantized models written as QDQ ONNX and read back execute bit-identically on the
    /// integer kernels (the exporter's Transposes and Q/DQ pairs are views to the importer).
    #[test]
    fn quantized_models_round_trip_bit_identically() {
        for name in ["tiny_float32.tflite", "small_resnet_float32.tflite", "mobilenet_v1_float32.tflite"] {
            let g = quantized(name);
            let bytes = to_onnx(&g).expect("export");
            let back = import_onnx_bytes(&bytes, name).expect("re-import");
            let x = inputs(&g);
            let a = Executor::new(&g, Arithmetic::default()).expect("exec").run(&x).expect("run");
            let b = Executor::new(&back, Arithmetic::default()).expect("exec").run(&x).expect("run back");
            assert_eq!(outputs(&g, &a), outputs(&back, &b), "{name}");
            let layers = |g: &Graph| g.layers.iter().filter(|l| !matches!(l.op, Op::Layout(_))).count();
            assert_eq!(layers(&g), layers(&back), "{name}: computing layers");
        }
    }

    #[test]
    fn narrow_activations_and_resize_are_errors_naming_the_place() {
        let mut g = quantized("tiny_float32.tflite");
        let a = g.layers[1].outputs[0];
        g.tensor_mut(a).dtype = DataType::int(4);
        let e = to_onnx(&g).expect_err("4-bit activations").to_string();
        assert!(e.contains(&g.tensor(a).name) && e.contains("4-bit activations"), "{e}");
        let mut g = quantized("tiny_float32.tflite");
        let w = g.layers[1].inputs[1];
        g.tensor_mut(w).dtype = DataType::int(12);
        let e = to_onnx(&g).expect_err("12-bit weights").to_string();
        assert!(e.contains(&g.tensor(w).name) && e.contains("12-bit weights"), "{e}");
    }

    #[test]
    fn permute_moves_axes() {
        // [2, 3] transposed.
        let v = [0, 1, 2, 3, 4, 5];
        assert_eq!(permute(&v, &[2, 3], &[1, 0]), vec![0, 3, 1, 4, 2, 5]);
        // NHWC [1, 2, 2, 3] to NCHW: channel c of pixel p at c * 4 + p.
        let v: Vec<usize> = (0..12).collect();
        let nchw = permute(&v, &[1, 2, 2, 3], &[0, 3, 1, 2]);
        assert_eq!(nchw, vec![0, 3, 6, 9, 1, 4, 7, 10, 2, 5, 8, 11]);
    }

    #[test]
    fn orders_map_axes_both_ways() {
        for a in 0..4 {
            assert_eq!(Order::Nchw.perm(4)[Order::Nchw.axis(a)], a);
            assert_eq!(Order::Ir.axis(a), a);
        }
    }
}
