//! The fully connected family: `[batch, in_features]` (the input flattened after its first
//! axis) times weights `[out_features, in_features]`.

use super::conv::f32_data;
use super::weighted::{float_operands, weighted_layer};
use super::work::{ConvWork, Operand, Phase};
use super::{
    int_input, DataFree, IntKernel, LayerCx, Moments, OnTheFly, OpFamily, QuantRule, WeightLayout, WorkbookRow,
};
use crate::ir::FullyConnected;
use crate::kernels::fc::{self, FcParams};
use crate::kernels::{float, Arithmetic, Requant, Values};
use crate::units::Macs;

/// A prepared integer fully connected layer.
pub struct IntFc(Box<FcParams>);

impl IntFc {
    pub(super) fn run(&self, inputs: &[&Values], arith: &Arithmetic) -> Result<Vec<Values>, String> {
        Ok(vec![Values::Int(fc::fully_connected(&self.0, int_input(inputs, 0)?, arith))])
    }
}

/// Batch and input features of the layer's data input.
fn batch_features(cx: &LayerCx) -> (usize, usize) {
    let x = cx.x();
    let batch = x.shape.first().copied().unwrap_or(1).max(1);
    (batch, (x.elements() / batch as u64) as usize)
}

impl OpFamily for FullyConnected {
    fn name(&self) -> &'static str {
        "fc"
    }

    fn infer_shapes(&self, cx: &LayerCx) -> Result<Vec<Vec<usize>>, String> {
        let (n, features) = batch_features(cx);
        let wt = cx.weights().ok_or_else(|| {
            format!("has no weight tensor, expected one of shape [{}, {features}]", self.out_features)
        })?;
        if wt.shape != [self.out_features, features] {
            return Err(format!(
                "weights have shape {:?}, expected [{}, {}] for input {:?}",
                wt.shape,
                self.out_features,
                features,
                cx.x().shape
            ));
        }
        Ok(vec![vec![n, self.out_features]])
    }

    fn macs(&self, cx: &LayerCx) -> Macs {
        let (batch, features) = batch_features(cx);
        Macs((batch as u64).saturating_mul(features as u64).saturating_mul(self.out_features as u64))
    }

    fn work(&self, cx: &LayerCx) -> Vec<Phase> {
        let (batch, features) = batch_features(cx);
        let work = ConvWork::fully_connected(batch as u64, features as u64, self.out_features as u64);
        vec![Phase::Gemm { work, operand: Operand::Constant }]
    }

    fn quant_rule(&self, _input_bits: u8, _output_bits: u8) -> QuantRule {
        QuantRule::Free
    }

    fn dequantizes(&self) -> bool {
        false
    }

    fn on_the_fly(&self, _cx: &LayerCx) -> OnTheFly {
        OnTheFly::No
    }

    fn workbook_row(&self, _cx: &LayerCx) -> WorkbookRow<'_> {
        WorkbookRow::FullyConnected { out_features: self.out_features }
    }

    /// The output's batch follows from the inputs'.
    fn set_batch(&mut self, _n: usize) {}

    fn weight_layout(&self) -> WeightLayout<'_> {
        WeightLayout::Matrix(self)
    }

    fn fused_activation(&self) -> bool {
        true
    }

    fn eval_float(&self, cx: &LayerCx, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, String> {
        let (w, b) = float_operands(cx)?;
        let (batch, features) = batch_features(cx);
        let x = inputs.first().ok_or("missing input")?;
        Ok(vec![float::fully_connected(batch, features, self.out_features, x, &w, b.as_deref())])
    }

    fn prepare_int(&self, cx: &LayerCx, _arith: &Arithmetic) -> Result<IntKernel, String> {
        let wl = weighted_layer(cx, self.out_features)?;
        let (batch, in_features) = batch_features(cx);
        // LiteRT's FULLY_CONNECTED (int8 and 16x8, per tensor or per channel) rounds the
        // accumulator once with the full multiplier (docs/tflite_export.md); wider weights
        // with wide activations (post-training quantization at > 8 bits) take the reduced
        // 64-bit path of the 16x8 convolutions.
        let requant = if wl.x.dtype.bits() > 8 && wl.w.dtype.bits() > 8 { Requant::Reduced } else { Requant::Single };
        let requant = requant.checked(&wl.multipliers)?;
        Ok(IntKernel::Fc(IntFc(Box::new(FcParams {
            batch,
            in_features,
            out_features: self.out_features,
            weight_zp: wl.weight_zp,
            weights: wl.weights,
            bias: wl.bias,
            input_zp: wl.input_zp,
            output_zp: wl.output_zp,
            multipliers: wl.multipliers,
            requant,
            act_min: wl.act_min,
            act_max: wl.act_max,
        }))))
    }

    /// Mean `b + sum W * E[x]`, variance `sum W^2 Var[x]` over the flattened input (its
    /// moments collapsed when they are per channel of a larger tensor).
    fn data_free(&self, cx: &LayerCx, inputs: &[Option<&Moments>]) -> Option<DataFree> {
        let x = inputs.first().copied().flatten()?;
        let w = cx.weights().and_then(f32_data)?;
        let b = cx.bias().and_then(f32_data);
        let outf = self.out_features;
        let inf = w.len() / outf.max(1);
        let flat = x.clone().with_channels(inf);
        let mut mean = vec![0f64; outf];
        let mut var = vec![0f64; outf];
        for o in 0..outf {
            for (k, &wv) in w[o * inf..(o + 1) * inf].iter().enumerate() {
                let (mu, v) = flat.channel(k);
                mean[o] += wv as f64 * mu;
                var[o] += (wv as f64).powi(2) * v;
            }
            mean[o] += b.map_or(0.0, |b| b[o] as f64);
        }
        Some(DataFree { moments: Moments { mean, var }, within_input_range: false })
    }
}
