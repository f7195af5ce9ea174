//! `.npy` files in: float32 arrays of any shape as [`ndarray::ArrayD`] (calibration and
//! evaluation image sets `[N, H, W, C]`, `exec`'s batches) and integer class labels (`[N]`,
//! any integer type, [`read_npy_labels`]). The header and the element decoding are the
//! `npyz` crate's (versions 1-3 of the format, either byte order); this module adds what
//! user files need on top: bounds (a header of at most [`MAX_HEADER_BYTES`], data of at
//! most [`MAX_NPY_DATA_BYTES`], a file holding exactly the bytes its header promises, all
//! checked before anything of that size is allocated or read), C order, finite values, and
//! errors naming the file and what was expected.

use std::io::Read;
use std::path::Path;

use ndarray::{ArrayD, IxDyn};
use npyz::{DType, NpyFile, NpyHeader, Order, TypeChar};

use crate::diag::FileError;

/// Largest data section of a `.npy` file read (calibration and evaluation sets).
pub const MAX_NPY_DATA_BYTES: u64 = 4 << 30;

/// Largest `.npy` header read (NumPy writes under 4 KiB; version 2 allows 4 GiB).
pub const MAX_HEADER_BYTES: usize = 1 << 20;

/// The brackets a header may open. A plain array's header is a dict holding a shape tuple
/// (two); `npyz`'s header grammar backtracks through brackets, so a 180-byte header of 50
/// nested braces would parse for hours, and one of 20 shallow ones for 17 s (both found by
/// the fuzz campaign).
pub const MAX_HEADER_BRACKETS: usize = 2;

/// Largest label file read (8 bytes per label: 100 M labels).
const MAX_LABEL_BYTES: u64 = 800 << 20;

/// Reads a float32, C-order `.npy` file: the header first, then exactly the data bytes its
/// shape needs (at most [`MAX_NPY_DATA_BYTES`]), so an endless or oversized file is refused
/// without being read whole.
pub fn read_npy_f32(path: &Path) -> Result<ArrayD<f32>, FileError> {
    let name = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|e| FileError::whole(&name, format!("cannot read: {e}")))?;
    read_f32(std::io::BufReader::new(f), &name, MAX_NPY_DATA_BYTES)
}

/// Parses the bytes of a float32, C-order `.npy` file (`file` names it in errors).
pub fn parse_npy_f32(bytes: &[u8], file: &str) -> Result<ArrayD<f32>, FileError> {
    read_f32(bytes, file, MAX_NPY_DATA_BYTES)
}

/// Reads class labels: a one-dimensional (or `[N, 1]`) C-order `.npy` of integers
/// (NumPy's `int64` by default, any of 1-8 bytes, signed or not), one per image. A
/// negative label is an error naming its index.
pub fn read_npy_labels(path: &Path) -> Result<Vec<usize>, FileError> {
    let name = path.display().to_string();
    let f = std::fs::File::open(path).map_err(|e| FileError::whole(&name, format!("cannot read: {e}")))?;
    read_labels(std::io::BufReader::new(f), &name)
}

/// Parses the bytes of a label file (see [`read_npy_labels`]).
pub fn parse_npy_labels(bytes: &[u8], file: &str) -> Result<Vec<usize>, FileError> {
    read_labels(bytes, file)
}

fn accept_f32(ty: &npyz::TypeStr) -> Result<(), String> {
    (ty.type_char() == TypeChar::Float && ty.size_field() == 4)
        .then_some(())
        .ok_or_else(|| format!("expected float32 ('<f4') data, got '{ty}'"))
}

