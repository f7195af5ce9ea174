//! Batched matrix product of two activations (TFLite's BATCH_MATMUL, ONNX MatMul), integer
//! (int8 and int16, per-tensor) and float32, matching LiteRT's reference `batch_matmul.h`.
//!
//! LiteRT extends both shapes to rank 5 with leading ones and broadcasts the three batch
//! axes (a size-1 axis does not advance). Each output element sums over `k` ascending:
//! floats from 0 in f32; integers `(y - zy)(x - zx)` in an int32 accumulator (int8) or an
//! int64 one (int16), requantized by `MultiplyByQuantizedMultiplier` with the multiplier
//! `sx * sy / so`, the scales multiplied in float32 (double rounding of the int32 sum, the
//! reduced multiplier of the int64 one) and clamped to the output type (BATCH_MATMUL has no
//! fused activation).

use super::fixedpoint::{requantize, Arithmetic, QuantMultiplier, Requant};

/// The shapes of a batched product, resolved once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatMulGeometry {
    /// The first operand's shape extended to rank 5.
    pub x: [usize; 5],
    /// The second operand's.
    pub y: [usize; 5],
    /// The first operand is stored `[K, M]`.
    pub adj_x: bool,
    /// The second operand is stored `[N, K]`.
    pub adj_y: bool,
}

impl MatMulGeometry {
    /// `shape` extended to rank 5 with leading ones (`None` above rank 5).
    pub fn extend(shape: &[usize]) -> Option<[usize; 5]> {
        let off = 5usize.checked_sub(shape.len())?;
        let mut r = [1usize; 5];
        r[off..].copy_from_slice(shape);
        Some(r)
    }

    /// Rows, depth and columns: `(M, K, N)`.
    pub fn mkn(&self) -> (usize, usize, usize) {
        let (m, k) = if self.adj_x { (self.x[4], self.x[3]) } else { (self.x[3], self.x[4]) };
        let n = if self.adj_y { self.y[3] } else { self.y[4] };
        (m, k, n)
    }

    /// The output's three batch axes (each the larger of the operands').
    pub fn batch(&self) -> [usize; 3] {
        [0, 1, 2].map(|d| self.x[d].max(self.y[d]))
    }

    /// The offset of each operand's matrix for output batch `(b0, b1, b2)`.
    fn offsets(&self, b: [usize; 3]) -> (usize, usize) {
        let off = |s: &[usize; 5]| {
            let mut o = 0;
            for d in 0..3 {
                let stride: usize = s[d + 1..].iter().product();
                if s[d] != 1 {
                    o += b[d] * stride;
                }
            }
            o
        };
        (off(&self.x), off(&self.y))
    }

    /// Calls `f(output index, x offset, y offset)` for every output matrix.
    fn each_matrix(&self, mut f: impl FnMut(usize, usize, usize)) {
        let [b0, b1, b2] = self.batch();
        let (m, _, n) = self.mkn();
        for i0 in 0..b0 {
            for i1 in 0..b1 {
                for i2 in 0..b2 {
                    let (xo, yo) = self.offsets([i0, i1, i2]);
                    f(((i0 * b1 + i1) * b2 + i2) * m * n, xo, yo);
                }
            }
        }
    }

    /// Index of `x[m, k]` within its matrix.
    #[inline]
    fn xi(&self, m: usize, k: usize) -> usize {
        if self.adj_x {
            k * self.x[4] + m
        } else {
            m * self.x[4] + k
        }
    }

    /// Index of `y[k, n]` within its matrix.
    #[inline]
    fn yi(&self, k: usize, n: usize) -> usize {
        if self.adj_y {
            n * self.y[4] + k
        } else {
            k * self.y[4] + n
        }
    }
}

/// Everything an integer batched product needs.
#[derive(Debug, Clone)]
pub struct MatMulParams {
    /// Shapes.
    pub geom: MatMulGeometry,
    /// The operands' and the output's zero points.
    pub zp: [i32; 3],
    /// `sx * sy / so`.
    pub multiplier: QuantMultiplier,
    /// Double rounding (int8) or the reduced multiplier (int16).
    pub requant: Requant,
    /// The output type's range.
    pub out_min: i32,
    /// Upper end.
    pub out_max: i32,
}

/// The integer kernel.
pub fn matmul(p: &MatMulParams, x: &[i32], y: &[i32], arith: &Arithmetic) -> Vec<i32> {
    let g = &p.geom;
    let (m, k, n) = g.mkn();
    let mut out = vec![0i32; g.batch().iter().product::<usize>() * m * n];
    let [zx, zy, zo] = p.zp.map(i64::from);
    g.each_matrix(|o, xo, yo| {
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0i64;
                for d in 0..k {
                    let prod = (y[yo + g.yi(d, j)] as i64 - zy) * (x[xo + g.xi(i, d)] as i64 - zx);
                    acc = arith.acc_add(acc, prod);
                }
                let v = requantize(acc, p.multiplier, p.requant, arith);
                out[o + i * n + j] = v.saturating_add(zo as i32).clamp(p.out_min, p.out_max);
            }
        }
    });
    out
}

/// The float kernel.
pub fn matmul_f32(g: &MatMulGeometry, x: &[f32], y: &[f32]) -> Vec<f32> {
    let (m, k, n) = g.mkn();
    let mut out = vec![0f32; g.batch().iter().product::<usize>() * m * n];
    g.each_matrix(|o, xo, yo| {
        for i in 0..m {
            for j in 0..n {
                let mut acc = 0f32;
                for d in 0..k {
                    acc += x[xo + g.xi(i, d)] * y[yo + g.yi(d, j)];
                }
                out[o + i * n + j] = acc;
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_batches_and_adjoints() {
        // x: 2 batches of [[1, 2], [3, 4]] scaled by the batch; y: one [2, 1] broadcast.
        let g = MatMulGeometry {
            x: MatMulGeometry::extend(&[2, 2, 2]).expect("rank 3"),
            y: MatMulGeometry::extend(&[1, 2, 1]).expect("rank 3"),
            adj_x: false,
            adj_y: false,
        };
        let x = [1.0, 2.0, 3.0, 4.0, 2.0, 4.0, 6.0, 8.0];
        assert_eq!(matmul_f32(&g, &x, &[1.0, 10.0]), vec![21.0, 43.0, 42.0, 86.0]);
        // The same with x stored transposed.
        let gt = MatMulGeometry { adj_x: true, ..g.clone() };
        assert_eq!(
            matmul_f32(&gt, &[1.0, 3.0, 2.0, 4.0, 2.0, 6.0, 4.0, 8.0], &[1.0, 10.0]),
            vec![21.0, 43.0, 42.0, 86.0]
        );
        assert_eq!(MatMulGeometry::extend(&[1, 2, 3, 4, 5, 6]), None);
    }
}
