//! The graph: tensors, layers, shape inference and validation, and per-layer counts
//! (MACs, parameters) derived from shapes alone.

use super::op::{Op, StateAccess, StateOp};
use super::quant::{DataType, QuantParams, WeightGroups};
use crate::ops::{LayerCx, OpFamily, WeightLayout};
use crate::units::{Bits, Macs};

/// Index of a tensor in [`Graph::tensors`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(pub usize);

/// Index of a layer in [`Graph::layers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LayerId(pub usize);

/// What a tensor is: an activation flowing between layers, or a constant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TensorKind {
    /// A network input or a layer output.
    Activation,
    /// Weights of a conv or FC layer.
    Weight,
    /// A bias vector.
    Bias,
    /// Any other constant (e.g. a shape operand kept by an importer).
    Constant,
}

/// Values of a constant tensor in a container type at least as wide as its values. Equality
/// is of the values: 8-bit integers equal the same values held in i32 (a graph read back
/// from a `.aqm` file, which holds every integer tensor as i32, equals the one written).
#[derive(Debug, Clone)]
pub enum TensorData {
    /// Float values.
    F32(Vec<f32>),
    /// Signed integers of at most 8 bits, held as 8 bits: a model file's int8 constants as
    /// stored (a network's weights are most of its bytes; widened, they were most of a
    /// one-image `exec`'s memory traffic and page faults). Read through [`TensorData::ints`].
    I8(super::I8Values),
    /// Integer values of up to 32 bits (the real width is the tensor's [`DataType`]).
    I32(Vec<i32>),
    /// 64-bit integers (16x8 biases).
    I64(Vec<i64>),
}

impl TensorData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            TensorData::F32(v) => v.len(),
            TensorData::I8(v) => v.len(),
            TensorData::I32(v) => v.len(),
            TensorData::I64(v) => v.len(),
        }
    }

    /// The values of an integer container of at most 32 bits as i32 (8-bit ones widened,
    /// 32-bit ones borrowed); `None` for floats and 64-bit integers.
    pub fn ints(&self) -> Option<std::borrow::Cow<'_, [i32]>> {
        match self {
            TensorData::I8(v) => Some(std::borrow::Cow::Owned(v.iter().map(|&x| i32::from(x)).collect())),
            TensorData::I32(v) => Some(std::borrow::Cow::Borrowed(v)),
            TensorData::F32(_) | TensorData::I64(_) => None,
        }
    }

    /// The values of any integer container as i64 (`None` for floats): the one widening
    /// that exporters, folding and shape arithmetic read constants through.
    pub fn ints_i64(&self) -> Option<Vec<i64>> {
        match self {
            TensorData::I8(v) => Some(v.iter().map(|&x| i64::from(x)).collect()),
            TensorData::I32(v) => Some(v.iter().map(|&x| i64::from(x)).collect()),
            TensorData::I64(v) => Some(v.clone()),
            TensorData::F32(_) => None,
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl PartialEq for TensorData {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (TensorData::F32(a), TensorData::F32(b)) => a == b,
            (TensorData::I64(a), TensorData::I64(b)) => a == b,
            (TensorData::I8(a), TensorData::I8(b)) => a == b,
            (TensorData::I32(a), TensorData::I32(b)) => a == b,
            (TensorData::I8(a), TensorData::I32(b)) | (TensorData::I32(b), TensorData::I8(a)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(&x, &y)| i32::from(x) == y)
            }
            (TensorData::F32(_) | TensorData::I8(_) | TensorData::I32(_) | TensorData::I64(_), _) => false,
        }
    }
}

/// A tensor: shape, element type, optional quantization and optional constant values.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Name (unique within a graph for imported and built-in networks).
    pub name: String,
    /// Shape; activations are NHWC.
    pub shape: Vec<usize>,
    /// Element type (its width is what the cost model moves).
    pub dtype: DataType,
    /// Affine quantization, when the tensor is quantized.
    pub quant: Option<QuantParams>,
    /// Activation, weight, bias or other constant.
    pub kind: TensorKind,
    /// Values of a constant tensor (`None` for activations and for built-in networks whose
    /// synthetic weights have not been materialized).
    pub data: Option<TensorData>,
    /// Group-wise scales of a weight tensor (`--wgroup`), costed beside its packed values;
    /// `None`: per-tensor or per-channel parameters, whose bytes the cost model ignores.
    pub groups: Option<WeightGroups>,
}

