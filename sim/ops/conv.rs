//! The convolution family: dense, grouped and depthwise 2-D convolutions (NHWC data, OHWI
//! weights; depthwise is `groups == in_channels`).

use super::weighted::{float_operands, hybrid_operands, int_weights, weighted_layer};
use super::work::{ConvWork, Operand, Phase};
use super::{
    int_input, DataFree, IntKernel, LayerCx, Moments, OnTheFly, OpFamily, QuantRule, WeightLayout, WorkbookRow,
};
use crate::ir::{resolve_padding, window_out, Conv2d};
use crate::ir::{DataType, TensorData};
use crate::kernels::conv::{self, ConvGeometry, ConvParams, HybridConvParams, PackedConv};
use crate::kernels::elem::Elem;
use crate::kernels::{float, shape4, Arithmetic, Requant, Values};
use crate::units::Macs;

/// A prepared convolution: integer, or LiteRT's hybrid form (float input and output, integer
/// weights, each image quantized when it runs).
pub enum IntConv {
    /// Integer input and output (weights packed for the fast path when it applies).
    Int {
        /// The layer's parameters; with `packed`, without their weights (the fast kernels
        /// read only the packed ones, and a run's later layers reuse the memory freed).
        params: Box<ConvParams>,
        /// The weights packed for the fast kernels, when they apply.
        packed: Option<Box<PackedConv>>,
        /// Whether the fast kernels store the output as 8 bits ([`Values::I8`]): a signed
        /// output of at most 8 bits, its clamp range within i8.
        i8_out: bool,
    },
    /// Float input and output, int8 weights.
    Hybrid(Box<HybridConvParams>),
}

impl IntConv {
    pub(super) fn run(&self, inputs: &[&Values], arith: &Arithmetic) -> Result<Vec<Values>, String> {
        match self {
            IntConv::Int { params, packed: Some(pk), i8_out } => {
                fn fast<X: Elem>(p: &ConvParams, pk: &PackedConv, x: &[X], i8_out: bool) -> Values {
                    match i8_out {
                        true => Values::I8(conv::conv_fast_as(p, pk, x)),
                        false => Values::Int(conv::conv_fast_as(p, pk, x)),
                    }
                }
                Ok(vec![match inputs.first() {
                    Some(Values::I8(x)) => fast(params, pk, x, *i8_out),
                    Some(Values::Int(x)) => fast(params, pk, x, *i8_out),
                    Some(Values::F32(_)) => return Err("expects an integer input, got floats".into()),
                    None => return Err("input not computed".into()),
                }])
            }
            IntConv::Int { params, packed: None, .. } => {
                Ok(vec![Values::Int(conv::conv_reference(params, &int_input(inputs, 0)?, arith))])
            }
            IntConv::Hybrid(p) => match inputs.first() {
                Some(Values::F32(x)) => Ok(vec![Values::F32(conv::hybrid_conv(p, x))]),
                _ => Err("the hybrid layer expects a float input".into()),
            },
        }
    }
}

fn geometry(c: &Conv2d, cx: &LayerCx) -> ConvGeometry {
    let input = shape4(&cx.x().shape);
    let pad = resolve_padding(c.padding, [input[1], input[2]], c.kernel, c.stride, c.dilation);
    ConvGeometry {
        input,
        output: shape4(&cx.out().shape),
        kernel: c.kernel,
        stride: c.stride,
        dilation: c.dilation,
        pad,
    }
}

