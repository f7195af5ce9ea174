//! A small reader of NumPy `.npy` files: float32 (`<f4`), C order, any shape (versions 1-3
//! of the format). Used for calibration and evaluation image sets (`[N, H, W, C]`), and
//! integer class labels (`[N]`, any little-endian integer type, [`read_npy_labels`]).

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

/// Largest data section of a `.npy` file read (calibration and evaluation sets).
pub const MAX_NPY_DATA_BYTES: u64 = 4 << 30;

/// Largest `.npy` header read (NumPy writes under 4 KiB; version 2 allows 4 GiB).
const MAX_HEADER_BYTES: usize = 1 << 20;

/// Reads a float32, C-order `.npy` file: the header first, then exactly the data bytes its
/// shape needs (at most [`MAX_NPY_DATA_BYTES`]), so an endless or oversized file is refused
/// without being read whole.
pub fn read_npy_f32(path: &Path) -> Result<NpyF32, FileError> {
    use std::io::Read;
    let name = path.display().to_string();
    let io = |e: std::io::Error| FileError::whole(&name, format!("cannot read: {e}"));
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut pre = Vec::with_capacity(12);
    (&mut f).take(12).read_to_end(&mut pre).map_err(io)?;
    let (hlen, start) = preamble(&pre, &name)?;
    if hlen > MAX_HEADER_BYTES {
        return Err(FileError::whole(&name, format!("header of {hlen} bytes; at most {MAX_HEADER_BYTES} accepted")));
    }
    // The preamble read may have taken the first bytes of the header.
    let mut header = pre[start..].to_vec();
    (&mut f).take((hlen - header.len().min(hlen)) as u64).read_to_end(&mut header).map_err(io)?;
    let body_prefix = if header.len() > hlen { header.split_off(hlen) } else { Vec::new() };
    if header.len() < hlen {
        return Err(FileError::whole(&name, "truncated header".to_string()));
    }
    let shape = header_shape(&header, &name)?;
    let bytes = data_bytes(&shape, &name)?;
    if bytes > MAX_NPY_DATA_BYTES {
        return Err(FileError::whole(
            &name,
            format!("shape {shape:?} needs {bytes} data bytes; at most {MAX_NPY_DATA_BYTES} accepted"),
        ));
    }
    let body = crate::bounded_read::read_exactly_from(std::io::Cursor::new(body_prefix).chain(f), bytes)
        .map_err(|e| FileError::whole(&name, format!("shape {shape:?}: {e}")))?;
    let data = finite_values(&body, &shape, &name)?;
    Ok(NpyF32 { shape, data })
}

/// The header length and where the header starts, from the magic and version bytes.
fn preamble(bytes: &[u8], file: &str) -> Result<(usize, usize), FileError> {
    let err = |m: &str| FileError::whole(file, m.to_string());
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(err("not a .npy file (bad magic)"));
    }
    match bytes[6] {
        1 => Ok((u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize)),
        2 | 3 if bytes.len() >= 12 => Ok((u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)),
        v => Err(err(&format!("unsupported .npy version {v}"))),
    }
}

/// The little-endian float32 values of `body`; an infinite or NaN value (which no image
/// holds, and which would poison every statistic computed from the set) is an error naming
/// its position.
fn finite_values(body: &[u8], shape: &[usize], file: &str) -> Result<Vec<f32>, FileError> {
    let data: Vec<f32> = body.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    match data.iter().position(|x| !x.is_finite()) {
        None => Ok(data),
        Some(i) => {
            let mut index = vec![0usize; shape.len()];
            let mut rest = i;
            for (k, &d) in shape.iter().enumerate().rev() {
                index[k] = rest % d.max(1);
                rest /= d.max(1);
            }
            Err(FileError::whole(
                file,
                format!(
                    "value {} at index {index:?} (element {i}) is not finite; expected finite float32 data",
                    data[i]
                ),
            ))
        }
    }
}

/// The byte size of float32 data of `shape`, checked.
fn data_bytes(shape: &[usize], file: &str) -> Result<u64, FileError> {
    shape
        .iter()
        .try_fold(4u64, |a, &d| a.checked_mul(d as u64))
        .ok_or_else(|| FileError::whole(file, format!("shape {shape:?} is too large")))
}