impl Tensor {
    /// A float32 tensor of `kind` with no quantization and no values yet: what importers and
    /// network definitions create before widths are assigned.
    pub fn float(name: impl Into<String>, shape: Vec<usize>, kind: TensorKind) -> Self {
        Tensor { name: name.into(), shape, dtype: DataType::F32, quant: None, kind, data: None, groups: None }
    }

    /// Number of elements (saturating).
    pub fn elements(&self) -> u64 {
        self.shape.iter().fold(1u64, |a, &d| a.saturating_mul(d as u64))
    }

    /// Storage size at the element type's packed width.
    pub fn bits(&self) -> Bits {
        Bits(self.elements().saturating_mul(self.dtype.bits() as u64))
    }

    /// Whether this is a constant (weight, bias or other).
    pub fn is_constant(&self) -> bool {
        self.kind != TensorKind::Activation
    }
}

/// One layer: an operator, its inputs (data first, then constants) and its outputs.
#[derive(Debug, Clone, PartialEq)]
pub struct Layer {
    /// Name (unique within a graph).
    pub name: String,
    /// The operator.
    pub op: Op,
    /// Input tensors: data inputs first, then weights and bias for conv / FC.
    pub inputs: Vec<TensorId>,
    /// Output tensors (one for every operator in the IR today).
    pub outputs: Vec<TensorId>,
    /// Fused activation.
    pub activation: super::op::Activation,
}

/// Where a graph's constant values come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightSource {
    /// A built-in network: weights are synthetic, generated from this seed on demand.
    Synthetic {
        /// The seed of the generator.
        seed: u64,
    },
    /// Values read from a model file.
    Imported {
        /// The file they were read from.
        path: String,
    },
}

/// A state of the graph: a tensor that persists across invocations (a streaming model's
/// ring buffer; later an LSTM's cell state or a KV cache). Within one invocation the graph
/// is a function of its inputs and its states' values: the state's `tensor` holds the value
/// the invocation starts from (like a network input, it is produced by no layer), a
/// [`StateAccess::Read`](super::op::StateAccess) layer copies the current value out, an
/// [`StateAccess::Assign`](super::op::StateAccess) layer's output is the new value (later
/// reads in the invocation take it), and the last assignment's output is what the next
/// invocation starts from ([`Graph::state_final`]).
#[derive(Debug, Clone, PartialEq)]
pub struct StateVar {
    /// Name (the file's variable name).
    pub name: String,
    /// The value at the start of an invocation: its shape, element type and quantization
    /// are the state's; every read and assignment has them too.
    pub tensor: TensorId,
    /// The value before the first invocation (TFLite: what CALL_ONCE's initialization
    /// subgraph assigns); `None` when the graph must assign the state before reading it.
    pub init: Option<TensorData>,
}

/// A whole network.
#[derive(Debug, Clone, PartialEq)]
pub struct Graph {
    /// Network name.
    pub name: String,
    /// All tensors.
    pub tensors: Vec<Tensor>,
    /// Layers in topological order.
    pub layers: Vec<Layer>,
    /// Network inputs.
    pub inputs: Vec<TensorId>,
    /// Network outputs.
    pub outputs: Vec<TensorId>,
    /// Where the constants come from.
    pub weights: WeightSource,
    /// What the importer accepted beyond the file's letter (TFLite Micro's
    /// `quantized_dimension` on 1-D biases), stated in every run's notes.
    pub notes: Vec<String>,
    /// States that persist across invocations (empty for a stateless network).
    pub states: Vec<StateVar>,
    /// The rank-4 inputs whose tensor in the source file is NCHW (an ONNX input, transposed
    /// to the IR's NHWC at import); every other input is stored as the file has it.
    pub nchw_inputs: Vec<TensorId>,
    /// The inputs that are a decode step's KV cache (cached keys and values, each
    /// `[1, kv_heads, 1, positions, head_dim]`, the leading axis the sequences of a batch):
    /// their width is the KV cache's own (`--kv-bits`), not the activations'.
    pub kv_cache: Vec<TensorId>,
    /// A token-major network (a transformer model file): its per-token activations are
    /// `[tokens, ...]` with this many token rows for one sequence, its per-sequence ones
    /// (attention heads, the KV cache) have a leading axis of 1. [`Graph::with_batch`]
    /// stacks `n` sequences along both. `None`: every activation leads with the batch axis.
    pub sequence_rows: Option<usize>,
    /// Dynamic activation scales (`--act-scales dynamic`): every matrix product with constant
    /// weights quantizes its input per row when it runs. `None`: activations carry static
    /// scales (or a hybrid layer's float input says so itself, [`Graph::is_hybrid`]).
    pub dynamic_activations: Option<super::DynamicActivations>,
}