/// Float32 values from their bytes (a multiple of 4) in one pass (npyz's element-by-element
/// reader was 10% of a 64-image `exec`), each finite: else an error naming the first other
/// by its index in an array of `shape` whose element `first` is `body`'s first.
fn decode_f32(body: &[u8], big_endian: bool, first: usize, shape: &[usize], file: &str) -> Result<Vec<f32>, FileError> {
    let data: Vec<f32> = if big_endian {
        body.chunks_exact(4).map(|b| f32::from_be_bytes([b[0], b[1], b[2], b[3]])).collect()
    } else if cfg!(target_endian = "little") {
        // The bytes are the values: one copy.
        let n = body.len() / 4;
        let mut v = Vec::<f32>::with_capacity(n);
        // SAFETY: the copy writes all `n` f32 of the capacity (4 bytes each, any bit pattern a
        // valid f32) before the length covers them.
        unsafe {
            std::ptr::copy_nonoverlapping(body.as_ptr(), v.as_mut_ptr().cast::<u8>(), 4 * n);
            v.set_len(n);
        }
        v
    } else {
        body.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
    };
    // Chunks checked whole (a loop that vectorizes), the first bad one searched.
    let bad = |x: &f32| !x.is_finite();
    let first_bad = data.chunks(256).position(|c| c.iter().fold(false, |a, x| a | bad(x)));
    match first_bad.and_then(|k| data[k * 256..].iter().position(bad).map(|j| k * 256 + j)) {
        None => Ok(data),
        Some(j) => {
            let i = first + j;
            Err(FileError::whole(
                file,
                format!(
                    "value {} at index {:?} (element {i}) is not finite; expected finite float32 data",
                    data[j],
                    unravel(i, shape)
                ),
            ))
        }
    }
}

fn read_f32(mut r: impl Read, file: &str, max_bytes: u64) -> Result<ArrayD<f32>, FileError> {
    let (header, ty, body) = header_and_body(&mut r, file, max_bytes, accept_f32)?;
    let shape: Vec<usize> = header.shape().iter().map(|&d| d as usize).collect();
    let data = decode_f32(&body, ty.endianness() == npyz::Endianness::Big, 0, &shape, file)?;
    drop(body);
    ArrayD::from_shape_vec(IxDyn(&shape), data).map_err(|e| FileError::whole(file, format!("shape {shape:?}: {e}")))
}

/// A float32, C-order `.npy` file whose data stay where the file lies
/// ([`crate::bounded_read::FileBytes`]: mapped where the system allows): its shape, and each
/// item (one index of the first axis) decoded and checked when asked for, so a batch's
/// items are decoded on the workers that run them instead of all at once before.
pub struct NpyF32 {
    bytes: crate::bounded_read::FileBytes,
    data: usize,
    shape: Vec<usize>,
    big_endian: bool,
    file: String,
}

impl NpyF32 {
    /// The array's shape.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// Item `i` of the first axis in C order (for a 0-d array, its one value), as
    /// [`read_npy_f32`] checks it: an error names a non-finite value by its index in the
    /// whole array. Panics if `i` is not an index of the first axis.
    pub fn item(&self, i: usize) -> Result<Vec<f32>, FileError> {
        let n = self.shape.first().copied().unwrap_or(1);
        assert!(i < n, "item {i} of {n}");
        let len = self.shape.iter().skip(1).product::<usize>();
        let body = &self.bytes[self.data + 4 * i * len..][..4 * len];
        decode_f32(body, self.big_endian, i * len, &self.shape, &self.file)
    }
}

