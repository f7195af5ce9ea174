//! Bit-exact execution of an [`ir::Graph`](crate::ir::Graph): integer kernels that match
//! LiteRT's reference kernels bit for bit under the default [`Arithmetic`], float32
//! kernels for the reference that quantized results are measured against, and an
//! executor that runs a graph and returns every intermediate tensor.
//!
//! Kernels know nothing of graphs; [`Executor`] resolves each layer's parameters once
//! (requantization multipliers, clamp ranges, packed weights) and then runs any number of
//! inputs. Integer values of every width (2 to 32 bits) live widened in `i32` containers,
//! except that a signed 8-bit tensor a fast convolution writes, or an input quantized for one
//! from floats, is stored as 8 bits ([`Values::I8`]) while a run lasts: every integer reader
//! takes either, and a run's results hold them widened again.
//!
//! Architecture invariant: under the default [`Arithmetic`], the fast kernels and the
//! scalar reference kernels give identical results (property-tested).

pub mod activation;
pub mod buffers;
pub mod conv;
pub mod elem;
pub mod elementwise;
pub mod fc;
pub mod fixedpoint;
pub mod float;
mod float_gemm;
pub mod gemmlowp;
pub mod io;
pub mod kv_cache;
pub mod layout;
pub mod lstm;
pub mod matmul;
pub mod metrics;
pub mod pool;
pub mod qdq_ref;
pub mod resize;
pub mod softmax;
pub mod transpose_conv;

pub use fixedpoint::{Arithmetic, Overflow, QuantMultiplier, Requant, Rounding};
pub use metrics::{layer_sqnr, sqnr_db, top1_agreement, top_k_accuracy, LayerSqnr};
pub use qdq_ref::run_qdq_reference;

use crate::ir::{Activation, DataType, Graph, Layer, QuantParams, Tensor, TensorData, TensorId};
use crate::ops::{IntKernel, LayerCx, OpFamily};

/// The values of one tensor: integers (any width, widened), signed 8-bit integers stored as
/// 8 bits, or floats.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// Integer values.
    Int(Vec<i32>),
    /// The integer values of a tensor of at most 8 signed bits, stored as 8 bits: what a
    /// kernel that writes 8-bit outputs gives for such a tensor while a graph runs, and a
    /// float input quantized for such a tensor ([`io::input_from_f32`]). Every
    /// integer reader takes it as it takes [`Values::Int`] ([`Values::ints`]); the
    /// executor's results never hold it ([`Values::widened`]).
    I8(Vec<i8>),
    /// Float values.
    F32(Vec<f32>),
}

