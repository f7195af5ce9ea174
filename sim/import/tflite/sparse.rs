//! Sparse constant tensors (TFLite's `SparsityParameters`, what the converter writes for
//! pruned weights under `Optimize.EXPERIMENTAL_SPARSITY`, float32 or fp16, read by a
//! DENSIFY operator) made dense at import, as LiteRT's `FormatConverter::SparseToDense`
//! does: the stored values are visited in the traversal order of the expanded dimensions
//! (the tensor's own, then one per block dimension), a DENSE level counting through its
//! size and a SPARSE_CSR level through the indices its segments name; each value lands at
//! the dense index its coordinates give (a block dimension's coordinate refines its
//! original dimension's: `outer * block + inner`). Every other element is zero. DENSIFY
//! itself is then folded (its output is the dense constant).

use super::generated::tflite as fb;

/// One level of the traversal.
#[derive(Debug, Clone, PartialEq)]
enum Level {
    /// Every index `0..size`.
    Dense(usize),
    /// The indices `indices[segments[p]..segments[p + 1]]` for the parent position `p`.
    Csr { segments: Vec<usize>, indices: Vec<usize> },
}

/// A tensor's sparsity, read from the file.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Sparsity {
    traversal: Vec<usize>,
    block_map: Vec<usize>,
    levels: Vec<Level>,
}

fn index_vector(v: Option<fb::SparseIndexVectorRef<'_>>, what: &str) -> Result<Vec<usize>, String> {
    let e = |e: planus::Error| e.to_string();
    let out: Vec<i64> = match v {
        Some(fb::SparseIndexVectorRef::Int32Vector(x)) => {
            x.values().map_err(e)?.map(|v| v.iter().map(i64::from).collect()).unwrap_or_default()
        }
        Some(fb::SparseIndexVectorRef::Uint16Vector(x)) => {
            x.values().map_err(e)?.map(|v| v.iter().map(i64::from).collect()).unwrap_or_default()
        }
        Some(fb::SparseIndexVectorRef::Uint8Vector(x)) => {
            x.values().map_err(e)?.map(|v| v.iter().map(|&b| i64::from(b)).collect()).unwrap_or_default()
        }
        None => return Err(format!("a SPARSE_CSR dimension without {what}")),
    };
    out.into_iter().map(|v| usize::try_from(v).map_err(|_| format!("negative {what} entry {v}"))).collect()
}