/// An inconsistency in a graph, naming the layer at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IrError {
    /// A layer refers to a tensor that does not exist or is produced after it.
    #[error("layer '{layer}': input '{tensor}' is not produced before this layer")]
    UndefinedInput {
        /// The layer.
        layer: String,
        /// The missing tensor.
        tensor: String,
    },
    /// A layer's inputs do not fit its operator.
    #[error("layer '{layer}' ({op}): {message}")]
    Inconsistent {
        /// The layer.
        layer: String,
        /// The operator name.
        op: String,
        /// What is wrong, with the shapes involved.
        message: String,
    },
    /// Two layers or tensors share a name.
    #[error("duplicate name '{0}' in the graph")]
    DuplicateName(String),
    /// A state of the graph is inconsistent (see [`StateVar`]).
    #[error("state '{state}': {message}")]
    BadState {
        /// The state.
        state: String,
        /// What is wrong.
        message: String,
    },
    /// A tensor's quantization parameters are unusable (see [`QuantParams::check`]).
    #[error("tensor '{tensor}': {message}")]
    BadQuant {
        /// The tensor.
        tensor: String,
        /// What is wrong.
        message: String,
    },
}

impl Graph {
    /// An empty graph.
    pub fn new(name: impl Into<String>, weights: WeightSource) -> Self {
        Self {
            name: name.into(),
            tensors: Vec::new(),
            layers: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            weights,
            notes: Vec::new(),
            states: Vec::new(),
            nchw_inputs: Vec::new(),
            kv_cache: Vec::new(),
            sequence_rows: None,
            dynamic_activations: None,
        }
    }

    /// The tensor whose value state `s` holds after an invocation: the output of its last
    /// assignment, or its own tensor when no layer assigns it.
    pub fn state_final(&self, s: usize) -> Option<TensorId> {
        let state = self.states.get(s)?;
        let last = self
            .layers
            .iter()
            .rev()
            .find(|l| matches!(l.op, Op::State(StateOp { access: StateAccess::Assign, state }) if state == s));
        Some(last.and_then(|l| l.outputs.first().copied()).unwrap_or(state.tensor))
    }

    /// Whether tensor `t` is the start-of-invocation value of a state.
    pub fn is_state(&self, t: TensorId) -> bool {
        self.states.iter().any(|s| s.tensor == t)
    }

    /// Adds a tensor and returns its id.
    pub fn add_tensor(&mut self, tensor: Tensor) -> TensorId {
        self.tensors.push(tensor);
        TensorId(self.tensors.len() - 1)
    }

    /// The tensor with this id.
    pub fn tensor(&self, id: TensorId) -> &Tensor {
        &self.tensors[id.0]
    }

    /// The tensor with this id, mutably.
    pub fn tensor_mut(&mut self, id: TensorId) -> &mut Tensor {
        &mut self.tensors[id.0]
    }

    /// The layer with this id.
    pub fn layer(&self, id: LayerId) -> &Layer {
        &self.layers[id.0]
    }

    /// The first data input of a layer.
    pub fn data_input(&self, layer: &Layer) -> &Tensor {
        self.tensor(layer.inputs[0])
    }

    /// The (first) output of a layer.
    pub fn output(&self, layer: &Layer) -> &Tensor {
        self.tensor(layer.outputs[0])
    }