impl Values {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Values::Int(v) => v.len(),
            Values::I8(v) => v.len(),
            Values::F32(v) => v.len(),
        }
    }

    /// The values as i32 integers (borrowed when they are stored so, else widened) or floats.
    pub fn view(&self) -> View<'_> {
        match self {
            Values::Int(v) => View::Int(std::borrow::Cow::Borrowed(v)),
            Values::I8(v) => View::Int(std::borrow::Cow::Owned(v.iter().map(|&x| x as i32).collect())),
            Values::F32(v) => View::F32(v),
        }
    }

    /// The integer values as i32 ([`Values::view`]), `None` for floats.
    pub fn ints(&self) -> Option<std::borrow::Cow<'_, [i32]>> {
        match self.view() {
            View::Int(v) => Some(v),
            View::F32(_) => None,
        }
    }

    /// The real values: floats as they are, integers dequantized with `q` (per tensor or
    /// per channel along the last axis); `None` for integers without parameters.
    pub fn real(&self, q: Option<&QuantParams>) -> Option<Vec<f32>> {
        match self.view() {
            View::F32(v) => Some(v.to_vec()),
            View::Int(v) => q.map(|q| dequantize_per_tensor(&v, q)),
        }
    }

    /// The values with 8-bit integers widened to [`Values::Int`]: how a run hands them out.
    pub fn widened(self) -> Values {
        match self {
            Values::I8(v) => Values::Int(v.iter().map(|&x| x as i32).collect()),
            v @ (Values::Int(_) | Values::F32(_)) => v,
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A tensor's values with integers as i32, whichever way they are stored ([`Values::view`]).
#[derive(Debug, Clone, PartialEq)]
pub enum View<'a> {
    /// Integer values.
    Int(std::borrow::Cow<'a, [i32]>),
    /// Float values.
    F32(&'a [f32]),
}

/// Why a graph cannot be executed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExecError {
    /// The executor has no kernel for this layer's types or attributes.
    #[error("layer '{layer}' ({op}): {message}")]
    Unsupported {
        /// The layer.
        layer: String,
        /// The operator.
        op: String,
        /// What is missing.
        message: String,
    },
    /// The inputs do not fit the graph.
    #[error("input: {0}")]
    Input(String),
    /// The graph's values would take more memory than a functional run allows.
    #[error("{0}")]
    TooLarge(String),
}

/// Largest total size of a graph's values (every tensor, weights and activations, at 4 bytes
/// per element) that functional runs (`exec`, `run`'s accuracy, `quantize`, `sweep
/// --functional`) hold; checked before anything is allocated from the graph's shapes.
pub const MAX_VALUE_BYTES: u64 = 4 << 30;

/// The bytes of every tensor of `g` held as 4-byte values, `None` when the sum overflows.
pub fn value_bytes(g: &Graph) -> Option<u64> {
    g.tensors.iter().try_fold(0u64, |total, t| {
        t.shape.iter().try_fold(4u64, |a, &d| a.checked_mul(d as u64)).and_then(|b| total.checked_add(b))
    })
}

/// Checks that holding every tensor of `g` as 4-byte values stays within
/// [`MAX_VALUE_BYTES`], with checked arithmetic, before any allocation: shapes are fields
/// of user files and can claim anything.
pub fn check_size(g: &Graph) -> Result<(), ExecError> {
    let mut total = 0u64;
    for t in &g.tensors {
        let bytes = t.shape.iter().try_fold(4u64, |a, &d| a.checked_mul(d as u64));
        total = match bytes.and_then(|b| total.checked_add(b)) {
            Some(b) if b <= MAX_VALUE_BYTES => b,
            _ => {
                return Err(ExecError::TooLarge(format!(
                    "too large to execute: with tensor '{}' of shape {:?} its values pass {} GiB",
                    t.name,
                    t.shape,
                    MAX_VALUE_BYTES >> 30
                )))
            }
        };
    }
    Ok(())
}

/// Dequantizes integer values with per-tensor or per-channel (last axis or `axis`) parameters.
pub fn dequantize_per_tensor(v: &[i32], q: &QuantParams) -> Vec<f32> {
    if q.scales.len() <= 1 {
        let (s, z) = q.channel(0);
        return elementwise::dequantize(v, s, z as i32);
    }
    // Per-channel along the last axis (the only per-channel layout activations use).
    let c = q.scales.len();
    v.iter()
        .enumerate()
        .map(|(i, &x)| {
            let (s, z) = q.channel(i % c);
            (s as f64 * (x as i64 - z) as f64) as f32
        })
        .collect()
}

fn int_bits(dtype: DataType) -> Option<(u32, bool)> {
    match dtype {
        DataType::Int { bits, signed } => Some((bits as u32, signed)),
        _ => None,
    }
}

pub(crate) fn qrange(dtype: DataType) -> (i32, i32) {
    match int_bits(dtype) {
        Some((b, true)) => fixedpoint::int_range(b),
        Some((b, false)) => (0, if b >= 31 { i32::MAX } else { (1i32 << b) - 1 }),
        None => (i32::MIN, i32::MAX),
    }
}

pub(crate) fn scale_zp(t: &Tensor) -> (f32, i32) {
    t.quant.as_ref().map_or((1.0, 0), |q| {
        let (s, z) = q.channel(0);
        (s, z as i32)
    })
}

pub(crate) fn shape4(s: &[usize]) -> [usize; 4] {
    let mut r = [1usize; 4];
    let off = 4usize.saturating_sub(s.len());
    for (i, &d) in s.iter().take(4).enumerate() {
        r[off + i] = d;
    }
    r
}

/// Constant values widened to i32 (for weights) or i64 (for biases).
pub(crate) fn const_i32(t: &Tensor) -> Option<Vec<i32>> {
    match &t.data {
        Some(d @ (TensorData::I8(_) | TensorData::I32(_))) => d.ints().map(std::borrow::Cow::into_owned),
        Some(TensorData::I64(v)) => Some(v.iter().map(|&x| x as i32).collect()),
        Some(TensorData::F32(_)) | None => None,
    }
}

pub(crate) fn const_i64(t: &Tensor) -> Option<Vec<i64>> {
    t.data.as_ref().and_then(TensorData::ints_i64)
}

/// Constant values as floats (dequantized when the tensor is quantized).
pub(crate) fn const_f32(t: &Tensor) -> Option<Vec<f32>> {
    let ints = t.data.as_ref().and_then(TensorData::ints);
    match (&t.data, ints, &t.quant) {
        (Some(TensorData::F32(v)), _, _) => Some(v.clone()),
        (_, Some(v), Some(q)) if t.groups.is_some() && q.scales.len() > 1 => {
            Some(dequantize_groups(&v, &t.shape, q, t.groups.map_or(1, |g| g.size as usize)))
        }
        (_, Some(v), Some(q)) => Some(dequantize_axis(v.iter().map(|&x| x as i64), &t.shape, q)),
        (_, Some(v), None) => Some(v.iter().map(|&x| x as f32).collect()),
        (Some(TensorData::I64(v)), _, Some(q)) => Some(dequantize_axis(v.iter().copied(), &t.shape, q)),
        (Some(TensorData::I64(v)), _, None) => Some(v.iter().map(|&x| x as f32).collect()),
        (Some(TensorData::I8(_) | TensorData::I32(_)), None, _) | (None, _, _) => None,
    }
}

/// Group-wise weights (`QuantParams::check_grouped`'s layout) as floats.
fn dequantize_groups(v: &[i32], shape: &[usize], q: &QuantParams, size: usize) -> Vec<f32> {
    let per: usize = shape.iter().skip(1).product::<usize>().max(1);
    let count = per.div_ceil(size.max(1));
    v.iter()
        .enumerate()
        .map(|(i, &x)| {
            let (s, z) = q.group(i / per, count, (i % per) / size.max(1));
            (s as f64 * (x as i64 - z) as f64) as f32
        })
        .collect()
}

fn dequantize_axis(v: impl Iterator<Item = i64>, shape: &[usize], q: &QuantParams) -> Vec<f32> {
    let axis = q.axis.unwrap_or(0).min(shape.len().saturating_sub(1));
    let inner: usize = shape.get(axis + 1..).map_or(1, |s| s.iter().product());
    let dim = shape.get(axis).copied().unwrap_or(1).max(1);
    v.enumerate()
        .map(|(i, x)| {
            let c = if q.scales.len() > 1 { (i / inner.max(1)) % dim } else { 0 };
            let (s, z) = q.channel(c);
            (s as f64 * (x - z) as f64) as f32
        })
        .collect()
}

/// Runs a graph on inputs; create once per graph and arithmetic, run many times.
pub struct Executor<'g> {
    graph: &'g Graph,
    arith: Arithmetic,
    /// Per layer, its integer kernel (`None` for layers that run in float).
    prepared: Vec<Option<IntKernel>>,
    /// Per layer, the tensors no later layer reads and no caller of
    /// [`Executor::run_outputs`] gets (its inputs read last here, its outputs nothing reads):
    /// dropped after it when only the outputs are kept.
    dead_after: Vec<Vec<TensorId>>,
}

fn unsupported(g: &Graph, l: &Layer, message: String) -> ExecError {
    ExecError::Unsupported { layer: l.name.clone(), op: g.op_name(l).into(), message }
}

/// Whether a layer runs an integer kernel: an integer output, an op whose integer kernel
/// writes floats (DEQUANTIZE; every family says, [`OpFamily::dequantizes`]), or LiteRT's
/// hybrid form of a weighted layer (integer weights behind a float input, each input
/// quantized when it runs: its family's integer kernel takes it or refuses it by name; its
/// float evaluation would answer with the dequantized weights instead).
fn runs_int(g: &Graph, l: &Layer) -> bool {
    g.output(l).dtype.is_int() || l.op.dequantizes() || g.is_hybrid(l)
}

impl<'g> Executor<'g> {
    /// Resolves every layer's parameters (multipliers, packed weights) for integer execution.
    pub fn new(graph: &'g Graph, arith: Arithmetic) -> Result<Self, ExecError> {
        check_size(graph)?;
        let mut prepared = Vec::with_capacity(graph.layers.len());
        for l in &graph.layers {
            prepared.push(if runs_int(graph, l) {
                Some(l.op.prepare_int(&LayerCx::new(graph, l), &arith).map_err(|m| unsupported(graph, l, m))?)
            } else {
                None
            });
        }
        Ok(Self { graph, arith, prepared, dead_after: dead_after(graph) })
    }

    /// Runs the graph on the inputs (a graph with states from their initial values) and
    /// returns the values of `graph.outputs`, in that order. Each intermediate tensor is
    /// dropped after the last layer that reads it, so a run holds the tensors live at once
    /// (MobileNet-v1: a few MB) rather than all of them (about 21 MB an image in 32-bit
    /// integers), and the next layers' fast kernels take the memory it freed
    /// ([`buffers`]).
    /// The inputs are taken, not copied (a batch's item is run once).
    pub fn run_outputs(&self, inputs: Vec<Values>) -> Result<Vec<Option<Values>>, ExecError> {
        let g = self.graph;
        let mut vals: Vec<Option<Values>> = vec![None; g.tensors.len()];
        bind_inputs(g, inputs, &mut vals)?;
        States::initial(g, false).bind(g, &mut vals)?;
        for (i, (l, prep)) in g.layers.iter().zip(&self.prepared).enumerate() {
            self.run_layer(l, prep, &mut vals)?;
            for t in &self.dead_after[i] {
                match vals[t.0].take() {
                    Some(Values::Int(v)) => buffers::give(v),
                    Some(Values::I8(v)) => buffers::give(v),
                    Some(Values::F32(_)) | None => {}
                }
            }
        }
        Ok(g.outputs.iter().map(|o| vals[o.0].take().map(Values::widened)).collect())
    }

    /// Runs one layer on `vals` and stores its outputs there.
    fn run_layer(&self, l: &Layer, prep: &Option<IntKernel>, vals: &mut [Option<Values>]) -> Result<(), ExecError> {
        let g = self.graph;
        let outs = match prep {
            Some(k) => {
                let ins = data_values(g, l, vals)?;
                k.run(&ins, &self.arith).map_err(|m| unsupported(g, l, m))?
            }
            None => float_layer(g, l, vals, false)?.into_iter().map(Values::F32).collect(),
        };
        store(g, l, outs, vals)
    }

    /// Runs the integer (or, for float layers, float) execution on the graph inputs, in
    /// `graph.inputs` order, and returns every tensor's values indexed by [`TensorId`]
    /// (`None` for constants and tensors not computed). A graph with states runs one
    /// invocation from their initial values ([`Executor::step`] keeps them across several).
    pub fn run(&self, inputs: &[Values]) -> Result<Vec<Option<Values>>, ExecError> {
        self.step(inputs, &mut States::initial(self.graph, false))
    }

    /// Runs one invocation from the states' values in `states` (see [`States::initial`])
    /// and leaves their values after it there (each state's last assignment,
    /// [`Graph::state_final`]); returns every tensor's values as [`Executor::run`] does.
    pub fn step(&self, inputs: &[Values], states: &mut States) -> Result<Vec<Option<Values>>, ExecError> {
        let g = self.graph;
        let mut vals: Vec<Option<Values>> = vec![None; g.tensors.len()];
        bind_inputs(g, inputs.to_vec(), &mut vals)?;
        states.bind(g, &mut vals)?;
        let vals = self.run_from(0, vals)?;
        states.update(g, &vals);
        Ok(vals)
    }

    /// Runs layers `start..` given `vals`, which must hold the graph inputs and every tensor
    /// the layers before `start` compute (as [`Executor::run`] returns them, e.g. from a run
    /// of another graph whose layers before `start` and their tensors are the same:
    /// [`first_difference`]); returns every tensor's values as [`Executor::run`] does.
    pub fn run_from(&self, start: usize, mut vals: Vec<Option<Values>>) -> Result<Vec<Option<Values>>, ExecError> {
        let g = self.graph;
        if vals.len() != g.tensors.len() {
            return Err(ExecError::Input(format!("{} tensor values for a graph of {}", vals.len(), g.tensors.len())));
        }
        for (l, prep) in g.layers.iter().zip(&self.prepared).skip(start) {
            self.run_layer(l, prep, &mut vals)?;
        }
        Ok(vals.into_iter().map(|v| v.map(Values::widened)).collect())
    }
}

/// Per layer, the tensors that can be dropped after it in a run that keeps only the graph's
/// outputs: computed tensors whose last reader it is, or that it writes and nothing reads;
/// never a graph output (nor a graph input, which the caller owns).
fn dead_after(g: &Graph) -> Vec<Vec<TensorId>> {
    let mut last: Vec<Option<usize>> = vec![None; g.tensors.len()];
    for (i, l) in g.layers.iter().enumerate() {
        for &t in l.inputs.iter().chain(&l.outputs) {
            last[t.0] = Some(i);
        }
    }
    let mut dead = vec![Vec::new(); g.layers.len()];
    for (t, at) in last.iter().enumerate() {
        let id = TensorId(t);
        let kept = g.outputs.contains(&id) || g.inputs.contains(&id) || g.tensors[t].is_constant();
        if let (Some(i), false) = (at, kept) {
            dead[*i].push(id);
        }
    }
    dead
}

/// The first layer at which `a` and `b` differ (the layer itself or a tensor it reads or
/// writes, values included), or the layer count when none does; `None` when the graphs'
/// inputs differ. A run of `a` holds, for every layer before it, what a run of `b` computes
/// ([`Executor::run_from`]).
pub fn first_difference(a: &Graph, b: &Graph) -> Option<usize> {
    let same_tensor = |t: TensorId| a.tensors.get(t.0).is_some() && a.tensors.get(t.0) == b.tensors.get(t.0);
    if a.inputs != b.inputs || !a.inputs.iter().all(|&t| same_tensor(t)) {
        return None;
    }
    let n = a.layers.len().min(b.layers.len());
    Some(
        (0..n)
            .find(|&i| {
                let (la, lb) = (&a.layers[i], &b.layers[i]);
                la != lb || !la.inputs.iter().chain(&la.outputs).all(|&t| same_tensor(t))
            })
            .unwrap_or(n),
    )
}

/// Stores one value per output of a layer.
fn store(g: &Graph, l: &Layer, outs: Vec<Values>, vals: &mut [Option<Values>]) -> Result<(), ExecError> {
    if outs.len() != l.outputs.len() {
        let m = format!("its op gives {} outputs for {}", outs.len(), l.outputs.len());
        return Err(unsupported(g, l, m));
    }
    for (&o, v) in l.outputs.iter().zip(outs) {
        vals[o.0] = Some(v);
    }
    Ok(())
}

/// The values of a layer's data (activation) inputs, in order.
fn data_values<'v>(g: &Graph, l: &Layer, vals: &'v [Option<Values>]) -> Result<Vec<&'v Values>, ExecError> {
    l.inputs
        .iter()
        .filter(|&&t| !g.tensor(t).is_constant())
        .map(|t| vals[t.0].as_ref().ok_or_else(|| unsupported(g, l, "input not computed".into())))
        .collect()
}

