//! The batched matrix product of two activations (TFLite's BATCH_MATMUL, ONNX MatMul whose
//! second operand is computed by the network, as attention's `Q K^T` and `P V` are).
//!
//! Cost: one GEMM per distinct second operand with that operand an activation
//! ([`Operand::Activation`]): the pipeline costs it once per batch element, each loading
//! its own `[K, N]` operand. A batch axis along which the second operand is broadcast (size
//! 1 there, not in the first) folds into the rows: those rows share one loaded operand, as
//! grouped-query attention's query heads share their key / value head. Each GEMM is a 1x1
//! convolution over `M` pixels of `K` channels giving `N`.

use super::work::{ConvWork, Operand, Phase};
use super::{
    int_input, DataFree, IntKernel, LayerCx, Moments, OnTheFly, OpFamily, QuantRule, WeightLayout, WorkbookRow,
    NO_WORKBOOK_ROW,
};
use crate::ir::{MatMul, Tensor};
use crate::kernels::matmul::{self, MatMulGeometry, MatMulParams};
use crate::kernels::{qrange, scale_zp, Arithmetic, QuantMultiplier, Requant, Values};
use crate::units::Macs;

/// A prepared integer batched product.
pub struct IntMatMul(Box<MatMulParams>);

impl IntMatMul {
    pub(super) fn run(&self, inputs: &[&Values], arith: &Arithmetic) -> Result<Vec<Values>, String> {
        let (x, y) = (int_input(inputs, 0)?, int_input(inputs, 1)?);
        Ok(vec![Values::Int(matmul::matmul(&self.0, &x, &y, arith))])
    }
}

/// The two operands.
fn operands<'a>(cx: &LayerCx<'a>) -> Result<(&'a Tensor, &'a Tensor), String> {
    let mut d = cx.data();
    match (d.next(), d.next(), d.next()) {
        (Some(x), Some(y), None) => Ok((x, y)),
        _ => Err("expects two data inputs".into()),
    }
}

impl MatMul {
    /// The geometry of the layer's operands, or what does not fit.
    fn geometry(&self, cx: &LayerCx) -> Result<MatMulGeometry, String> {
        let (x, y) = operands(cx)?;
        let ext = |t: &Tensor| {
            (t.shape.len() >= 2)
                .then(|| MatMulGeometry::extend(&t.shape))
                .flatten()
                .ok_or_else(|| format!("operand '{}' has shape {:?}: ranks 2 to 5 are supported", t.name, t.shape))
        };
        let g = MatMulGeometry { x: ext(x)?, y: ext(y)?, adj_x: self.adj_x, adj_y: self.adj_y };
        let (_, k, _) = g.mkn();
        let ky = if self.adj_y { g.y[4] } else { g.y[3] };
        if k != ky {
            return Err(format!(
                "operands {:?} and {:?} (adj_x {}, adj_y {}) disagree on the summed axis: {k} and {ky}",
                x.shape, y.shape, self.adj_x, self.adj_y
            ));
        }
        for d in 0..3 {
            if g.x[d] != g.y[d] && g.x[d] != 1 && g.y[d] != 1 {
                return Err(format!("batch axes of {:?} and {:?} do not broadcast", x.shape, y.shape));
            }
        }
        Ok(g)
    }
}

/// Batch matrices, rows, depth and columns of a validated layer.
fn dims(g: &MatMulGeometry) -> (u64, u64, u64, u64) {
    let (m, k, n) = g.mkn();
    (g.batch().iter().map(|&b| b as u64).product(), m as u64, k as u64, n as u64)
}

/// The GEMMs of a validated layer: distinct second operands and the rows sharing each
/// (`M` times the first operand's extent along the axes the second is broadcast over).
fn gemms(g: &MatMulGeometry) -> (u64, u64) {
    let (m, _, _) = g.mkn();
    let (mut n, mut rows) = (1u64, m as u64);
    for d in 0..3 {
        if g.y[d] == 1 {
            rows = rows.saturating_mul(g.x[d] as u64);
        } else {
            n = n.saturating_mul(g.y[d] as u64);
        }
    }
    (n, rows)
}