    /// The activation inputs of a layer (excluding weights and biases).
    pub fn activation_inputs<'a>(&'a self, layer: &'a Layer) -> impl Iterator<Item = &'a Tensor> + 'a {
        layer.inputs.iter().map(|&t| self.tensor(t)).filter(|t| t.kind == TensorKind::Activation)
    }

    /// The constant inputs of a layer (weights, biases).
    pub fn constant_inputs<'a>(&'a self, layer: &'a Layer) -> impl Iterator<Item = &'a Tensor> + 'a {
        layer.inputs.iter().map(|&t| self.tensor(t)).filter(|t| t.is_constant())
    }

    /// The weight tensor of a conv or FC layer.
    pub fn weights_of(&self, layer: &Layer) -> Option<&Tensor> {
        layer.inputs.iter().map(|&t| self.tensor(t)).find(|t| t.kind == TensorKind::Weight)
    }

    /// Whether a layer is in LiteRT's hybrid (dynamic-range) form: integer weights behind a
    /// float data input, each input row quantized when the layer runs. The one test the
    /// executor, the kernels and the cost model share.
    pub fn is_hybrid(&self, layer: &Layer) -> bool {
        self.weights_of(layer).is_some_and(|w| w.dtype.is_int()) && self.data_input(layer).dtype == DataType::F32
    }

    /// The width of a layer's weights; `None` for a layer without weights (which has no
    /// weight width, rather than a default one).
    pub fn weight_bits(&self, layer: &Layer) -> Option<u32> {
        self.weights_of(layer).map(|w| w.dtype.bits())
    }

    /// The bias tensor of a conv or FC layer.
    pub fn bias_of(&self, layer: &Layer) -> Option<&Tensor> {
        layer.inputs.iter().map(|&t| self.tensor(t)).find(|t| t.kind == TensorKind::Bias)
    }

    /// A short operator name for reports; grouped convs that are depthwise show as `dwconv`.
    pub fn op_name(&self, layer: &Layer) -> &'static str {
        match layer.op.weight_layout() {
            WeightLayout::Conv(c) if c.groups > 1 => {
                let cin = self.data_input(layer).shape.last().copied().unwrap_or(0);
                if c.is_depthwise(cin) {
                    "dwconv"
                } else {
                    "gconv"
                }
            }
            WeightLayout::Conv(_)
            | WeightLayout::Matrix(_)
            | WeightLayout::TransposeConv(_)
            | WeightLayout::Float
            | WeightLayout::None => layer.op.name(),
        }
    }

    /// Multiply-accumulates of a layer (see [`OpFamily::macs`]).
    pub fn macs(&self, layer: &Layer) -> Macs {
        layer.op.macs(&LayerCx::new(self, layer))
    }

    /// Parameters of a layer: elements of its weight and bias tensors.
    pub fn params(&self, layer: &Layer) -> u64 {
        self.constant_inputs(layer)
            .filter(|t| matches!(t.kind, TensorKind::Weight | TensorKind::Bias))
            .map(|t| t.elements())
            .sum()
    }

    /// Total MACs of the network.
    pub fn total_macs(&self) -> Macs {
        self.layers.iter().map(|l| self.macs(l)).sum()
    }

    /// Total parameters of the network: every weight and bias tensor once (a table two
    /// layers read, as tied embeddings are, counts once).
    pub fn total_params(&self) -> u64 {
        let mut seen = vec![false; self.tensors.len()];
        let mut n = 0u64;
        for l in &self.layers {
            for &t in &l.inputs {
                let tensor = self.tensor(t);
                if matches!(tensor.kind, TensorKind::Weight | TensorKind::Bias) && !seen[t.0] {
                    seen[t.0] = true;
                    n = n.saturating_add(tensor.elements());
                }
            }
        }
        n
    }

    /// Runs shape inference over all layers in order, overwriting every layer output's shape,
    /// then checks the graph (see [`Graph::validate`]).
    pub fn infer_shapes(&mut self) -> Result<(), IrError> {
        self.check_order()?;
        for i in 0..self.layers.len() {
            let shapes = self.infer_layer(&self.layers[i])?;
            for (k, shape) in shapes.into_iter().enumerate() {
                let out = self.layers[i].outputs[k];
                self.tensors[out.0].shape = shape;
            }
        }
        Ok(())
    }

    /// Checks that the graph is well formed: names unique, topological order, and every
    /// layer's output shapes equal to what shape inference gives.
    pub fn validate(&self) -> Result<(), IrError> {
        self.check_order()?;
        for t in &self.tensors {
            if let Some(q) = &t.quant {
                let checked = match t.groups.filter(|_| q.scales.len() > 1) {
                    Some(groups) => q.check_grouped(t.dtype, &t.shape, groups),
                    None => q.check(t.dtype, &t.shape),
                };
                checked.map_err(|message| IrError::BadQuant { tensor: t.name.clone(), message })?;
            }
        }
        let mut names = std::collections::HashSet::new();
        for l in &self.layers {
            if !names.insert(l.name.as_str()) {
                return Err(IrError::DuplicateName(l.name.clone()));
            }
        }
        self.check_states()?;
        for l in &self.layers {
            // A layer of no elements (a conv of 0 filters) has no cost, schedule or values.
            let empty = l
                .inputs
                .iter()
                .chain(&l.outputs)
                .map(|&t| self.tensor(t))
                .find(|t| matches!(t.kind, TensorKind::Activation | TensorKind::Weight) && t.shape.contains(&0));
            if let Some(t) = empty {
                return Err(self.inconsistent(l, format!("tensor '{}' of shape {:?} has no elements", t.name, t.shape)));
            }
            let shapes = self.infer_layer(l)?;
            for (&o, shape) in l.outputs.iter().zip(&shapes) {
                let out = self.tensor(o);
                if out.shape != *shape {
                    return Err(
                        self.inconsistent(l, format!("output shape {:?} but its inputs give {:?}", out.shape, shape))
                    );
                }
            }
        }
        Ok(())
    }

    fn check_order(&self) -> Result<(), IrError> {
        let mut ready = vec![false; self.tensors.len()];
        for &t in &self.inputs {
            if let Some(r) = ready.get_mut(t.0) {
                *r = true;
            }
        }
        for (i, t) in self.tensors.iter().enumerate() {
            if t.is_constant() {
                ready[i] = true;
            }
        }
        for s in &self.states {
            if let Some(r) = ready.get_mut(s.tensor.0) {
                *r = true;
            }
        }
        for l in &self.layers {
            if l.outputs.is_empty() || l.inputs.is_empty() {
                return Err(IrError::Inconsistent {
                    layer: l.name.clone(),
                    op: l.op.name().into(),
                    message: "needs at least one input and one output".into(),
                });
            }
            for &t in &l.inputs {
                if !ready.get(t.0).copied().unwrap_or(false) {
                    let tensor = self.tensors.get(t.0).map(|t| t.name.clone()).unwrap_or_else(|| format!("#{}", t.0));
                    return Err(IrError::UndefinedInput { layer: l.name.clone(), tensor });
                }
            }
            for &t in &l.outputs {
                match ready.get_mut(t.0) {
                    Some(r) => *r = true,
                    None => return Err(IrError::UndefinedInput { layer: l.name.clone(), tensor: format!("#{}", t.0) }),
                }
            }
        }
        Ok(())
    }

    /// Checks the states: each tensor an activation that no layer produces and that is no
    /// network input, its initial value of its type and size; each state layer reading a
    /// version of its own state (the state's tensor or an earlier assignment's output) and
    /// every read, assigned value and assignment of the state's shape, type and quantization;
    /// a state without an initial value assigned before it is read.
    fn check_states(&self) -> Result<(), IrError> {
        let bad = |s: &StateVar, message: String| IrError::BadState { state: s.name.clone(), message };
        let mut versions: Vec<Vec<TensorId>> = self.states.iter().map(|s| vec![s.tensor]).collect();
        for s in &self.states {
            let t =
                self.tensors.get(s.tensor.0).ok_or_else(|| bad(s, format!("tensor #{} does not exist", s.tensor.0)))?;
            if t.kind != TensorKind::Activation || self.inputs.contains(&s.tensor) {
                return Err(bad(s, format!("tensor '{}' must be an activation that is no network input", t.name)));
            }
            if let Some(l) = self.layers.iter().find(|l| l.outputs.contains(&s.tensor)) {
                return Err(bad(s, format!("tensor '{}' is written by layer '{}'", t.name, l.name)));
            }
            if let Some(init) = &s.init {
                let float = matches!(init, TensorData::F32(_));
                if init.len() as u64 != t.elements() || float != (t.dtype == DataType::F32) {
                    return Err(bad(
                        s,
                        format!(
                            "initial value of {} {} elements does not fit its tensor '{}' ({} {:?})",
                            init.len(),
                            if float { "float" } else { "integer" },
                            t.name,
                            t.dtype,
                            t.shape
                        ),
                    ));
                }
            }
        }
        for l in &self.layers {
            let Op::State(op) = &l.op else { continue };
            let s = self.states.get(op.state).ok_or_else(|| {
                self.inconsistent(l, format!("refers to state {} of the graph's {}", op.state, self.states.len()))
            })?;
            let (&[x], &[y]) = (&l.inputs[..], &l.outputs[..]) else {
                return Err(self.inconsistent(l, "takes one input and gives one output".into()));
            };
            let st = self.tensor(s.tensor);
            let same = |t: &Tensor| t.dtype == st.dtype && t.shape == st.shape && t.quant == st.quant;
            let describe = |t: &Tensor| format!("'{}' ({} {:?}, quantization {:?})", t.name, t.dtype, t.shape, t.quant);
            for t in [x, y] {
                if !same(self.tensor(t)) {
                    return Err(self.inconsistent(
                        l,
                        format!(
                            "tensor {} does not match state '{}' ({} {:?}, quantization {:?})",
                            describe(self.tensor(t)),
                            s.name,
                            st.dtype,
                            st.shape,
                            st.quant
                        ),
                    ));
                }
            }
            match op.access {
                StateAccess::Read => {
                    if versions[op.state].last() != Some(&x) {
                        return Err(self.inconsistent(
                            l,
                            format!(
                                "reads '{}', which is not the current value of state '{}'",
                                self.tensor(x).name,
                                s.name
                            ),
                        ));
                    }
                    if x == s.tensor && s.init.is_none() {
                        return Err(bad(
                            s,
                            format!("layer '{}' reads it before any assignment, and it has no initial value", l.name),
                        ));
                    }
                }
                StateAccess::Assign => versions[op.state].push(y),
            }
        }
        Ok(())
    }

    fn inconsistent(&self, layer: &Layer, message: String) -> IrError {
        IrError::Inconsistent { layer: layer.name.clone(), op: self.op_name(layer).into(), message }
    }

    /// The output shapes of one layer (one per output) given its inputs' shapes.
    pub fn infer_layer(&self, l: &Layer) -> Result<Vec<Vec<usize>>, IrError> {
        let shapes = l.op.infer_shapes(&LayerCx::new(self, l)).map_err(|m| self.inconsistent(l, m))?;
        if shapes.len() != l.outputs.len() {
            return Err(self.inconsistent(l, format!("has {} outputs, its op gives {}", l.outputs.len(), shapes.len())));
        }
        Ok(shapes)
    }
}