impl Sparsity {
    /// Reads the file's sparsity parameters.
    pub(super) fn read(s: &fb::SparsityParametersRef<'_>) -> Result<Sparsity, String> {
        let e = |e: planus::Error| e.to_string();
        let ints = |v: Option<planus::Vector<'_, i32>>, what: &str| -> Result<Vec<usize>, String> {
            v.map(|v| v.iter().collect::<Vec<i32>>())
                .unwrap_or_default()
                .into_iter()
                .map(|x| usize::try_from(x).map_err(|_| format!("negative {what} entry {x}")))
                .collect()
        };
        let traversal = ints(s.traversal_order().map_err(e)?, "traversal_order")?;
        let block_map = ints(s.block_map().map_err(e)?, "block_map")?;
        let mut levels = Vec::new();
        for d in s.dim_metadata().map_err(e)?.into_iter().flat_map(|v| v.iter()) {
            let d = d.map_err(e)?;
            levels.push(match d.format().map_err(e)? {
                fb::DimensionType::Dense => {
                    let n = d.dense_size().map_err(e)?;
                    Level::Dense(usize::try_from(n).map_err(|_| format!("negative dense_size {n}"))?)
                }
                fb::DimensionType::SparseCsr => Level::Csr {
                    segments: index_vector(d.array_segments().map_err(e)?, "array_segments")?,
                    indices: index_vector(d.array_indices().map_err(e)?, "array_indices")?,
                },
            });
        }
        Ok(Sparsity { traversal, block_map, levels })
    }

    /// The dense tensor of `shape` whose stored `values` these parameters place, or why
    /// they do not fit (every index is checked; every value must be placed exactly once).
    pub(super) fn densify<T: Copy + Default>(&self, shape: &[usize], values: &[T]) -> Result<Vec<T>, String> {
        let rank = shape.len();
        let total = self.traversal.len();
        if self.levels.len() != total || total != rank + self.block_map.len() {
            return Err(format!(
                "{} dim_metadata and a traversal_order of {total} for rank {rank} with {} block dimensions",
                self.levels.len(),
                self.block_map.len()
            ));
        }
        let mut seen = vec![false; total];
        for &d in &self.traversal {
            if d >= total || std::mem::replace(&mut seen[d], true) {
                return Err(format!("traversal_order {:?} is not a permutation", self.traversal));
            }
        }
        if self.traversal[..rank].iter().any(|&d| d >= rank) || self.block_map.iter().any(|&d| d >= rank) {
            return Err(format!(
                "traversal_order {:?} must list the {rank} dimensions before the blocks (block_map {:?})",
                self.traversal, self.block_map
            ));
        }
        // A block's size is its level's dense size.
        let mut block = Vec::with_capacity(self.block_map.len());
        for k in 0..self.block_map.len() {
            match self.levels.get(self.traversal[rank + k]) {
                Some(Level::Dense(n)) if *n > 0 => block.push(*n),
                _ => return Err(format!("block dimension {k} is not a dense level of a positive size")),
            }
        }
        let dense: usize = shape.iter().product();
        let mut out = vec![T::default(); dense];
        let mut filled = vec![false; dense];
        let mut next = 0usize;
        let mut idx = vec![0usize; total];
        self.populate(shape, &block, values, &mut idx, 0, 0, &mut next, &mut out, &mut filled)?;
        if next != values.len() {
            return Err(format!("the sparsity places {next} values, the buffer holds {}", values.len()));
        }
        Ok(out)
    }

    #[allow(clippy::too_many_arguments)]
    fn populate<T: Copy>(
        &self,
        shape: &[usize],
        block: &[usize],
        values: &[T],
        idx: &mut Vec<usize>,
        level: usize,
        prev: usize,
        next: &mut usize,
        out: &mut [T],
        filled: &mut [bool],
    ) -> Result<(), String> {
        let rank = shape.len();
        if level == idx.len() {
            let mut orig = vec![0usize; rank];
            for i in 0..rank {
                orig[self.traversal[i]] = idx[i];
            }
            for i in rank..idx.len() {
                let k = self.traversal[i] - rank;
                let d = self.block_map[k];
                orig[d] = orig[d] * block[k] + idx[i];
            }
            if orig.iter().zip(shape).any(|(&o, &s)| o >= s) {
                return Err(format!("a value lands at {orig:?}, outside the shape {shape:?}"));
            }
            let at = orig.iter().zip(shape).fold(0usize, |a, (&o, &s)| a * s + o);
            let v =
                values.get(*next).ok_or_else(|| format!("more positions than the {} stored values", values.len()))?;
            if std::mem::replace(&mut filled[at], true) {
                return Err(format!("two values land at {orig:?}"));
            }
            out[at] = *v;
            *next += 1;
            return Ok(());
        }
        match &self.levels[level] {
            Level::Dense(n) => {
                for i in 0..*n {
                    idx[level] = i;
                    self.populate(shape, block, values, idx, level + 1, prev * n + i, next, out, filled)?;
                }
            }
            Level::Csr { segments, indices } => {
                let (Some(&a), Some(&b)) = (segments.get(prev), segments.get(prev + 1)) else {
                    return Err(format!("level {level}: no segment {prev} in {} segments", segments.len()));
                };
                if a > b || b > indices.len() {
                    return Err(format!("level {level}: segment {a}..{b} outside its {} indices", indices.len()));
                }
                for i in a..b {
                    idx[level] = indices[i];
                    self.populate(shape, block, values, idx, level + 1, i, next, out, filled)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3x4 matrix in CSR (rows dense, columns sparse): rows 0 and 2 hold values.
    #[test]
    fn csr_matrix_by_hand() {
        let s = Sparsity {
            traversal: vec![0, 1],
            block_map: vec![],
            levels: vec![Level::Dense(3), Level::Csr { segments: vec![0, 2, 2, 3], indices: vec![1, 3, 0] }],
        };
        let d = s.densify(&[3, 4], &[1.0f32, 2.0, 3.0]).unwrap();
        assert_eq!(d, vec![0.0, 1.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0, 0.0]);
        // A wrong count of values is an error, not a silent zero.
        assert!(s.densify(&[3, 4], &[1.0f32, 2.0]).is_err());
        assert!(s.densify(&[3, 4], &[1.0f32, 2.0, 3.0, 4.0]).is_err());
    }

    /// Blocks of 1x2 along the columns of a 2x4 matrix: block (0, 1) and block (1, 0).
    #[test]
    fn blocked_columns_by_hand() {
        let s = Sparsity {
            traversal: vec![0, 1, 2],
            block_map: vec![1],
            levels: vec![Level::Dense(2), Level::Csr { segments: vec![0, 1, 2], indices: vec![1, 0] }, Level::Dense(2)],
        };
        let d = s.densify(&[2, 4], &[1, 2, 3, 4]).unwrap();
        assert_eq!(d, vec![0, 0, 1, 2, 3, 4, 0, 0]);
    }
}
