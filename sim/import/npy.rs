//! A small reader of NumPy `.npy` files: float32 (`<f4`), C order, any shape (versions 1-3
//! of the format). Used for calibration and evaluation image sets (`[N, H, W, C]`).

use std::path::Path;

use crate::diag::FileError;

/// A float32 array read from a `.npy` file.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyF32 {
    /// Shape, outermost first.
    pub shape: Vec<usize>,
    /// Values in C order.
    pub data: Vec<f32>,
}

impl NpyF32 {
    /// The number of items along the first axis (images in a batch).
    pub fn len(&self) -> usize {
        self.shape.first().copied().unwrap_or(0)
    }

    /// Whether there are no items.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Item `i` along the first axis, flattened.
    pub fn item(&self, i: usize) -> &[f32] {
        let n = self.shape.iter().skip(1).product::<usize>();
        &self.data[i * n..(i + 1) * n]
    }

    /// The items as flat NHWC inputs of a model input of shape `input` (`[1, H, W, C]`):
    /// as stored when the item shape is `[H, W, C]`, transposed when it is `[C, H, W]`.
    /// `None` when neither fits.
    pub fn images(&self, input: &[usize]) -> Option<Vec<Vec<f32>>> {
        let want: Vec<usize> = input.iter().skip(1).copied().collect();
        let got: Vec<usize> = self.shape.iter().skip(1).copied().collect();
        if got == want {
            return Some((0..self.len()).map(|i| self.item(i).to_vec()).collect());
        }
        let ([h, w, c], [c2, h2, w2]) = (&want[..], &got[..]) else { return None };
        if (h, w, c) != (h2, w2, c2) {
            return None;
        }
        let (h, w, c) = (*h, *w, *c);
        Some(
            (0..self.len())
                .map(|i| {
                    let x = self.item(i);
                    let mut o = vec![0f32; x.len()];
                    for ch in 0..c {
                        for p in 0..h * w {
                            o[p * c + ch] = x[ch * h * w + p];
                        }
                    }
                    o
                })
                .collect(),
        )
    }
}

/// Reads a float32, C-order `.npy` file.
pub fn read_npy_f32(path: &Path) -> Result<NpyF32, FileError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| FileError::whole(&name, format!("cannot read: {e}")))?;
    parse_npy_f32(&bytes, &name)
}

/// Parses the bytes of a float32, C-order `.npy` file (`file` names it in errors).
pub fn parse_npy_f32(bytes: &[u8], file: &str) -> Result<NpyF32, FileError> {
    let err = |m: &str| FileError::whole(file, m.to_string());
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(err("not a .npy file (bad magic)"));
    }
    let (hlen, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(err(&format!("unsupported .npy version {v}"))),
    };
    let header = bytes.get(start..start.saturating_add(hlen)).ok_or_else(|| err("truncated header"))?;
    let header = std::str::from_utf8(header).map_err(|_| err("header is not text"))?;
    let field = |key: &str| -> Option<&str> {
        let i = header.find(&format!("'{key}'"))?;
        let rest = &header[i + key.len() + 2..];
        let rest = rest.trim_start().strip_prefix(':')?.trim_start();
        Some(rest)
    };
    let descr = field("descr").ok_or_else(|| err("header has no 'descr'"))?;
    if !(descr.starts_with("'<f4'") || descr.starts_with("'float32'")) {
        return Err(err(&format!("expected float32 ('<f4') data, got {}", descr.split(',').next().unwrap_or(""))));
    }
    let fo = field("fortran_order").ok_or_else(|| err("header has no 'fortran_order'"))?;
    if !fo.starts_with("False") {
        return Err(err("Fortran-order arrays are not supported; save in C order"));
    }
    let sh = field("shape").ok_or_else(|| err("header has no 'shape'"))?;
    let sh = sh.strip_prefix('(').ok_or_else(|| err("malformed shape"))?;
    let sh = &sh[..sh.find(')').ok_or_else(|| err("malformed shape"))?];
    let shape: Vec<usize> = sh
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| err(&format!("bad dimension '{s}' in shape"))))
        .collect::<Result<_, _>>()?;
    let n = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| err("shape too large"))?;
    let body = &bytes[start + hlen..];
    if body.len() != n.saturating_mul(4) {
        return Err(err(&format!(
            "shape {shape:?} needs {} data bytes, the file has {}",
            n.saturating_mul(4),
            body.len()
        )));
    }
    let data = body.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Ok(NpyF32 { shape, data })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(header: &str, data: &[f32]) -> Vec<u8> {
        let mut h = header.to_string();
        while (10 + h.len() + 1) % 64 != 0 {
            h.push(' ');
        }
        h.push('\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(h.len() as u16).to_le_bytes());
        b.extend_from_slice(h.as_bytes());
        data.iter().for_each(|x| b.extend_from_slice(&x.to_le_bytes()));
        b
    }

    #[test]
    fn reads_c_order_float32() {
        let b = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", &[1., 2., 3., 4., 5., 6.]);
        let a = parse_npy_f32(&b, "x.npy").unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.item(1), &[4., 5., 6.]);
    }

    #[test]
    fn rejects_wrong_dtype_and_truncation() {
        let b = npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }", &[0., 0.]);
        assert!(parse_npy_f32(&b, "x.npy").is_err());
        let b = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", &[0., 0.]);
        assert!(parse_npy_f32(&b, "x.npy").is_err());
        assert!(parse_npy_f32(b"junk", "x.npy").is_err());
    }
}