impl OpFamily for MatMul {
    fn name(&self) -> &'static str {
        "matmul"
    }

    fn infer_shapes(&self, cx: &LayerCx) -> Result<Vec<Vec<usize>>, String> {
        let g = self.geometry(cx)?;
        let (x, y) = operands(cx)?;
        let rank = x.shape.len().max(y.shape.len());
        let (m, _, n) = g.mkn();
        let batch = g.batch();
        let mut out: Vec<usize> = batch[3 - (rank - 2)..].to_vec();
        out.extend([m, n]);
        Ok(vec![out])
    }

    // A validated graph's layers have a geometry (shape inference checked it).
    fn macs(&self, cx: &LayerCx) -> Macs {
        let Ok(g) = self.geometry(cx) else { return Macs(0) };
        let (b, m, k, n) = dims(&g);
        Macs(b.saturating_mul(m).saturating_mul(k).saturating_mul(n))
    }

    fn work(&self, cx: &LayerCx) -> Vec<Phase> {
        let Ok(g) = self.geometry(cx) else { return Vec::new() };
        let (_, _, k, n) = dims(&g);
        let (b, m) = gemms(&g);
        let work = ConvWork {
            n: b,
            ih: m,
            iw: 1,
            c: k,
            k: n,
            groups: 1,
            r: 1,
            s: 1,
            sh: 1,
            sw: 1,
            dh: 1,
            dw: 1,
            oh: m,
            ow: 1,
        };
        vec![Phase::Gemm { work, operand: Operand::Activation { input: 1, last_axis_summed: self.adj_y } }]
    }

    fn quant_rule(&self, _input_bits: u8, _output_bits: u8) -> QuantRule {
        QuantRule::Free
    }

    fn fused_activation(&self) -> bool {
        false
    }

    fn weight_layout(&self) -> WeightLayout<'_> {
        WeightLayout::None
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
        let g = self.geometry(cx)?;
        match inputs {
            [x, y] => Ok(vec![matmul::matmul_f32(&g, x, y)]),
            _ => Err("expects two data inputs".into()),
        }
    }

    fn prepare_int(&self, cx: &LayerCx, _arith: &Arithmetic) -> Result<IntKernel, String> {
        let geom = self.geometry(cx)?;
        let (x, y) = operands(cx)?;
        let out = cx.out();
        for t in [x, y, out] {
            if t.quant.as_ref().is_some_and(|q| q.scales.len() != 1) {
                return Err(format!("'{}' is quantized per channel; BATCH_MATMUL takes one scale per tensor", t.name));
            }
        }
        let ((sx, zx), (sy, zy), (so, zo)) = (scale_zp(x), scale_zp(y), scale_zp(out));
        // LiteRT's BATCH_MATMUL multiplies the two scales in float32 before dividing in
        // double (in double throughout, 14 to 22 of 60 to 120 int16 outputs differ by 1).
        let multiplier = QuantMultiplier::checked(f64::from(sx * sy) / f64::from(so))?;
        // int32 sums and double rounding for int8; int64 sums and the reduced multiplier
        // for int16.
        let requant = if x.dtype.bits() > 8 { Requant::Reduced } else { Requant::Double }.checked(&[multiplier])?;
        let (out_min, out_max) = qrange(out.dtype);
        let params = MatMulParams { geom, zp: [zx, zy, zo], multiplier, requant, out_min, out_max };
        Ok(IntKernel::MatMul(IntMatMul(Box::new(params))))
    }

    /// Independent operands: each output sums `K` products, so its mean is
    /// `K mx my` and its variance `K (vx vy + vx my^2 + vy mx^2)`.
    fn data_free(&self, cx: &LayerCx, inputs: &[Option<&Moments>]) -> Option<DataFree> {
        let (mx, vx) = inputs.first().copied().flatten()?.collapse();
        let (my, vy) = inputs.get(1).copied().flatten()?.collapse();
        let (_, k, _) = self.geometry(cx).ok()?.mkn();
        let k = k as f64;
        let moments = Moments { mean: vec![k * mx * my], var: vec![k * (vx * vy + vx * my * my + vy * mx * mx)] };
        Some(DataFree { moments, within_input_range: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Grouped-query attention's scores: 8 query heads in 2 groups of 4 over one key head
    /// each (`[2, 4, S, d] x [2, 1, T, d]^T`) are 2 GEMMs of 4S rows; the MACs are unchanged.
    #[test]
    fn broadcast_second_operand_folds_into_rows() {
        let g = MatMulGeometry { x: [1, 2, 4, 3, 16], y: [1, 2, 1, 5, 16], adj_x: false, adj_y: true };
        assert_eq!(gemms(&g), (2, 12));
        let (b, m, k, n) = dims(&g);
        let (gb, gm) = gemms(&g);
        assert_eq!(b * m * k * n, gb * gm * k * n);
        // A broadcast first operand does not fold: each second operand is its own GEMM.
        let g = MatMulGeometry { x: [1, 1, 1, 3, 16], y: [1, 2, 4, 16, 5], adj_x: false, adj_y: false };
        assert_eq!(gemms(&g), (8, 3));
    }
}