#[cfg(test)]
mod tests {
    use super::super::op::{Activation, Conv2d, Padding};
    use super::*;

    fn act(g: &mut Graph, name: &str, shape: Vec<usize>) -> TensorId {
        g.add_tensor(Tensor::float(name, shape, TensorKind::Activation))
    }

    #[test]
    fn layers_of_no_elements_are_refused() {
        // A grouped conv of 0 filters (a model file's `filters = 0, groups = 2`).
        let g = conv_graph(2, 0, vec![0, 3, 3, 2]);
        let e = g.validate().unwrap_err().to_string();
        assert!(e.contains("has no elements"), "{e}");
    }

    fn conv_graph(groups: usize, cout: usize, wshape: Vec<usize>) -> Graph {
        let mut g = Graph::new("t", WeightSource::Synthetic { seed: 0 });
        let x = act(&mut g, "x", vec![1, 8, 8, 4]);
        let w = g.add_tensor(Tensor::float("w", wshape, TensorKind::Weight));
        let y = act(&mut g, "y", vec![]);
        g.inputs.push(x);
        g.outputs.push(y);
        g.layers.push(Layer {
            name: "c".into(),
            op: Op::Conv2d(Conv2d {
                out_channels: cout,
                kernel: [3, 3],
                stride: [2, 2],
                dilation: [1, 1],
                padding: Padding::Same,
                groups,
                bias: false,
            }),
            inputs: vec![x, w],
            outputs: vec![y],
            activation: Activation::Relu,
        });
        g
    }

