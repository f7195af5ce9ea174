//! TFLite's operators, one module per op family with its reader (TFLite operator and
//! options -> IR layer) and its writer (IR layer -> operator code, version, options and
//! operands, or the exporter's refusal) side by side, so the two directions cannot drift
//! apart. The importer (`super::Importer`) and the exporter (`crate::export::tflite`) call
//! [`read`] and [`write`]; everything shared (tensors, quantization, the operator code
//! table, the fused activation check) stays with them. A family of kinds (element-wise,
//! pooling, resize, conversion) holds a table of its kinds' operators and versions, read
//! in both directions.

mod binary;
mod conv;
mod convert;
mod fc;
mod layout;
mod matmul;
mod pool;
pub(super) mod recurrent;
mod reduce;
mod resize;
mod softmax;
mod transpose_conv;
mod unary;

use super::generated::tflite as fb;
use super::{codes, Importer, LayerErr};
use crate::export::ExportError;
use crate::ir::{resolve_padding, Activation, Graph, Layer, Op, Padding, Tensor, TensorData, TensorId};

/// Reads one operator as a layer. The family is chosen by the builtin code; a code no family
/// reads is unsupported (listed with the model's other blockers).
pub(super) fn read(cx: &mut ReadCtx<'_, '_>) -> Result<Vec<Layer>, LayerErr> {
    use fb::BuiltinOperator as B;
    // Every operator needs an output, whatever it is.
    cx.out()?;
    match cx.code {
        // Several layers: UNPACK one per output, the LSTM the layer and the layout around it.
        B::Unpack => cx.imp.unpack(cx.g, cx.index, cx.inputs, cx.outputs, cx.opts),
        B::UnidirectionalSequenceLstm => recurrent::read(cx),
        _ => one(cx).map(|l| vec![l]),
    }
}

/// An operator that is one layer, read by its family.
fn one(cx: &mut ReadCtx<'_, '_>) -> Result<Layer, LayerErr> {
    use fb::BuiltinOperator as B;
    match cx.code {
        B::Conv2d | B::DepthwiseConv2d => conv::read(cx),
        B::BatchMatmul => matmul::read(cx),
        B::TransposeConv => transpose_conv::read(cx),
        B::FullyConnected => fc::read(cx),
        B::Mean | B::ReduceMax => reduce::read(cx),
        B::Softmax => softmax::read(cx),
        B::Concatenation
        | B::Reshape
        | B::Squeeze
        | B::ExpandDims
        | B::StridedSlice
        | B::Slice
        | B::Pad
        | B::Tile
        | B::Transpose
        | B::DepthToSpace
        | B::SpaceToDepth
        | B::Gather
        | B::Split
        | B::SplitV => layout::read(cx),
        code if binary::of_code(code).is_some() => binary::read(cx),
        code if unary::of_code(code, cx.opts).is_some() => unary::read(cx),
        code if pool::of_code(code).is_some() => pool::read(cx),
        code if resize::of_code(code).is_some() => resize::read(cx),
        code if convert::of_code(code).is_some() => convert::read(cx),
        _ => Err(LayerErr::Unsupported(String::new())),
    }
}

/// Writes one layer: its operator code, version and options, its operands in `cx.inputs`
/// (constants the operator takes as tensors appended), or why TFLite cannot hold it.
pub(crate) fn write(cx: &mut WriteCtx<'_>) -> Result<Written, ExportError> {
    let l = cx.l;
    match &l.op {
        Op::Conv2d(c) => conv::write(cx, c),
        Op::TransposeConv(t) => transpose_conv::write(cx, t),
        Op::MatMul(m) => matmul::write(cx, m),
        Op::FullyConnected(f) => fc::write(cx, f),
        Op::Binary(kind) => binary::write(cx, *kind),
        Op::Unary(kind) => unary::write(cx, *kind),
        Op::Pool(p) => pool::write(cx, p),
        Op::Reduce(r) => reduce::write(cx, r),
        Op::Softmax(s) => softmax::write(cx, s),
        Op::Layout(layout) => layout::write(cx, layout),
        Op::Resize(r) => resize::write(cx, r),
        Op::Convert(kind) => convert::write(cx, *kind),
        Op::Recurrent(r) => recurrent::write(cx, r),
        Op::Norm(_) | Op::Embedding(_) | Op::Rotary(_) => Err(cx.err(format!(
            "the TFLite export does not write {} layers yet (issue 19: a later slice lowers them); write the model as .aqm",
            l.op.name()
        ))),
        // Read from VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE and CALL_ONCE by `super::variables`.
        Op::State(_) => Err(cx.err(
            "the TFLite export does not write graph states (VAR_HANDLE, READ_VARIABLE, ASSIGN_VARIABLE) yet; \
             write the model as .aqm"
                .into(),
        )),
    }
}