/// Opens a float32, C-order `.npy` file as [`read_npy_f32`] reads it (the same checks of the
/// header and of the data's size, before any value is decoded), leaving the values in the
/// file's bytes ([`NpyF32::item`]).
pub fn map_npy_f32(path: &Path) -> Result<NpyF32, FileError> {
    let file = path.display().to_string();
    let regular = std::fs::metadata(path).map_err(|e| FileError::whole(&file, format!("cannot read: {e}")))?.is_file();
    if !regular {
        // A pipe or a device: read as `read_npy_f32` does, no further than the header says.
        let f = std::fs::File::open(path).map_err(|e| FileError::whole(&file, format!("cannot read: {e}")))?;
        let (header, ty, body) =
            header_and_body(&mut std::io::BufReader::new(f), &file, MAX_NPY_DATA_BYTES, accept_f32)?;
        let shape = header.shape().iter().map(|&d| d as usize).collect();
        let big_endian = ty.endianness() == npyz::Endianness::Big;
        return Ok(NpyF32 { bytes: body.into(), data: 0, shape, big_endian, file });
    }
    let limit = MAX_NPY_DATA_BYTES.saturating_add(MAX_HEADER_BYTES as u64 + 12);
    let bytes = crate::bounded_read::map_at_most(path, limit, false).map_err(|e| {
        let m = if e.kind() == std::io::ErrorKind::InvalidData { e.to_string() } else { format!("cannot read: {e}") };
        FileError::whole(&file, m)
    })?;
    let mut r: &[u8] = &bytes;
    let (header, ty, want, past) = header(&mut r, &file, MAX_NPY_DATA_BYTES, accept_f32)?;
    let shape: Vec<usize> = header.shape().iter().map(|&d| d as usize).collect();
    let data = bytes.len() - r.len() - past.get_ref().len();
    crate::bounded_read::exact_size(want, (bytes.len() - data) as u64)
        .map_err(|e| FileError::whole(&file, format!("shape {shape:?} of '{ty}', data section: {e}")))?;
    Ok(NpyF32 { bytes, data, shape, big_endian: ty.endianness() == npyz::Endianness::Big, file })
}

fn read_labels(mut r: impl Read, file: &str) -> Result<Vec<usize>, FileError> {
    let err = |m: String| FileError::whole(file, m);
    let (header, ty, body) = header_and_body(&mut r, file, MAX_LABEL_BYTES, |ty| {
        (matches!(ty.type_char(), TypeChar::Int | TypeChar::Uint) && matches!(ty.size_field(), 1 | 2 | 4 | 8))
            .then_some(())
            .ok_or_else(|| format!("expected integer class labels (e.g. '<i8', int64), got '{ty}'"))
    })?;
    match header.shape() {
        [_] | [_, 1] => {}
        s => return Err(err(format!("expected one label per image, shape (N,), got {s:?}"))),
    }
    // Widen to i128 (every 1-8 byte integer fits), then check the sign.
    let wide: Vec<i128> = match (ty.type_char(), ty.size_field()) {
        (TypeChar::Int, 1) => widen::<i8>(header, &body, file)?,
        (TypeChar::Int, 2) => widen::<i16>(header, &body, file)?,
        (TypeChar::Int, 4) => widen::<i32>(header, &body, file)?,
        (TypeChar::Int, 8) => widen::<i64>(header, &body, file)?,
        (TypeChar::Uint, 1) => widen::<u8>(header, &body, file)?,
        (TypeChar::Uint, 2) => widen::<u16>(header, &body, file)?,
        (TypeChar::Uint, 4) => widen::<u32>(header, &body, file)?,
        (TypeChar::Uint, 8) => widen::<u64>(header, &body, file)?,
        (c, size) => return Err(err(format!("expected integer class labels, got '{c}' of {size} bytes"))),
    };
    wide.into_iter()
        .enumerate()
        .map(|(i, v)| match usize::try_from(v) {
            Ok(v) => Ok(v),
            Err(_) if v < 0 => Err(err(format!("label at index {i} is {v}; class labels are 0 or more"))),
            Err(_) => Err(err(format!("label {i} does not fit"))),
        })
        .collect()
}

fn widen<T: npyz::Deserialize + Into<i128>>(
    header: NpyHeader,
    body: &[u8],
    file: &str,
) -> Result<Vec<i128>, FileError> {
    Ok(decode::<T>(header, body, file)?.into_iter().map(Into::into).collect())
}

/// Decodes the elements of `body` (exactly the header's data bytes) with `npyz`.
fn decode<T: npyz::Deserialize>(header: NpyHeader, body: &[u8], file: &str) -> Result<Vec<T>, FileError> {
    NpyFile::with_header(header, body)
        .into_vec::<T>()
        .map_err(|e| FileError::whole(file, format!("cannot decode the data: {e}")))
}