    #[test]
    fn conv_shape_and_macs() {
        let mut g = conv_graph(1, 6, vec![6, 3, 3, 4]);
        g.infer_shapes().unwrap();
        assert_eq!(g.tensors[2].shape, vec![1, 4, 4, 6]);
        assert_eq!(g.total_macs(), Macs(4 * 4 * 6 * 3 * 3 * 4));
        assert_eq!(g.total_params(), 6 * 9 * 4);
        assert_eq!(g.op_name(&g.layers[0]), "conv");
    }

    #[test]
    fn depthwise_is_a_grouped_conv() {
        let mut g = conv_graph(4, 4, vec![4, 3, 3, 1]);
        g.infer_shapes().unwrap();
        assert_eq!(g.total_macs(), Macs(4 * 4 * 4 * 9));
        assert_eq!(g.op_name(&g.layers[0]), "dwconv");
    }

    #[test]
    fn wrong_weight_shape_names_the_layer() {
        let mut g = conv_graph(1, 6, vec![6, 3, 3, 5]);
        let e = g.infer_shapes().unwrap_err().to_string();
        assert!(e.contains("layer 'c'") && e.contains("expected [6, 3, 3, 4]"), "{e}");
    }

    #[test]
    fn bad_groups_is_an_error() {
        let mut g = conv_graph(3, 6, vec![6, 3, 3, 1]);
        assert!(g.infer_shapes().unwrap_err().to_string().contains("groups = 3"));
    }