/// One operator being read: the file's operator and what the layer is built from.
pub(super) struct ReadCtx<'i, 'f> {
    pub imp: &'i Importer<'i>,
    pub g: &'i mut Graph,
    /// The operator's index in the subgraph.
    pub index: usize,
    pub code: fb::BuiltinOperator,
    /// The operator's inputs (`None`: an omitted optional input).
    pub inputs: &'i [Option<TensorId>],
    pub outputs: &'i [TensorId],
    /// The operator's intermediate tensors (LiteRT's integer LSTM keeps scales there).
    pub intermediates: &'i [TensorId],
    pub opts: Option<fb::BuiltinOptionsRef<'f>>,
}

impl ReadCtx<'_, '_> {
    /// An operator that is readable but inconsistent.
    pub fn inv(&self, m: String) -> LayerErr {
        LayerErr::Other(self.imp.invalid(format!(
            "operator {} ({}): {m}",
            self.index,
            codes::builtin_name(self.code as i32)
        )))
    }

    /// Input `i`, which must be present.
    pub fn input(&self, i: usize) -> Result<TensorId, LayerErr> {
        self.inputs.get(i).copied().flatten().ok_or_else(|| self.inv(format!("missing input {i}")))
    }

    /// Input `i` if present (an optional bias).
    pub fn optional(&self, i: usize) -> Option<TensorId> {
        self.inputs.get(i).copied().flatten()
    }

    /// The first output.
    pub fn out(&self) -> Result<TensorId, LayerErr> {
        self.outputs.first().copied().ok_or_else(|| self.inv("no output".into()))
    }

    /// The IR activation of a fused activation, or the operator is unsupported with it.
    pub fn act(&self, a: fb::ActivationFunctionType) -> Result<Activation, LayerErr> {
        codes::activation_in(a).ok_or_else(|| {
            LayerErr::Unsupported(format!(" with fused activation {}", codes::activation_name(a as i32)))
        })
    }

    /// The values of a constant integer tensor (axes, sizes, indices).
    pub fn const_ints(&self, t: TensorId) -> Result<Vec<i64>, LayerErr> {
        self.g
            .tensor(t)
            .data
            .as_ref()
            .and_then(TensorData::ints_i64)
            .ok_or_else(|| self.inv(format!("tensor {} must be a constant integer tensor", t.0)))
    }

    /// Axis `a` of tensor `t` (negative: from the back), checked against its rank.
    pub fn rank_axis(&self, a: i64, t: TensorId) -> Result<usize, LayerErr> {
        let r = self.g.tensor(t).shape.len() as i64;
        let a = if a < 0 { a + r } else { a };
        if a < 0 || a >= r {
            return Err(self.inv(format!("axis {a} out of range for rank {r}")));
        }
        Ok(a as usize)
    }

    /// The layer's name: `op{index}_{operator}`.
    pub fn name(&self) -> String {
        format!("op{}_{}", self.index, format!("{:?}", self.code).to_lowercase())
    }

    /// The layer of `op` on `inputs` writing the operator's first output.
    pub fn layer(&self, op: Op, inputs: Vec<TensorId>, activation: Activation) -> Result<Layer, LayerErr> {
        Ok(Layer { name: self.name(), op, inputs, outputs: vec![self.out()?], activation })
    }
}

/// What a layer is written as: the builtin operator, its version (the converter's for int8
/// models, checked against the shared converter-made models; LiteRT accepts any version its
/// kernels register) and its options.
pub(crate) struct Written {
    pub code: fb::BuiltinOperator,
    pub version: i32,
    pub options: Option<fb::BuiltinOptions>,
}

/// One layer being written.
pub(crate) struct WriteCtx<'w> {
    pub g: &'w Graph,
    pub l: &'w Layer,
    /// The layer's data input and its (first) output.
    pub x: &'w Tensor,
    pub out: &'w Tensor,
    /// Operands wider than 8 bits (16x8): the versions differ.
    pub wide: bool,
    /// TFLite's code of the layer's fused activation.
    pub act: fb::ActivationFunctionType,
    /// The operator's operands, the layer's inputs to start with.
    pub inputs: Vec<i32>,
    /// The file's tensors and buffers, for the constants a writer appends.
    pub tensors: &'w mut Vec<fb::Tensor>,
    pub buffers: &'w mut Vec<fb::Buffer>,
}

impl<'w> WriteCtx<'w> {
    /// An error naming the layer.
    pub fn err(&self, message: String) -> ExportError {
        (self.err_fn())(message)
    }