/// The element type and shape of a C-order header (`descr` as written, e.g. `<f4`).
fn header_fields(header: &[u8], file: &str) -> Result<(String, Vec<usize>), FileError> {
    let err = |m: &str| FileError::whole(file, m.to_string());
    let header = std::str::from_utf8(header).map_err(|_| err("header is not text"))?;
    let field = |key: &str| -> Option<&str> {
        let i = header.find(&format!("'{key}'"))?;
        let rest = &header[i + key.len() + 2..];
        let rest = rest.trim_start().strip_prefix(':')?.trim_start();
        Some(rest)
    };
    let descr = field("descr").ok_or_else(|| err("header has no 'descr'"))?;
    let descr = descr.split(',').next().unwrap_or("").trim().trim_matches(|c| c == '\'' || c == '"').to_string();
    let fo = field("fortran_order").ok_or_else(|| err("header has no 'fortran_order'"))?;
    if !fo.starts_with("False") {
        return Err(err("Fortran-order arrays are not supported; save in C order"));
    }
    let sh = field("shape").ok_or_else(|| err("header has no 'shape'"))?;
    let sh = sh.strip_prefix('(').ok_or_else(|| err("malformed shape"))?;
    let sh = &sh[..sh.find(')').ok_or_else(|| err("malformed shape"))?];
    let shape = sh
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().map_err(|_| err(&format!("bad dimension '{s}' in shape"))))
        .collect::<Result<_, _>>()?;
    Ok((descr, shape))
}

/// The shape in a header (which must describe float32, C-order data).
fn header_shape(header: &[u8], file: &str) -> Result<Vec<usize>, FileError> {
    let (descr, shape) = header_fields(header, file)?;
    if descr != "<f4" && descr != "float32" {
        return Err(FileError::whole(file, format!("expected float32 ('<f4') data, got '{descr}'")));
    }
    Ok(shape)
}

/// Byte width and signedness of a little-endian integer `descr` (`<i8`, `<i4`, `|u1`, ...).
fn int_descr(descr: &str) -> Option<(usize, bool)> {
    let (order, rest) = descr.split_at(descr.len().min(1));
    let (kind, bytes) = rest.split_at(rest.len().min(1));
    let bytes: usize = bytes.parse().ok()?;
    let little = order == "<" || (order == "|" && bytes == 1);
    (little && matches!(bytes, 1 | 2 | 4 | 8) && (kind == "i" || kind == "u")).then_some((bytes, kind == "i"))
}

/// Largest label file read (8 bytes per label: 100 M labels).
const MAX_LABEL_BYTES: u64 = 800 << 20;

/// Reads class labels: a one-dimensional (or `[N, 1]`) C-order `.npy` of little-endian
/// integers (NumPy's `int64` by default, any of 1-8 bytes, signed or not), one per image.
/// A negative label is an error naming its index.
pub fn read_npy_labels(path: &Path) -> Result<Vec<usize>, FileError> {
    let name = path.display().to_string();
    let bytes = crate::bounded_read::read_at_most(path, MAX_LABEL_BYTES)
        .map_err(|e| FileError::whole(&name, format!("cannot read: {e}")))?;
    parse_npy_labels(&bytes, &name)
}

/// Parses the bytes of a label file (see [`read_npy_labels`]).
pub fn parse_npy_labels(bytes: &[u8], file: &str) -> Result<Vec<usize>, FileError> {
    let err = |m: String| FileError::whole(file, m);
    let (hlen, start) = preamble(bytes, file)?;
    let header = bytes.get(start..start.saturating_add(hlen)).ok_or_else(|| err("truncated header".into()))?;
    let (descr, shape) = header_fields(header, file)?;
    let Some((width, signed)) = int_descr(&descr) else {
        return Err(err(format!("expected integer class labels (e.g. '<i8', int64), got '{descr}'")));
    };
    let n = match shape[..] {
        [n] | [n, 1] => n,
        _ => return Err(err(format!("expected one label per image, shape (N,), got {shape:?}"))),
    };
    let body = &bytes[start + hlen..];
    if body.len() as u64 != n as u64 * width as u64 {
        return Err(err(format!(
            "shape {shape:?} of '{descr}' needs {} data bytes, the file has {}",
            n * width,
            body.len()
        )));
    }
    body.chunks_exact(width)
        .enumerate()
        .map(|(i, b)| {
            let mut le = [0u8; 8];
            le[..width].copy_from_slice(b);
            let sign_fill = signed && b[width - 1] & 0x80 != 0;
            if sign_fill {
                le[width..].fill(0xff);
            }
            let v = i64::from_le_bytes(le);
            match (signed, usize::try_from(v)) {
                (true, Ok(v)) => Ok(v),
                (false, _) => {
                    usize::try_from(u64::from_le_bytes(le)).map_err(|_| err(format!("label {i} does not fit")))
                }
                (true, Err(_)) => Err(err(format!("label at index {i} is {v}; class labels are 0 or more"))),
            }
        })
        .collect()
}