    /// `x -> read(s) -> add(x) -> assign(s)`: a state of `x`'s shape; `init` its initial value.
    fn state_graph(init: Option<TensorData>) -> Graph {
        use super::super::op::BinaryKind;
        let mut g = Graph::new("s", WeightSource::Synthetic { seed: 0 });
        let x = act(&mut g, "x", vec![1, 4]);
        let s = act(&mut g, "s", vec![1, 4]);
        let r = act(&mut g, "r", vec![1, 4]);
        let y = act(&mut g, "y", vec![1, 4]);
        let next = act(&mut g, "next", vec![1, 4]);
        g.inputs.push(x);
        g.outputs.push(y);
        g.states.push(StateVar { name: "acc".into(), tensor: s, init });
        let state = |access| Op::State(StateOp { access, state: 0 });
        let layer = |name: &str, op, inputs, outputs| Layer {
            name: name.into(),
            op,
            inputs,
            outputs,
            activation: Default::default(),
        };
        g.layers.push(layer("read", state(StateAccess::Read), vec![s], vec![r]));
        g.layers.push(layer("add", Op::Binary(BinaryKind::Add), vec![x, r], vec![y]));
        g.layers.push(layer("assign", state(StateAccess::Assign), vec![y], vec![next]));
        g
    }

    #[test]
    fn a_state_persists_through_its_last_assignment() {
        let g = state_graph(Some(TensorData::F32(vec![0.0; 4])));
        g.validate().unwrap();
        assert_eq!(g.state_final(0), Some(TensorId(4)));
        assert!(g.is_state(TensorId(1)) && !g.is_state(TensorId(0)));
    }

    #[test]
    fn a_state_read_before_any_assignment_needs_an_initial_value() {
        let e = state_graph(None).validate().unwrap_err().to_string();
        assert!(e.contains("state 'acc'") && e.contains("layer 'read' reads it before any assignment"), "{e}");
    }

    #[test]
    fn state_types_must_match_between_read_and_assignment() {
        let mut g = state_graph(Some(TensorData::F32(vec![0.0; 4])));
        g.tensors[4].dtype = DataType::int(8);
        let e = g.validate().unwrap_err().to_string();
        assert!(e.contains("layer 'assign'") && e.contains("does not match state 'acc'"), "{e}");
        let mut g = state_graph(Some(TensorData::I32(vec![0; 4])));
        assert!(g.validate().unwrap_err().to_string().contains("initial value of 4 integer elements"));
        g.states[0].init = Some(TensorData::F32(vec![0.0; 3]));
        assert!(g.validate().unwrap_err().to_string().contains("initial value of 3 float elements"));
    }

    #[test]
    fn a_read_must_take_the_current_value() {
        let mut g = state_graph(Some(TensorData::F32(vec![0.0; 4])));
        // A second read after the assignment still reading the start value.
        let r2 = act(&mut g, "r2", vec![1, 4]);
        g.layers.push(Layer {
            name: "stale".into(),
            op: Op::State(StateOp { access: StateAccess::Read, state: 0 }),
            inputs: vec![TensorId(1)],
            outputs: vec![r2],
            activation: Default::default(),
        });
        let e = g.validate().unwrap_err().to_string();
        assert!(e.contains("layer 'stale'") && e.contains("not the current value of state 'acc'"), "{e}");
    }

    #[test]
    fn validate_catches_a_stale_shape() {
        let mut g = conv_graph(1, 6, vec![6, 3, 3, 4]);
        g.infer_shapes().unwrap();
        g.tensors[2].shape = vec![1, 8, 8, 6];
        assert!(g.validate().unwrap_err().to_string().contains("output shape"));
    }
}
