//! The embedding family: rows of a weight table `[rows, dim]` read by index (token
//! embeddings, learned position embeddings). The data input holds the indices (as float
//! values: whole numbers below `rows`); the output appends `dim` to its shape.
//!
//! Cost: vector work that reads the indices and **the rows read** (`indices x dim` weight
//! elements at the table's width), not the table, and writes them. Float only for now: the
//! integer path refuses it by name (a quantized index tensor would lose the indices).

use super::work::{Phase, VectorWork};
use super::{
    DataFree, IntKernel, LayerCx, Moments, OnTheFly, OpFamily, QuantRule, WeightLayout, WorkbookRow, NO_WORKBOOK_ROW,
};
use crate::ir::Embedding;
use crate::kernels::{const_f32, Arithmetic};
use crate::units::Macs;

/// Gathers row `indices[i]` of `table` (`dim` wide) for each index, or names the first
/// index that is not a row.
pub fn embedding_f32(indices: &[f32], table: &[f32], dim: usize) -> Result<Vec<f32>, String> {
    let rows = table.len() / dim.max(1);
    let mut out = Vec::with_capacity(indices.len() * dim);
    for (i, &v) in indices.iter().enumerate() {
        if !(v >= 0.0 && v.fract() == 0.0 && (v as usize) < rows) {
            return Err(format!("index {i} is {v}: expected a whole number in 0..{rows}"));
        }
        let r = v as usize;
        out.extend_from_slice(&table[r * dim..(r + 1) * dim]);
    }
    Ok(out)
}

impl OpFamily for Embedding {
    fn name(&self) -> &'static str {
        "embedding"
    }

    fn infer_shapes(&self, cx: &LayerCx) -> Result<Vec<Vec<usize>>, String> {
        let t =
            cx.weights().ok_or_else(|| format!("has no table (a weight of shape [{}, {}])", self.rows, self.dim))?;
        if t.shape != [self.rows, self.dim] {
            return Err(format!("table has shape {:?}, expected [{}, {}]", t.shape, self.rows, self.dim));
        }
        let mut shape = cx.x().shape.clone();
        shape.push(self.dim);
        Ok(vec![shape])
    }

    fn macs(&self, _cx: &LayerCx) -> Macs {
        Macs::ZERO
    }

    /// One copy per element of the rows read.
    fn work(&self, cx: &LayerCx) -> Vec<Phase> {
        let indices = cx.x().elements();
        let out = cx.out().elements();
        vec![Phase::Vector(VectorWork {
            in_elements: indices,
            out_elements: out,
            weights: out,
            ops: out,
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
        let table = cx.weights().and_then(const_f32).ok_or("table has no values")?;
        embedding_f32(inputs.first().ok_or("missing input")?, &table, self.dim).map(|v| vec![v])
    }

    fn prepare_int(&self, _cx: &LayerCx, _arith: &Arithmetic) -> Result<IntKernel, String> {
        Err("EMBEDDING_LOOKUP runs in float32 only (its integer kernel is not implemented yet)".into())
    }

    /// Unknown: which rows are read depends on the indices.
    fn data_free(&self, _cx: &LayerCx, _inputs: &[Option<&Moments>]) -> Option<DataFree> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_by_index_and_bad_indices() {
        // Table of 3 rows of 2: row r = [10r, 10r + 1].
        let table = [0.0, 1.0, 10.0, 11.0, 20.0, 21.0];
        assert_eq!(embedding_f32(&[2.0, 0.0, 2.0], &table, 2).unwrap(), vec![20.0, 21.0, 0.0, 1.0, 20.0, 21.0]);
        assert!(embedding_f32(&[3.0], &table, 2)
            .unwrap_err()
            .contains("index 0 is 3: expected a whole number in 0..3"));
        assert!(embedding_f32(&[1.5], &table, 2).is_err());
        assert!(embedding_f32(&[-1.0], &table, 2).is_err());
        assert!(embedding_f32(&[f32::NAN], &table, 2).is_err());
    }
}