/// The header (parsed by `npyz` once its length is checked), its element type and exactly
/// the data bytes it
/// describes, after checking C order, the element type (`accept`) and the size bound.
fn header_and_body(
    r: &mut impl Read,
    file: &str,
    max_bytes: u64,
    accept: impl Fn(&npyz::TypeStr) -> Result<(), String>,
) -> Result<(NpyHeader, npyz::TypeStr, Vec<u8>), FileError> {
    let (header, ty, bytes, past) = header(r, file, max_bytes, accept)?;
    let body = crate::bounded_read::read_exactly_from(past.chain(r), bytes)
        .map_err(|e| FileError::whole(file, format!("shape {:?} of '{ty}', data section: {e}", header.shape())))?;
    Ok((header, ty, body))
}

/// The header of [`header_and_body`], the size of the data it describes, and the data's
/// first bytes if reading the header took some (version 1's preamble is two bytes shorter
/// than the twelve read first); `r` is left at the byte after them.
fn header(
    r: &mut impl Read,
    file: &str,
    max_bytes: u64,
    accept: impl Fn(&npyz::TypeStr) -> Result<(), String>,
) -> Result<(NpyHeader, npyz::TypeStr, u64, std::io::Cursor<Vec<u8>>), FileError> {
    let err = |m: String| FileError::whole(file, m);
    let io = |e: std::io::Error| err(format!("cannot read: {e}"));
    let mut pre = Vec::with_capacity(12);
    r.take(12).read_to_end(&mut pre).map_err(io)?;
    let hlen = preamble(&pre, file)?;
    if hlen > MAX_HEADER_BYTES {
        return Err(err(format!("header of {hlen} bytes; at most {MAX_HEADER_BYTES} accepted")));
    }
    let mut head = Vec::with_capacity(hlen);
    r.take(hlen as u64).read_to_end(&mut head).map_err(io)?;
    let opened = head.iter().filter(|b| matches!(b, b'(' | b'[' | b'{')).count();
    if opened > MAX_HEADER_BRACKETS {
        return Err(err(format!(
            "header opens {opened} brackets; a plain array's header is a dict with a shape tuple (at most {MAX_HEADER_BRACKETS})"
        )));
    }
    // npyz multiplies the shape's entries unchecked: a shape whose element count passes
    // 64 bits is refused first (found by the fuzz campaign).
    shape_fits(&head).map_err(err)?;
    // npyz reads the preamble and the header again, then nothing of the data.
    let mut r = std::io::Cursor::new(pre).chain(std::io::Cursor::new(head)).chain(&mut *r);
    let header = NpyFile::new(&mut r).map_err(|e| err(format!("malformed .npy header: {e}")))?.header().clone();
    let (read, _) = r.into_inner();
    let (pre, head) = read.into_inner();
    let at = |c: &std::io::Cursor<Vec<u8>>| c.get_ref()[(c.position() as usize).min(c.get_ref().len())..].to_vec();
    let past = std::io::Cursor::new([at(&pre), at(&head)].concat());
    if header.order() != Order::C {
        return Err(err("Fortran-order arrays are not supported; save in C order".to_string()));
    }
    let ty = match header.dtype() {
        DType::Plain(ty) => ty,
        other => return Err(err(format!("expected a plain numeric dtype, got '{}'", other.descr()))),
    };
    accept(&ty).map_err(err)?;
    let shape = header.shape().to_vec();
    let bytes = shape
        .iter()
        .try_fold(ty.size_field(), |a, &d| a.checked_mul(d))
        .ok_or_else(|| err(format!("shape {shape:?} is too large")))?;
    if bytes > max_bytes {
        return Err(err(format!("shape {shape:?} needs {bytes} data bytes; at most {max_bytes} accepted")));
    }
    Ok((header, ty, bytes, past))
}