fn bind_inputs(g: &Graph, inputs: Vec<Values>, vals: &mut [Option<Values>]) -> Result<(), ExecError> {
    if inputs.len() != g.inputs.len() {
        return Err(ExecError::Input(format!("the graph has {} inputs, got {}", g.inputs.len(), inputs.len())));
    }
    for (&id, v) in g.inputs.iter().zip(inputs) {
        let t = g.tensor(id);
        if v.len() as u64 != t.elements() {
            return Err(ExecError::Input(format!(
                "input '{}' has shape {:?} ({} elements), got {} values",
                t.name,
                t.shape,
                t.elements(),
                v.len()
            )));
        }
        vals[id.0] = Some(v);
    }
    Ok(())
}

/// The values of a graph's states between invocations (`None` for a state that has no
/// initial value and has not been assigned yet).
#[derive(Debug, Clone, PartialEq)]
pub struct States(Vec<Option<Values>>);

impl States {
    /// The states' initial values ([`crate::ir::StateVar::init`]); `real` gives quantized
    /// ones as real values (for the float reference).
    pub fn initial(g: &Graph, real: bool) -> States {
        States(
            g.states
                .iter()
                .map(|s| {
                    let t = g.tensor(s.tensor);
                    let int = |v: Vec<i32>| match &t.quant {
                        Some(q) if real => Values::F32(dequantize_per_tensor(&v, q)),
                        None if real => Values::F32(v.iter().map(|&x| x as f32).collect()),
                        Some(_) | None => Values::Int(v),
                    };
                    s.init.as_ref().map(|d| match d {
                        TensorData::F32(v) => Values::F32(v.clone()),
                        TensorData::I8(_) | TensorData::I32(_) => {
                            int(d.ints().map(|v| v.into_owned()).unwrap_or_default())
                        }
                        TensorData::I64(v) => Values::Int(v.iter().map(|&x| x as i32).collect()),
                    })
                })
                .collect(),
        )
    }

