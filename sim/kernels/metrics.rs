//! Accuracy metrics of a quantized execution against the float one: per-tensor SQNR in
//! dB and top-1 agreement of two outputs, and top-k accuracy against class labels.

use super::Values;
use crate::ir::Graph;

/// Signal-to-quantization-noise ratio in dB of `test` against `reference`:
/// `10 log10(sum ref^2 / sum (ref - test)^2)`; infinite when they are equal.
pub fn sqnr_db(reference: &[f32], test: &[f32]) -> f64 {
    let (mut s, mut n) = (0f64, 0f64);
    for (&r, &t) in reference.iter().zip(test) {
        s += r as f64 * r as f64;
        n += (r as f64 - t as f64).powi(2);
    }
    if n == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (s / n).log10()
    }
}

/// Index of the largest value of each row of `depth` (first one on ties).
pub fn argmax_rows(x: &[f32], depth: usize) -> Vec<usize> {
    x.chunks(depth.max(1))
        .map(|r| r.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0)
        .collect()
}

/// Fraction of rows (of `depth` classes) whose arg-max agree.
pub fn top1_agreement(a: &[f32], b: &[f32], depth: usize) -> f64 {
    let (x, y) = (argmax_rows(a, depth), argmax_rows(b, depth));
    if x.is_empty() {
        return 1.0;
    }
    x.iter().zip(&y).filter(|(p, q)| p == q).count() as f64 / x.len() as f64
}

/// Whether `label` is among the `k` largest values of `row`, ranking ties by index (as
/// [`argmax_rows`] does): the label's rank is the number of values above it plus the equal
/// values before it, so `k = 1` is exactly "the arg-max is the label". `false` for a label
/// outside the row.
pub fn in_top_k(row: &[f32], label: usize, k: usize) -> bool {
    let Some(&v) = row.get(label) else { return false };
    let rank = row.iter().enumerate().filter(|&(j, &x)| x > v || (x == v && j < label)).count();
    rank < k
}

/// Fraction of rows (of `depth` classes, one per label) whose `k` largest values hold the
/// label ([`in_top_k`]); 1 for no rows.
pub fn top_k_accuracy(x: &[f32], depth: usize, labels: &[usize], k: usize) -> f64 {
    let rows = x.chunks(depth.max(1));
    let n = rows.len().min(labels.len());
    if n == 0 {
        return 1.0;
    }
    rows.zip(labels).filter(|(r, &l)| in_top_k(r, l, k)).count() as f64 / n as f64
}

/// SQNR of one layer output.
#[derive(Debug, Clone, PartialEq)]
pub struct LayerSqnr {
    /// Layer name.
    pub layer: String,
    /// SQNR in dB of the dequantized integer output against the float execution.
    pub sqnr_db: f64,
}

/// Per-layer SQNR (dB) of an integer execution (dequantized with each output tensor's
/// quantization) against a float execution of the same graph, in layer order. Layers whose
/// output is missing or not quantized in either run are skipped.
pub fn layer_sqnr(graph: &Graph, int_run: &[Option<Values>], float_run: &[Option<Values>]) -> Vec<LayerSqnr> {
    let mut out = Vec::new();
    for l in &graph.layers {
        let id = l.outputs[0];
        let t = graph.tensor(id);
        let (Some(Some(q)), Some(Some(Values::F32(f)))) = (int_run.get(id.0), float_run.get(id.0)) else {
            continue;
        };
        let Some(deq) = q.real(t.quant.as_ref()) else { continue };
        out.push(LayerSqnr { layer: l.name.clone(), sqnr_db: sqnr_db(f, &deq) });
    }
    out
}

#[cfg(test)]
mod label_tests {
    use super::*;

    #[test]
    fn top_k_ranks_ties_by_index_like_argmax() {
        let row = [0.1, 0.5, 0.5, 0.2, 0.0, 0.9];
        assert!(in_top_k(&row, 5, 1));
        assert!(!in_top_k(&row, 1, 1) && in_top_k(&row, 1, 2));
        // Tied with class 1 but after it: rank 2.
        assert!(!in_top_k(&row, 2, 2) && in_top_k(&row, 2, 3));
        assert!(!in_top_k(&row, 4, 5) && in_top_k(&row, 4, 6));
        assert!(!in_top_k(&row, 6, 6), "a label outside the row is never in it");
        let x = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 3.0, 3.0, 0.0];
        assert_eq!(argmax_rows(&x, 3), vec![0, 1, 0]);
        assert_eq!(top_k_accuracy(&x, 3, &[0, 1, 1], 1), 2.0 / 3.0);
        assert_eq!(top_k_accuracy(&x, 3, &[0, 1, 1], 2), 1.0);
    }
}