/// Checks the header's shape tuple, as NumPy writes it (`'shape': (2, 3)`, `(3,)`, `()`),
/// before `npyz` parses it: each entry a whole number, their product within
/// 64 bits. A header without a shape key is left to `npyz`, which names what is missing.
fn shape_fits(head: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(head);
    let Some(key) = text.find("'shape'").or_else(|| text.find("\"shape\"")) else { return Ok(()) };
    let rest = &text[key + "'shape'".len()..];
    let (Some(open), Some(close)) = (rest.find('('), rest.find(')')) else { return Ok(()) };
    if close < open {
        return Ok(());
    }
    let entries = rest[open + 1..close].split(',').map(str::trim).filter(|e| !e.is_empty());
    let mut count: u64 = 1;
    for e in entries {
        let d: u64 = e
            .parse()
            .ok()
            .filter(|_| e.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| format!("shape entry '{e}' is not a whole number"))?;
        count = count
            .checked_mul(d)
            .ok_or_else(|| format!("shape ({}) has more elements than 64 bits count", &rest[open + 1..close]))?;
    }
    Ok(())
}

/// The header length, from the magic and version bytes (so that a header length field of
/// gigabytes is refused before `npyz` allocates it).
fn preamble(bytes: &[u8], file: &str) -> Result<usize, FileError> {
    let err = |m: &str| FileError::whole(file, m.to_string());
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(err("not a .npy file (bad magic)"));
    }
    match bytes[6] {
        1 => Ok(u16::from_le_bytes([bytes[8], bytes[9]]) as usize),
        2 | 3 if bytes.len() >= 12 => Ok(u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize),
        v => Err(err(&format!("unsupported .npy version {v}"))),
    }
}