/// Parses the bytes of a float32, C-order `.npy` file (`file` names it in errors).
pub fn parse_npy_f32(bytes: &[u8], file: &str) -> Result<NpyF32, FileError> {
    let err = |m: &str| FileError::whole(file, m.to_string());
    let (hlen, start) = preamble(bytes, file)?;
    let header = bytes.get(start..start.saturating_add(hlen)).ok_or_else(|| err("truncated header"))?;
    let shape = header_shape(header, file)?;
    let n = data_bytes(&shape, file)?;
    let body = &bytes[start + hlen..];
    if body.len() as u64 != n {
        return Err(err(&format!("shape {shape:?} needs {n} data bytes, the file has {}", body.len())));
    }
    let data = finite_values(&body, &shape, file)?;
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

    fn npy_bytes(header: &str, data: &[u8]) -> Vec<u8> {
        let mut b = npy(header, &[]);
        b.extend_from_slice(data);
        b
    }

    #[test]
    fn reads_integer_labels_of_any_width() {
        let i64s: Vec<u8> = [3i64, 0, 9].iter().flat_map(|v| v.to_le_bytes()).collect();
        let b = npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", &i64s);
        assert_eq!(parse_npy_labels(&b, "y.npy").expect("int64"), vec![3, 0, 9]);
        let b = npy_bytes("{'descr': '|u1', 'fortran_order': False, 'shape': (2, 1), }", &[7, 255]);
        assert_eq!(parse_npy_labels(&b, "y.npy").expect("uint8"), vec![7, 255]);
        let i32s: Vec<u8> = [1i32, -2].iter().flat_map(|v| v.to_le_bytes()).collect();
        let b = npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", &i32s);
        let e = parse_npy_labels(&b, "y.npy").expect_err("negative").to_string();
        assert!(e.contains("index 1 is -2"), "{e}");
        let b = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", &[1.0]);
        assert!(parse_npy_labels(&b, "y.npy").expect_err("float").to_string().contains("integer class labels"));
        let b = npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (2, 2), }", &[0; 32]);
        assert!(parse_npy_labels(&b, "y.npy").expect_err("2-d").to_string().contains("one label per image"));
        let b = npy_bytes("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }", &[0; 8]);
        assert!(parse_npy_labels(&b, "y.npy").expect_err("short").to_string().contains("needs 16"));
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

    #[test]
    fn non_finite_values_are_refused_with_their_index() {
        let b = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", &[0., 1., f32::NAN, 3.]);
        let e = parse_npy_f32(&b, "x.npy").expect_err("NaN refused").to_string();
        assert!(e.contains("[1, 0]") && e.contains("not finite"), "{e}");
    }

    #[test]
    fn files_are_read_no_further_than_their_header_says() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("a.npy");
        let b = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", &[1., 2., 3., 4., 5., 6.]);
        std::fs::write(&p, &b).expect("write");
        assert_eq!(read_npy_f32(&p).expect("read"), parse_npy_f32(&b, "a.npy").expect("parse"));
        let mut longer = b.clone();
        longer.extend_from_slice(&[0; 4]);
        std::fs::write(&p, &longer).expect("write");
        assert!(read_npy_f32(&p).expect_err("trailing data").to_string().contains("more than 24"));
        let huge = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (100000, 100000, 3), }", &[]);
        std::fs::write(&p, &huge).expect("write");
        assert!(read_npy_f32(&p).expect_err("too large").to_string().contains("at most"));
    }
}