    /// The current value of state `i`.
    pub fn value(&self, i: usize) -> Option<&Values> {
        self.0.get(i).and_then(|v| v.as_ref())
    }

    fn bind(&self, g: &Graph, vals: &mut [Option<Values>]) -> Result<(), ExecError> {
        if self.0.len() != g.states.len() {
            return Err(ExecError::Input(format!(
                "{} state values for a graph of {} states",
                self.0.len(),
                g.states.len()
            )));
        }
        for (s, v) in g.states.iter().zip(&self.0) {
            if let Some(v) = v {
                let t = g.tensor(s.tensor);
                if v.len() as u64 != t.elements() {
                    return Err(ExecError::Input(format!(
                        "state '{}' of shape {:?} holds {} values",
                        s.name,
                        t.shape,
                        v.len()
                    )));
                }
                vals[s.tensor.0] = Some(v.clone());
            }
        }
        Ok(())
    }

    fn update(&mut self, g: &Graph, vals: &[Option<Values>]) {
        for (i, v) in self.0.iter_mut().enumerate() {
            if let Some(next) = g.state_final(i).and_then(|t| vals.get(t.0)).and_then(|x| x.as_ref()) {
                *v = Some(next.clone());
            }
        }
    }
}

/// Runs the graph in float32: constants are dequantized, QUANTIZE and DEQUANTIZE pass
/// values through, and every activation is a float. `inputs` are real values.
pub fn run_float(g: &Graph, inputs: &[Vec<f32>]) -> Result<Vec<Option<Values>>, ExecError> {
    let mut vals: Vec<Option<Values>> = vec![None; g.tensors.len()];
    let inputs: Vec<Values> = inputs.iter().map(|v| Values::F32(v.clone())).collect();
    bind_inputs(g, inputs, &mut vals)?;
    States::initial(g, true).bind(g, &mut vals)?;
    for l in &g.layers {
        let outs = float_layer(g, l, &vals, true)?;
        store(g, l, outs.into_iter().map(Values::F32).collect(), &mut vals)?;
    }
    Ok(vals)
}