    /// [`WriteCtx::err`] as a closure that does not borrow the context (so a writer can
    /// append constants between its checks).
    pub fn err_fn(&self) -> impl Fn(String) -> ExportError + Copy + 'w {
        let (g, l) = (self.g, self.l);
        move |message| ExportError::Layer { layer: l.name.clone(), op: g.op_name(l).to_string(), message }
    }

    /// Appends an int32 constant (a RESHAPE shape, MEAN axes, PAD paddings) and returns its index.
    pub fn const_i32(&mut self, name: String, shape: Vec<i32>, values: &[i32]) -> i32 {
        self.buffers.push(fb::Buffer { data: Some(values.iter().flat_map(|v| v.to_le_bytes()).collect()) });
        let buffer = (self.buffers.len() - 1) as u32;
        self.tensors.push(fb::Tensor {
            shape: Some(shape),
            type_: fb::TensorType::Int32,
            buffer,
            name: Some(name),
            ..Default::default()
        });
        (self.tensors.len() - 1) as i32
    }

    /// TFLite's padding for an IR padding of a window over the data input: SAME or VALID,
    /// or an explicit padding equal to one of them; any other is an error.
    pub fn padding(
        &self,
        p: Padding,
        kernel: [usize; 2],
        stride: [usize; 2],
        dilation: [usize; 2],
    ) -> Result<fb::Padding, ExportError> {
        let Padding::Explicit { .. } = p else {
            return Ok(if p == Padding::Same { fb::Padding::Same } else { fb::Padding::Valid });
        };
        let x = self.x;
        let hw = [x.shape.get(1).copied().unwrap_or(1), x.shape.get(2).copied().unwrap_or(1)];
        let explicit = resolve_padding(p, hw, kernel, stride, dilation);
        if explicit == resolve_padding(Padding::Valid, hw, kernel, stride, dilation) {
            Ok(fb::Padding::Valid)
        } else if explicit == resolve_padding(Padding::Same, hw, kernel, stride, dilation) {
            Ok(fb::Padding::Same)
        } else {
            Err(self
                .err(format!("explicit padding {explicit:?} is neither SAME nor VALID, which TFLite cannot express")))
        }
    }

    /// The operator version for 8-bit operands (`versions[0]`) or wider ones (`versions[1]`).
    pub fn version(&self, versions: [i32; 2]) -> i32 {
        versions[self.wide as usize]
    }

    /// The operator version of a copy for its output type: `[float32, int8, int16]`.
    pub fn copy_version(&self, versions: [i32; 3]) -> i32 {
        let out = self.out;
        match out.dtype.bits() {
            b if out.dtype == crate::ir::DataType::F32 || b > 16 => versions[0],
            b if b <= 8 => versions[1],
            _ => versions[2],
        }
    }
}

/// The error for a corrupt options table, as a closure that does not borrow the context
/// (so a reader can change the graph while it reads options).
pub(super) fn corrupt<'i>(imp: &'i Importer<'i>) -> impl Fn(planus::Error) -> LayerErr + Copy + 'i {
    move |e| LayerErr::Other(imp.corrupt(e))
}

/// A table of IR kinds, TFLite operators and their versions (8-bit, wider operands).
pub(super) type KindTable<K> = [(K, fb::BuiltinOperator, [i32; 2])];

pub(super) fn kind_in<K: Copy>(table: &KindTable<K>, code: fb::BuiltinOperator) -> Option<K> {
    table.iter().find(|(_, c, _)| *c == code).map(|(k, _, _)| *k)
}

pub(super) fn kind_out<K: PartialEq>(table: &KindTable<K>, kind: K) -> Option<(fb::BuiltinOperator, [i32; 2])> {
    table.iter().find(|(k, _, _)| *k == kind).map(|(_, c, v)| (*c, *v))
}

/// TFLite's padding of a file's padding.
pub(super) fn padding_in(p: fb::Padding) -> Padding {
    match p {
        fb::Padding::Same => Padding::Same,
        fb::Padding::Valid => Padding::Valid,
    }
}

/// A stride, dilation or window size read from the file (at least 1).
pub(super) fn pos(v: i32) -> usize {
    v.max(1) as usize
}

/// A stride, dilation or window size as TFLite's int32 (saturating).
pub(super) fn stride_i32(v: usize) -> i32 {
    v.min(i32::MAX as usize) as i32
}

/// Sizes, axes or indices as TFLite's int32.
pub(super) fn ints_i32(v: &[usize]) -> Result<Vec<i32>, String> {
    v.iter().map(|&x| i32::try_from(x).map_err(|_| format!("{x} does not fit int32"))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ir::{Convert, PoolKind, ResizeKind};

    #[test]
    fn pool_resize_and_convert_kinds_round_trip() {
        for k in [PoolKind::Max, PoolKind::Avg] {
            assert_eq!(pool::of_kind(k).and_then(|(c, _)| pool::of_code(c)), Some(k));
        }
        for k in [Convert::Quantize, Convert::Dequantize, Convert::Cast] {
            assert_eq!(convert::of_kind(k).and_then(|(c, _)| convert::of_code(c)), Some(k));
        }
        for k in [ResizeKind::Bilinear, ResizeKind::Nearest] {
            assert_eq!(resize::of_code(resize::of_kind(k).0), Some(k));
        }
    }
}