/// The C-order index of element `i` of an array of `shape`.
fn unravel(mut i: usize, shape: &[usize]) -> Vec<usize> {
    let mut index = vec![0usize; shape.len()];
    for (k, &d) in shape.iter().enumerate().rev() {
        index[k] = i % d.max(1);
        i /= d.max(1);
    }
    index
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
        assert!(parse_npy_labels(&b, "y.npy").expect_err("short").to_string().contains("expected 16 bytes"));
    }

    #[test]
    fn reads_c_order_float32() {
        let b = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", &[1., 2., 3., 4., 5., 6.]);
        let a = parse_npy_f32(&b, "x.npy").unwrap();
        assert_eq!(a.shape(), &[2, 3]);
        assert_eq!(a.index_axis(ndarray::Axis(0), 1).iter().copied().collect::<Vec<_>>(), vec![4., 5., 6.]);
        // Big-endian float32 is decoded too.
        let mut be = npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", &[]);
        [1.5f32, -2.0].iter().for_each(|x| be.extend_from_slice(&x.to_be_bytes()));
        assert_eq!(parse_npy_f32(&be, "x.npy").unwrap().into_raw_vec_and_offset().0, vec![1.5, -2.0]);
    }

    /// A mapped file's items are the array's rows, with the whole file's checks: big-endian
    /// data, a short or long data section, a non-finite value named by its index in the array.
    #[test]
    fn mapped_items_equal_the_array_rows() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("x.npy");
        let vals: Vec<f32> = (0..24).map(|i| i as f32 * 0.5 - 3.0).collect();
        std::fs::write(&p, npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2, 3), }", &vals))
            .expect("write");
        let a = map_npy_f32(&p).expect("map");
        assert_eq!(a.shape(), &[4, 2, 3]);
        for i in 0..4 {
            assert_eq!(a.item(i).expect("item"), vals[6 * i..6 * i + 6]);
        }
        let mut be = npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 1), }", &[]);
        [1.5f32, -2.0].iter().for_each(|x| be.extend_from_slice(&x.to_be_bytes()));
        std::fs::write(&p, &be).expect("write");
        assert_eq!(map_npy_f32(&p).expect("map").item(1).expect("item"), vec![-2.0]);
        let short = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", &[1.0, 2.0]);
        std::fs::write(&p, &short).expect("write");
        let e = map_npy_f32(&p).err().expect("short").to_string();
        assert!(e.contains("expected 12 bytes, the file has 8 bytes"), "{e}");
        let long = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", &[1.0, 2.0]);
        std::fs::write(&p, &long).expect("write");
        let e = map_npy_f32(&p).err().expect("long").to_string();
        assert!(e.contains("expected 4 bytes, the file has more than 4"), "{e}");
        let nan = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", &[1.0, 2.0, 3.0, f32::NAN]);
        std::fs::write(&p, &nan).expect("write");
        let a = map_npy_f32(&p).expect("map");
        assert!(a.item(0).is_ok());
        let e = a.item(1).err().expect("nan").to_string();
        assert!(e.contains("at index [1, 1] (element 3) is not finite"), "{e}");
        assert_eq!(e, parse_npy_f32(&nan, &p.display().to_string()).err().expect("nan").to_string());
        // Past the first chunk the check scans whole (256 values), the first of two named.
        let mut vals = vec![0.5f32; 2 * 700];
        (vals[700 + 600], vals[700 + 650]) = (f32::INFINITY, f32::NAN);
        std::fs::write(&p, npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 700), }", &vals)).expect("write");
        let e = map_npy_f32(&p).expect("map").item(1).err().expect("inf").to_string();
        assert!(e.contains("value inf at index [1, 600] (element 1300) is not finite"), "{e}");
    }

    /// Found by the fuzz campaign (`fuzz/corpus/npy/nested_braces.npy`, `many_brackets.npy`):
    /// 50 nested braces in the shape made `npyz`'s header grammar backtrack for hours, 20
    /// shallow ones for 17 s; a header opening more than a dict and a tuple is refused first.
    #[test]
    fn deeply_nested_headers_are_refused_before_parsing() {
        let header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': (1, {}1, 3), }}", "{".repeat(50));
        let e = parse_npy_f32(&npy(&header, &[0.0; 4]), "x.npy").unwrap_err().to_string();
        assert!(e.contains("x.npy") && e.contains("brackets; a plain array") && e.contains("at most 2"), "{e}");
        let ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }";
        assert!(parse_npy_f32(&npy(ok, &[1.0, 2.0, 3.0, 4.0]), "x.npy").is_ok());
    }

    /// `npyz` multiplied the shape's entries unchecked (an overflow panic under overflow
    /// checks, a wrapped count without): a shape past 64 bits of elements, or one with an
    /// entry that is no whole number, is refused by name first.
    #[test]
    fn shapes_past_64_bits_are_refused_before_parsing() {
        let huge = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 6666666666000000000, 2, 1), }";
        let e = parse_npy_f32(&npy(huge, &[0.0; 4]), "x.npy").unwrap_err().to_string();
        assert!(e.contains("x.npy") && e.contains("more elements than 64 bits"), "{e}");
        let odd = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 6666-01, 1), }";
        let e = parse_npy_f32(&npy(odd, &[0.0; 4]), "x.npy").unwrap_err().to_string();
        assert!(e.contains("shape entry '6666-01' is not a whole number"), "{e}");
        for ok in ["(2, 2)", "(4,)", "(1, 4, 1)"] {
            let h = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {ok}, }}");
            assert!(parse_npy_f32(&npy(&h, &[1.0, 2.0, 3.0, 4.0]), "x.npy").is_ok(), "{ok}");
        }
    }

    #[test]
    fn fortran_order_and_oversized_headers_are_refused() {
        let b = npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 1), }", &[1., 2.]);
        assert!(parse_npy_f32(&b, "x.npy").expect_err("fortran").to_string().contains("C order"));
        let mut b = b"\x93NUMPY\x02\x00".to_vec();
        b.extend_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse_npy_f32(&b, "x.npy").expect_err("huge header").to_string().contains("at most"));
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