impl OpFamily for Conv2d {
    fn name(&self) -> &'static str {
        if self.groups > 1 {
            "gconv"
        } else {
            "conv"
        }
    }

    fn infer_shapes(&self, cx: &LayerCx) -> Result<Vec<Vec<usize>>, String> {
        let c = self;
        let x = cx.x();
        let [n, h, w, cin] = match x.shape[..] {
            [n, h, w, c] => [n, h, w, c],
            _ => return Err(format!("expects an NHWC input, got shape {:?}", x.shape)),
        };
        if c.groups == 0 || cin % c.groups != 0 || c.out_channels % c.groups != 0 {
            return Err(format!(
                "groups = {} must divide input channels {} and output channels {}",
                c.groups, cin, c.out_channels
            ));
        }
        let expect = vec![c.out_channels, c.kernel[0], c.kernel[1], cin / c.groups];
        let wt =
            cx.weights().ok_or_else(|| format!("has no weight tensor, expected one of shape {expect:?} (OHWI)"))?;
        if wt.shape != expect {
            return Err(format!("weights have shape {:?}, expected {:?} (OHWI)", wt.shape, expect));
        }
        if let Some(b) = cx.bias() {
            if b.elements() != c.out_channels as u64 {
                return Err(format!("bias has {} elements, expected {}", b.elements(), c.out_channels));
            }
        }
        let (oh, ow) = window_out([h, w], c.kernel, c.stride, c.dilation, c.padding)?;
        Ok(vec![vec![n, oh, ow, c.out_channels]])
    }

    fn macs(&self, cx: &LayerCx) -> Macs {
        let cin = cx.x().shape.last().copied().unwrap_or(0) as u64;
        let per_output = (self.kernel[0] as u64)
            .saturating_mul(self.kernel[1] as u64)
            .saturating_mul(cin / self.groups.max(1) as u64);
        Macs(cx.out().elements().saturating_mul(per_output))
    }

    fn work(&self, cx: &LayerCx) -> Vec<Phase> {
        let (x, out) = (cx.x(), cx.out());
        let dim = |t: &[usize], i: usize| t.get(i).copied().unwrap_or(1) as u64;
        let c = self;
        let work = ConvWork {
            n: dim(&x.shape, 0),
            ih: dim(&x.shape, 1),
            iw: dim(&x.shape, 2),
            c: dim(&x.shape, 3),
            k: c.out_channels as u64,
            groups: c.groups as u64,
            r: c.kernel[0] as u64,
            s: c.kernel[1] as u64,
            sh: c.stride[0] as u64,
            sw: c.stride[1] as u64,
            dh: c.dilation[0] as u64,
            dw: c.dilation[1] as u64,
            oh: dim(&out.shape, 1),
            ow: dim(&out.shape, 2),
        };
        vec![Phase::Gemm { work, operand: Operand::Constant }]
    }

    fn quant_rule(&self, _input_bits: u8, _output_bits: u8) -> QuantRule {
        QuantRule::Free
    }

    fn dequantizes(&self) -> bool {
        false
    }

    /// Only the fused post-processing runs behind a convolution; the convolution heads it.
    fn on_the_fly(&self, _cx: &LayerCx) -> OnTheFly {
        OnTheFly::No
    }

    fn workbook_row(&self, _cx: &LayerCx) -> WorkbookRow<'_> {
        WorkbookRow::Conv(self)
    }

    /// The output's batch follows from the inputs'.
    fn set_batch(&mut self, _n: usize) {}

    fn weight_layout(&self) -> WeightLayout<'_> {
        WeightLayout::Conv(self)
    }

    fn fused_activation(&self) -> bool {
        true
    }

    fn eval_float(&self, cx: &LayerCx, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, String> {
        let (w, b) = float_operands(cx)?;
        let x = inputs.first().ok_or("missing input")?;
        Ok(vec![float::conv(&geometry(self, cx), self.groups, x, &w, b.as_deref())])
    }

    fn prepare_int(&self, cx: &LayerCx, arith: &Arithmetic) -> Result<IntKernel, String> {
        let geom = geometry(self, cx);
        if let Some(w) = cx.weights().filter(|_| cx.g.is_hybrid(cx.l)) {
            // LiteRT's hybrid kernels, per channel or per tensor by the weights' scales.
            let h = hybrid_operands(cx, w, self.out_channels)?;
            let kernel = self.hybrid_kernel(geom.input[3], &h.scales)?;
            return Ok(IntKernel::Conv(IntConv::Hybrid(Box::new(HybridConvParams {
                kernel,
                depthwise: self.is_depthwise(geom.input[3]),
                geom,
                groups: self.groups,
                weights: h.weights,
                weight_scales: h.scales,
                bias: h.bias,
                activation: cx.l.activation,
            }))));
        }
        let wl = weighted_layer(cx, geom.output[3])?;
        let requant = if wl.x.dtype.bits() > 8 { Requant::Reduced } else { Requant::Double };
        let requant = requant.checked(&wl.multipliers)?;
        let mut params = ConvParams {
            geom,
            groups: self.groups,
            weight_zp: wl.weight_zp,
            weights: Vec::new(),
            bias: wl.bias,
            input_zp: wl.input_zp,
            output_zp: wl.output_zp,
            multipliers: wl.multipliers,
            requant,
            act_min: wl.act_min,
            act_max: wl.act_max,
        };
        let [kh, kw] = params.geom.kernel;
        let count = params.geom.output[3] * kh * kw * (params.geom.input[3] / self.groups.max(1));
        if wl.w.data.as_ref().map(TensorData::len) != Some(count) {
            return Err(format!("weights hold {:?} values, expected {count}", wl.w.data.as_ref().map(TensorData::len)));
        }
        // The fast kernels pack the weights as the graph stores them (8-bit ones from their
        // 8 bits); only the reference kernel keeps them, widened.
        let (xb, wb) = (wl.x.dtype.bits(), wl.w.dtype.bits());
        let x_range = crate::kernels::qrange(wl.x.dtype);
        let fast = match &wl.w.data {
            Some(TensorData::I8(v)) => conv::fast_supported_for(&params, v, x_range, xb, wb, arith),
            Some(TensorData::I32(v)) => conv::fast_supported_for(&params, v, x_range, xb, wb, arith),
            Some(TensorData::I64(_) | TensorData::F32(_)) | None => conv::fast_supported(&params, xb, wb, arith),
        };
        let packed = if fast {
            Some(Box::new(match &wl.w.data {
                Some(TensorData::I8(v)) => conv::pack_weights(&params, v, arith),
                Some(TensorData::I32(v)) => conv::pack_weights(&params, v, arith),
                Some(TensorData::I64(_) | TensorData::F32(_)) | None => {
                    conv::pack_weights(&params, &int_weights(wl.w)?, arith)
                }
            }))
        } else {
            params.weights = int_weights(wl.w)?;
            None
        };
        let i8_out = packed.is_some()
            && matches!(cx.out().dtype, DataType::Int { bits: ..=8, signed: true })
            && <i8 as Elem>::RANGE.0 <= params.act_min
            && params.act_max <= <i8 as Elem>::RANGE.1;
        Ok(IntKernel::Conv(IntConv::Int { params: Box::new(params), packed, i8_out }))
    }

    /// A conv output channel has mean `b + sum W * E[x]` and variance `sum W^2 Var[x]`
    /// (independent inputs).
    fn data_free(&self, cx: &LayerCx, inputs: &[Option<&Moments>]) -> Option<DataFree> {
        let x = inputs.first().copied().flatten()?;
        let w = cx.weights().and_then(f32_data)?;
        let b = cx.bias().and_then(f32_data);
        let cout = cx.out().shape.last().copied().unwrap_or(1);
        let per = w.len() / cout.max(1);
        let cin_g = cx.weights().and_then(|t| t.shape.last().copied()).unwrap_or(1).max(1);
        let cout_g = cout / self.groups.max(1);
        let mut mean = vec![0f64; cout];
        let mut var = vec![0f64; cout];
        for co in 0..cout {
            let grp = co / cout_g.max(1);
            for (k, &wv) in w[co * per..(co + 1) * per].iter().enumerate() {
                let (mu, v) = x.channel(grp * cin_g + k % cin_g);
                mean[co] += wv as f64 * mu;
                var[co] += (wv as f64).powi(2) * v;
            }
            mean[co] += b.map_or(0.0, |b| b[co] as f64);
        }
        Some(DataFree { moments: Moments { mean, var }, within_input_range: false })
    }
}

/// The float values of a constant, if it has them.
pub(crate) fn f32_data(t: &crate::ir::Tensor) -> Option<&[f32]> {
    match &t.data {
        Some(crate::ir::TensorData::F32(v)) => Some(v),
        _ => None,
    }
}