/// One float value per output of a layer, its fused activation applied.
fn float_layer(g: &Graph, l: &Layer, vals: &[Option<Values>], dequant: bool) -> Result<Vec<Vec<f32>>, ExecError> {
    let mut inputs = Vec::with_capacity(l.inputs.len());
    for &t in l.inputs.iter().filter(|&&t| !g.tensor(t).is_constant()) {
        let v = vals[t.0].as_ref().ok_or_else(|| unsupported(g, l, "input not computed".into()))?;
        inputs.push(match (v, v.ints()) {
            (Values::F32(v), _) => v.clone(),
            (_, Some(v)) if dequant => match &g.tensor(t).quant {
                Some(q) => dequantize_per_tensor(&v, q),
                None => v.iter().map(|&x| x as f32).collect(),
            },
            (Values::Int(_) | Values::I8(_), _) => return Err(unsupported(g, l, "expects a float input".into())),
        });
    }
    let mut outs = l.op.eval_float(&LayerCx::new(g, l), &inputs).map_err(|m| unsupported(g, l, m))?;
    for (r, &o) in outs.iter_mut().zip(&l.outputs) {
        // The float reference of a quantized graph follows the activation its output range
        // implies (legacy uint8 models carry their ReLU only there).
        let t = g.tensor(o);
        let act = match (l.activation, &t.quant) {
            (Activation::None, Some(q)) if dequant => q.implied_activation(t.dtype),
            (a, _) => a,
        };
        float::activate(r, act);
    }
    Ok(outs)
}

