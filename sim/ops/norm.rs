//! The normalization family: LayerNorm and RMSNorm over the last axis, with a learned
//! per-element scale `gamma` (a weight `[d]`) and, for LayerNorm, shift `beta` (a bias
//! `[d]`), as transformers use them.
//!
//! Cost: vector work reading the input and the `d` (or `2d`) constants once and writing the
//! output. Float only for now: LiteRT lowers LayerNorm to MEAN / SQUARED_DIFFERENCE / RSQRT
//! chains whose integer forms are a later slice of issue 19, so the integer path refuses
//! these layers by name and quantization keeps them in float.

use super::work::{Phase, VectorWork};
use super::{
    DataFree, IntKernel, LayerCx, Moments, OnTheFly, OpFamily, QuantRule, WeightLayout, WorkbookRow, NO_WORKBOOK_ROW,
};
use crate::ir::{Norm, NormKind, Tensor, TensorKind};
use crate::kernels::{const_f32, Arithmetic};
use crate::units::Macs;

/// The row width and the constants of a layer: gamma, and beta for LayerNorm.
fn constants<'a>(n: &Norm, cx: &LayerCx<'a>) -> Result<(usize, &'a Tensor, Option<&'a Tensor>), String> {
    let d = cx.x().shape.last().copied().unwrap_or(0);
    let gamma = cx.weights().ok_or_else(|| format!("has no gamma (a weight of shape [{d}])"))?;
    if gamma.shape != [d] {
        return Err(format!("gamma has shape {:?}, expected [{d}] (the last axis of {:?})", gamma.shape, cx.x().shape));
    }
    let beta = cx.bias();
    match (n.kind, beta) {
        (NormKind::Layer, None) => Err(format!("LayerNorm has no beta (a bias of shape [{d}])")),
        (NormKind::Layer, Some(b)) if b.shape != [d] => {
            Err(format!("beta has shape {:?}, expected [{d}] (the last axis of {:?})", b.shape, cx.x().shape))
        }
        (NormKind::Rms, Some(_)) => Err("RMSNorm takes no beta".into()),
        (NormKind::Layer, Some(_)) | (NormKind::Rms, None) => Ok((d, gamma, beta)),
    }
}

impl Norm {
    /// Vector operations per element: LayerNorm sums (1), sums centred squares (2),
    /// normalizes (2) and applies gamma and beta (2); RMSNorm sums squares (1), normalizes
    /// (1) and applies gamma (1). The per-row square root is not counted.
    fn ops_per_element(&self) -> u64 {
        match self.kind {
            NormKind::Layer => 7,
            NormKind::Rms => 3,
        }
    }

    fn label(&self) -> &'static str {
        match self.kind {
            NormKind::Layer => "LAYER_NORM",
            NormKind::Rms => "RMS_NORM",
        }
    }
}

/// LayerNorm (`beta` given) or RMSNorm (`beta` none) of each row of `d` elements of `x`,
/// accumulated in double.
pub fn norm_f32(x: &[f32], d: usize, gamma: &[f32], beta: Option<&[f32]>, epsilon: f32) -> Vec<f32> {
    let mut out = vec![0f32; x.len()];
    let d = d.max(1);
    for (row, o) in x.chunks(d).zip(out.chunks_mut(d)) {
        let n = row.len() as f64;
        let mean = if beta.is_some() { row.iter().map(|&v| f64::from(v)).sum::<f64>() / n } else { 0.0 };
        let var = row.iter().map(|&v| (f64::from(v) - mean).powi(2)).sum::<f64>() / n;
        let inv = 1.0 / (var + f64::from(epsilon)).sqrt();
        for (i, (&v, oo)) in row.iter().zip(o.iter_mut()).enumerate() {
            let shift = beta.map_or(0.0, |b| f64::from(b[i]));
            *oo = ((f64::from(v) - mean) * inv * f64::from(gamma[i]) + shift) as f32;
        }
    }
    out
}

