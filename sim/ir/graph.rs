//! The graph: tensors, layers, shape inference and validation, and per-layer counts
//! (MACs, parameters) derived from shapes alone.

use super::op::{Conv2d, Op, Padding};
use super::quant::{DataType, QuantParams};
use super::shape::{conv_out_dim, resolve_padding};
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

/// Values of a constant tensor, widened into a container type.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// Float values.
    F32(Vec<f32>),
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
            TensorData::I32(v) => v.len(),
            TensorData::I64(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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
}

impl Tensor {
    /// A float32 tensor of `kind` with no quantization and no values yet: what importers and
    /// network definitions create before widths are assigned.
    pub fn float(name: impl Into<String>, shape: Vec<usize>, kind: TensorKind) -> Self {
        Tensor { name: name.into(), shape, dtype: DataType::F32, quant: None, kind, data: None }
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
        }
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

    /// The bias tensor of a conv or FC layer.
    pub fn bias_of(&self, layer: &Layer) -> Option<&Tensor> {
        layer.inputs.iter().map(|&t| self.tensor(t)).find(|t| t.kind == TensorKind::Bias)
    }

    /// A short operator name for reports; grouped convs that are depthwise show as `dwconv`.
    pub fn op_name(&self, layer: &Layer) -> &'static str {
        match &layer.op {
            Op::Conv2d(c) if c.groups > 1 => {
                let cin = self.data_input(layer).shape.last().copied().unwrap_or(0);
                if c.is_depthwise(cin) {
                    "dwconv"
                } else {
                    "gconv"
                }
            }
            op => op.name(),
        }
    }

    /// Multiply-accumulates of a layer: conv and FC only, one per weight-by-activation
    /// product (bias, pooling and element-wise work is not counted).
    pub fn macs(&self, layer: &Layer) -> Macs {
        match &layer.op {
            Op::Conv2d(c) => {
                let out = self.output(layer);
                let cin = self.data_input(layer).shape.last().copied().unwrap_or(0) as u64;
                let per_output = (c.kernel[0] as u64)
                    .saturating_mul(c.kernel[1] as u64)
                    .saturating_mul(cin / c.groups.max(1) as u64);
                Macs(out.elements().saturating_mul(per_output))
            }
            Op::FullyConnected(fc) => {
                let input = self.data_input(layer);
                let batch = input.shape.first().copied().unwrap_or(1).max(1) as u64;
                let in_features = input.elements() / batch;
                Macs(batch.saturating_mul(in_features).saturating_mul(fc.out_features as u64))
            }
            _ => Macs::ZERO,
        }
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

    /// Total parameters of the network.
    pub fn total_params(&self) -> u64 {
        self.layers.iter().map(|l| self.params(l)).sum()
    }

    /// Runs shape inference over all layers in order, overwriting every layer output's shape,
    /// then checks the graph (see [`Graph::validate`]).
    pub fn infer_shapes(&mut self) -> Result<(), IrError> {
        self.check_order()?;
        for i in 0..self.layers.len() {
            let shape = self.infer_layer(&self.layers[i])?;
            let out = self.layers[i].outputs[0];
            self.tensors[out.0].shape = shape;
        }
        Ok(())
    }

    /// Checks that the graph is well formed: names unique, topological order, and every
    /// layer's output shape equal to what shape inference gives.
    pub fn validate(&self) -> Result<(), IrError> {
        self.check_order()?;
        for t in &self.tensors {
            if let Some(q) = &t.quant {
                q.check(t.dtype, &t.shape).map_err(|message| IrError::BadQuant { tensor: t.name.clone(), message })?;
            }
        }
        let mut names = std::collections::HashSet::new();
        for l in &self.layers {
            if !names.insert(l.name.as_str()) {
                return Err(IrError::DuplicateName(l.name.clone()));
            }
        }
        for l in &self.layers {
            let shape = self.infer_layer(l)?;
            let out = self.output(l);
            if out.shape != shape {
                return Err(
                    self.inconsistent(l, format!("output shape {:?} but its inputs give {:?}", out.shape, shape))
                );
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

    fn inconsistent(&self, layer: &Layer, message: String) -> IrError {
        IrError::Inconsistent { layer: layer.name.clone(), op: self.op_name(layer).into(), message }
    }

    /// The output shape of one layer given its inputs' shapes.
    pub fn infer_layer(&self, l: &Layer) -> Result<Vec<usize>, IrError> {
        let data: Vec<&Tensor> = self.activation_inputs(l).collect();
        let x = match data.first() {
            Some(x) => *x,
            None => self.tensor(l.inputs[0]),
        };
        let err = |m: String| Err(self.inconsistent(l, m));
        match &l.op {
            Op::Conv2d(c) => {
                let [n, h, w, cin] = match x.shape[..] {
                    [n, h, w, c] => [n, h, w, c],
                    _ => return err(format!("expects an NHWC input, got shape {:?}", x.shape)),
                };
                if c.groups == 0 || cin % c.groups != 0 || c.out_channels % c.groups != 0 {
                    return err(format!(
                        "groups = {} must divide input channels {} and output channels {}",
                        c.groups, cin, c.out_channels
                    ));
                }
                if let Some(wt) = self.weights_of(l) {
                    let expect = vec![c.out_channels, c.kernel[0], c.kernel[1], cin / c.groups];
                    if wt.shape != expect {
                        return err(format!("weights have shape {:?}, expected {:?} (OHWI)", wt.shape, expect));
                    }
                }
                if let Some(b) = self.bias_of(l) {
                    if b.elements() != c.out_channels as u64 {
                        return err(format!("bias has {} elements, expected {}", b.elements(), c.out_channels));
                    }
                }
                let (oh, ow) = self.spatial(l, [h, w], c.kernel, c.stride, c.dilation, c.padding)?;
                Ok(vec![n, oh, ow, c.out_channels])
            }
            Op::FullyConnected(fc) => {
                let n = x.shape.first().copied().unwrap_or(1).max(1);
                let features = (x.elements() / n as u64) as usize;
                if let Some(wt) = self.weights_of(l) {
                    if wt.shape != [fc.out_features, features] {
                        return err(format!(
                            "weights have shape {:?}, expected [{}, {}] for input {:?}",
                            wt.shape, fc.out_features, features, x.shape
                        ));
                    }
                }
                Ok(vec![n, fc.out_features])
            }
            Op::Add => {
                if data.len() < 2 {
                    return err(format!("adds {} tensor(s); expected at least two inputs", data.len()));
                }
                for t in &data[1..] {
                    if t.shape != x.shape {
                        return err(format!("adds tensors of shapes {:?} and {:?}", x.shape, t.shape));
                    }
                }
                Ok(x.shape.clone())
            }
            Op::Concat { axis } => {
                let mut shape = x.shape.clone();
                if *axis >= shape.len() {
                    return err(format!("axis {} out of range for rank {}", axis, shape.len()));
                }
                for t in &data[1..] {
                    let same_rank = t.shape.len() == shape.len();
                    let same_other =
                        same_rank && t.shape.iter().zip(&x.shape).enumerate().all(|(d, (a, b))| d == *axis || a == b);
                    if !same_other {
                        return err(format!("concatenates {:?} with {:?} along axis {}", x.shape, t.shape, axis));
                    }
                    shape[*axis] = match shape[*axis].checked_add(t.shape[*axis]) {
                        Some(v) => v,
                        None => return err(format!("concatenated axis {axis} overflows")),
                    };
                }
                Ok(shape)
            }
            Op::Pool(p) => {
                if x.shape.len() != 4 {
                    return err(format!("expects an NHWC input, got shape {:?}", x.shape));
                }
                let (oh, ow) = self.spatial(l, [x.shape[1], x.shape[2]], p.kernel, p.stride, [1, 1], p.padding)?;
                Ok(vec![x.shape[0], oh, ow, x.shape[3]])
            }
            Op::Mean { axes, keep_dims } => {
                if axes.iter().any(|&a| a >= x.shape.len()) {
                    return err(format!("axes {:?} out of range for shape {:?}", axes, x.shape));
                }
                let mut shape = Vec::new();
                for (d, &s) in x.shape.iter().enumerate() {
                    if axes.contains(&d) {
                        if *keep_dims {
                            shape.push(1);
                        }
                    } else {
                        shape.push(s);
                    }
                }
                Ok(shape)
            }
            Op::Pad { pads } => {
                if pads.len() != x.shape.len() {
                    return err(format!("{} pad pairs for a rank-{} input", pads.len(), x.shape.len()));
                }
                match x.shape.iter().zip(pads).map(|(&s, &(a, b))| s.checked_add(a)?.checked_add(b)).collect() {
                    Some(shape) => Ok(shape),
                    None => err(format!("padding {:?} overflows shape {:?}", pads, x.shape)),
                }
            }
            Op::Reshape { shape } => {
                let total = x.elements();
                let known = shape.iter().filter(|&&d| d >= 0).try_fold(1u64, |a, &d| a.checked_mul(d as u64));
                let Some(known) = known else {
                    return err(format!("target shape {:?} has too many elements", shape));
                };
                let unknown = shape.iter().filter(|&&d| d < 0).count();
                if shape.iter().any(|&d| d < -1) || unknown > 1 {
                    return err(format!("invalid target shape {:?}", shape));
                }
                if unknown == 1 {
                    if known == 0 || total % known != 0 {
                        return err(format!("cannot reshape {:?} to {:?}", x.shape, shape));
                    }
                    Ok(shape.iter().map(|&d| if d < 0 { (total / known) as usize } else { d as usize }).collect())
                } else if known == total {
                    Ok(shape.iter().map(|&d| d as usize).collect())
                } else {
                    err(format!("cannot reshape {:?} ({} elements) to {:?}", x.shape, total, shape))
                }
            }
            Op::Softmax { .. } | Op::Quantize | Op::Dequantize => Ok(x.shape.clone()),
        }
    }

    fn spatial(
        &self,
        l: &Layer,
        input: [usize; 2],
        kernel: [usize; 2],
        stride: [usize; 2],
        dilation: [usize; 2],
        padding: Padding,
    ) -> Result<(usize, usize), IrError> {
        let p = resolve_padding(padding, input, kernel, stride, dilation);
        let oh = conv_out_dim(input[0], kernel[0], stride[0], dilation[0], p.top, p.bottom);
        let ow = conv_out_dim(input[1], kernel[1], stride[1], dilation[1], p.left, p.right);
        match (oh, ow) {
            (Some(oh), Some(ow)) if oh > 0 && ow > 0 => Ok((oh, ow)),
            _ => Err(self.inconsistent(
                l,
                format!(
                    "a {}x{} window with stride {:?} and padding {:?} does not fit a {}x{} input",
                    kernel[0], kernel[1], stride, padding, input[0], input[1]
                ),
            )),
        }
    }

    /// The conv attributes of a layer, if it is a convolution.
    pub fn conv(layer: &Layer) -> Option<&Conv2d> {
        match &layer.op {
            Op::Conv2d(c) => Some(c),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::op::Activation;
    use super::*;

    fn act(g: &mut Graph, name: &str, shape: Vec<usize>) -> TensorId {
        g.add_tensor(Tensor::float(name, shape, TensorKind::Activation))
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

    #[test]
    fn validate_catches_a_stale_shape() {
        let mut g = conv_graph(1, 6, vec![6, 3, 3, 4]);
        g.infer_shapes().unwrap();
        g.tensors[2].shape = vec![1, 8, 8, 6];
        assert!(g.validate().unwrap_err().to_string().contains("output shape"));
    }
}