/// Runs the graph with LiteRT's arithmetic and returns every tensor (see [`Executor::run`]).
pub fn execute(graph: &Graph, inputs: &[Values]) -> Result<Vec<Option<Values>>, ExecError> {
    Executor::new(graph, Arithmetic::default())?.run(inputs)
}

/// The id of an IR tensor, for callers that index [`Executor::run`]'s result.
pub fn value_of(vals: &[Option<Values>], id: TensorId) -> Option<&Values> {
    vals.get(id.0).and_then(|v| v.as_ref())
}

#[cfg(test)]
mod tests {
    use super::{QuantParams, Values, View};

    #[test]
    fn eight_bit_storage_reads_as_its_widened_values() {
        let v8 = Values::I8(vec![-128, -1, 0, 127]);
        let v32 = Values::Int(vec![-128, -1, 0, 127]);
        assert_eq!(v8.len(), 4);
        assert_eq!(v8.view(), v32.view());
        assert_eq!(v8.ints().as_deref(), Some(&[-128, -1, 0, 127][..]));
        assert_eq!(v8.clone().widened(), v32);
        assert_eq!(v32.clone().widened(), v32);
        let q = QuantParams::per_tensor(0.5, -1);
        assert_eq!(v8.real(Some(&q)), Some(vec![-63.5, 0.0, 0.5, 64.0]));
        assert_eq!(v8.real(None), None);
        let f = Values::F32(vec![1.5]);
        assert_eq!((f.view(), f.ints(), f.real(None)), (View::F32(&[1.5]), None, Some(vec![1.5])));
    }
}

/// Values in `lo..=hi` from a xorshift generator seeded by `seed`: the kernels' unit tests'
/// reproducible operands.
#[cfg(test)]
pub(crate) fn xorshift(seed: u64) -> impl FnMut(i64, i64) -> i64 {
    let mut s = seed | 1;
    move |lo, hi| {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        lo + (s % (hi - lo + 1) as u64) as i64
    }
}