impl OpFamily for Norm {
    fn name(&self) -> &'static str {
        match self.kind {
            NormKind::Layer => "layernorm",
            NormKind::Rms => "rmsnorm",
        }
    }

    fn infer_shapes(&self, cx: &LayerCx) -> Result<Vec<Vec<usize>>, String> {
        constants(self, cx)?;
        Ok(vec![cx.x().shape.clone()])
    }

    fn macs(&self, _cx: &LayerCx) -> Macs {
        Macs::ZERO
    }

    fn work(&self, cx: &LayerCx) -> Vec<Phase> {
        let x = cx.x().elements();
        let weights =
            cx.l.inputs
                .iter()
                .map(|&t| cx.g.tensor(t))
                .filter(|t| matches!(t.kind, TensorKind::Weight | TensorKind::Bias))
                .map(|t| t.elements())
                .fold(0, u64::saturating_add);
        let ops = x.saturating_mul(self.ops_per_element());
        vec![Phase::Vector(VectorWork {
            in_elements: x,
            out_elements: cx.out().elements(),
            weights,
            ops,
            pooling: false,
        })]
    }

    fn quant_rule(&self, _input_bits: u8, _output_bits: u8) -> QuantRule {
        QuantRule::FloatOnly
    }

    fn fused_activation(&self) -> bool {
        false
    }

    fn weight_layout(&self) -> WeightLayout<'_> {
        WeightLayout::Float
    }

    fn dequantizes(&self) -> bool {
        false
    }

    fn on_the_fly(&self, _cx: &LayerCx) -> OnTheFly {
        OnTheFly::No
    }

    fn workbook_row(&self, _cx: &LayerCx) -> WorkbookRow<'_> {
        NO_WORKBOOK_ROW
    }

    /// The output's batch follows from the inputs'.
    fn set_batch(&mut self, _n: usize) {}

    fn eval_float(&self, cx: &LayerCx, inputs: &[Vec<f32>]) -> Result<Vec<Vec<f32>>, String> {
        let (d, gamma, beta) = constants(self, cx)?;
        let gamma = const_f32(gamma).ok_or("gamma has no values")?;
        let beta = match beta {
            Some(b) => Some(const_f32(b).ok_or("beta has no values")?),
            None => None,
        };
        let x = inputs.first().ok_or("missing input")?;
        Ok(vec![norm_f32(x, d, &gamma, beta.as_deref(), self.epsilon)])
    }

    fn prepare_int(&self, _cx: &LayerCx, _arith: &Arithmetic) -> Result<IntKernel, String> {
        Err(format!("{} runs in float32 only (its integer kernel is not implemented yet)", self.label()))
    }

    /// A normalized row has mean 0 and variance 1 (LayerNorm; RMSNorm: mean square 1, taken
    /// as a zero mean), so channel `c` has mean `beta[c]` and variance `gamma[c]^2`.
    fn data_free(&self, cx: &LayerCx, _inputs: &[Option<&Moments>]) -> Option<DataFree> {
        let (_, gamma, beta) = constants(self, cx).ok()?;
        let gamma = const_f32(gamma)?;
        let beta = match beta {
            Some(b) => const_f32(b)?,
            None => vec![0.0; gamma.len()],
        };
        let moments = Moments {
            mean: beta.iter().map(|&b| f64::from(b)).collect(),
            var: gamma.iter().map(|&g| f64::from(g).powi(2)).collect(),
        };
        Some(DataFree { moments, within_input_range: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Row [1, 2, 3, 4]: mean 2.5, variance 1.25, so LayerNorm (eps 0) gives
    /// (x - 2.5) / 1.118034 = [-1.341641, -0.447214, 0.447214, 1.341641], then gamma, beta.
    /// RMSNorm: mean square 7.5, 1/sqrt(7.5) = 0.365148, so [0.365148, 0.730297, 1.095445,
    /// 1.460593].
    #[test]
    fn hand_computed_rows() {
        let close = |a: &[f32], b: &[f32]| {
            assert!(a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5), "{a:?} vs {b:?}");
        };
        let x = [1.0, 2.0, 3.0, 4.0];
        let ones = [1.0; 4];
        close(&norm_f32(&x, 4, &ones, Some(&[0.0; 4]), 0.0), &[-1.341_641, -0.447_214, 0.447_214, 1.341_641]);
        close(
            &norm_f32(&x, 4, &[2.0, 1.0, 1.0, 1.0], Some(&[0.0, 0.0, 0.0, 1.0]), 0.0),
            &[-2.683_282, -0.447_214, 0.447_214, 2.341_641],
        );
        close(&norm_f32(&x, 4, &ones, None, 0.0), &[0.365_148, 0.730_297, 1.095_445, 1.460_593]);
        // Epsilon inside the root: a constant row normalizes to 0 (LayerNorm) and to
        // x / sqrt(x^2 + eps) (RMSNorm: 3 / sqrt(9 + 16) = 0.6).
        close(&norm_f32(&[3.0; 2], 2, &[1.0; 2], Some(&[0.0; 2]), 1e-5), &[0.0, 0.0]);
        close(&norm_f32(&[3.0; 2], 2, &[1.0; 2], None, 16.0), &[0.6, 0.6]);
        // Rows are independent.
        let two = norm_f32(&[1.0, 2.0, 3.0, 4.0, 1.0, 2.0, 3.0, 4.0], 4, &ones, None, 0.0);
        close(&two[4..], &two[..4]);
    }
}
