//! Bounded file reads: every reader of a user file goes through here, so no input (a huge
//! file, `/dev/zero`, a FIFO that never ends) can make accelsim allocate without limit.
//!
//! Either the expected size is known before reading ([`read_exactly`]: raw tensors, the
//! data of a `.npy` whose header gave its shape) or the format has a ceiling
//! ([`read_at_most`]: [`MAX_MODEL_BYTES`] for binary models, [`MAX_TEXT_BYTES`] for TOML,
//! CSV and JSON). Regular files are checked by their size before any byte is read; other
//! files (devices, pipes) are read at most one byte past the limit. Errors are
//! `std::io::Error`s with a message saying what was expected; callers prefix the file name.

use std::io::{Error, ErrorKind, Read};
use std::path::Path;

/// Largest binary model file read (`.tflite`, `.onnx`, `.aqm`): both flatbuffers and
/// protobuf cap a message at 2 GiB.
pub const MAX_MODEL_BYTES: u64 = 2 << 30;

/// Largest text file read (accelerator, model and sweep TOML, sweep CSV, run JSON).
pub const MAX_TEXT_BYTES: u64 = 1 << 30;

/// Initial buffer never larger than this, whatever a size claims (the buffer grows as
/// bytes actually arrive).
const MAX_PREALLOC: u64 = 64 << 20;

fn too_large(limit: u64) -> Error {
    Error::new(ErrorKind::InvalidData, format!("the file is larger than the {limit} bytes accepted"))
}

/// Reads the whole file, refusing one larger than `limit` bytes.
pub fn read_at_most(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    let f = std::fs::File::open(path)?;
    let meta = f.metadata()?;
    if meta.is_file() && meta.len() > limit {
        return Err(too_large(limit));
    }
    let mut v = Vec::with_capacity(meta.len().min(limit).min(MAX_PREALLOC) as usize);
    f.take(limit.saturating_add(1)).read_to_end(&mut v)?;
    if v.len() as u64 > limit {
        return Err(too_large(limit));
    }
    Ok(v)
}

/// [`read_at_most`] for UTF-8 text.
pub fn read_text(path: &Path, limit: u64) -> std::io::Result<String> {
    String::from_utf8(read_at_most(path, limit)?)
        .map_err(|e| Error::new(ErrorKind::InvalidData, format!("the file is not UTF-8 text: {e}")))
}

/// Reads exactly `expected` bytes from `r` and checks that nothing follows.
pub fn read_exactly_from(r: impl Read, expected: u64) -> std::io::Result<Vec<u8>> {
    let mut v = Vec::with_capacity(expected.min(MAX_PREALLOC) as usize);
    r.take(expected.saturating_add(1)).read_to_end(&mut v)?;
    let got = v.len() as u64;
    if got != expected {
        let got = if got > expected { format!("more than {expected}") } else { got.to_string() };
        return Err(Error::new(ErrorKind::InvalidData, format!("expected {expected} bytes, the file has {got} bytes")));
    }
    Ok(v)
}

/// Reads a file that must hold exactly `expected` bytes.
pub fn read_exactly(path: &Path, expected: u64) -> std::io::Result<Vec<u8>> {
    let f = std::fs::File::open(path)?;
    let meta = f.metadata()?;
    if meta.is_file() && meta.len() != expected {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!("expected {expected} bytes, the file has {} bytes", meta.len()),
        ));
    }
    read_exactly_from(f, expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_hold_for_files_and_endless_streams() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("f");
        std::fs::write(&p, [7u8; 10]).expect("write");
        assert_eq!(read_at_most(&p, 10).expect("fits").len(), 10);
        assert!(read_at_most(&p, 9).expect_err("too large").to_string().contains("larger than the 9 bytes"));
        assert_eq!(read_exactly(&p, 10).expect("exact").len(), 10);
        assert!(read_exactly(&p, 11).expect_err("short").to_string().contains("expected 11 bytes, the file has 10"));
        // An endless stream stops one byte past the limit.
        let endless = std::io::repeat(0);
        let e = read_exactly_from(endless, 1000).expect_err("too long");
        assert!(e.to_string().contains("more than 1000"), "{e}");
    }
}
