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
    read_open_at_most(f, &meta, limit)
}

/// [`read_at_most`] on a file already open (`meta` its metadata).
fn read_open_at_most(f: std::fs::File, meta: &std::fs::Metadata, limit: u64) -> std::io::Result<Vec<u8>> {
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

/// Whether `got` bytes (of which more than `expected` stand for any number past it) are the
/// `expected` ones; the error says what was expected and what the file has.
pub fn exact_size(expected: u64, got: u64) -> std::io::Result<()> {
    if got == expected {
        return Ok(());
    }
    let got = if got > expected { format!("more than {expected}") } else { got.to_string() };
    Err(Error::new(ErrorKind::InvalidData, format!("expected {expected} bytes, the file has {got} bytes")))
}

/// Reads exactly `expected` bytes from `r` and checks that nothing follows.
pub fn read_exactly_from(r: impl Read, expected: u64) -> std::io::Result<Vec<u8>> {
    let mut v = Vec::with_capacity(expected.min(MAX_PREALLOC) as usize);
    r.take(expected.saturating_add(1)).read_to_end(&mut v)?;
    exact_size(expected, v.len() as u64)?;
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

/// A whole file's bytes: mapped read-only where the system allows it (a regular file on
/// Linux), else read into memory. Mapping skips the copy and the page faults of a buffer the
/// size of the file: a model's or a batch's bytes are read once, where they lie.
///
/// A mapped file that another process truncates while accelsim reads it ends the process
/// with `SIGBUS`; the files accelsim maps (models, `.npy` batches) are inputs nobody
/// rewrites during a run.
pub struct FileBytes {
    inner: Inner,
}

enum Inner {
    Read(Vec<u8>),
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    Mapped {
        ptr: *const u8,
        len: usize,
    },
}

// SAFETY: a mapping is private and read-only, never written through, and unmapped once (on
// drop); sharing or sending its address is as safe as sharing a `&[u8]`.
unsafe impl Send for FileBytes {}
unsafe impl Sync for FileBytes {}

impl From<Vec<u8>> for FileBytes {
    fn from(v: Vec<u8>) -> FileBytes {
        FileBytes { inner: Inner::Read(v) }
    }
}

impl std::ops::Deref for FileBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match &self.inner {
            Inner::Read(v) => v,
            #[cfg(all(target_os = "linux", target_env = "gnu"))]
            // SAFETY: `ptr` maps `len` readable bytes until drop (see `map`).
            Inner::Mapped { ptr, len } => unsafe { std::slice::from_raw_parts(*ptr, *len) },
        }
    }
}

impl AsRef<[u8]> for FileBytes {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl Drop for FileBytes {
    fn drop(&mut self) {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        if let Inner::Mapped { ptr, len } = self.inner {
            // SAFETY: the mapping `map` made, unmapped once; no slice of it outlives `self`.
            unsafe { libc::munmap(ptr as *mut libc::c_void, len) };
        }
    }
}

/// [`read_at_most`], mapping a regular file instead of reading it (`populate`: fault every
/// page in at once, for a file read whole right away).
pub fn map_at_most(path: &Path, limit: u64, populate: bool) -> std::io::Result<FileBytes> {
    let f = std::fs::File::open(path)?;
    let meta = f.metadata()?;
    if meta.is_file() && meta.len() > limit {
        return Err(too_large(limit));
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if meta.is_file() && meta.len() > 0 {
        if let Some(m) = map(&f, meta.len(), populate) {
            return Ok(m);
        }
    }
    let _ = populate;
    Ok(read_open_at_most(f, &meta, limit)?.into())
}

/// Maps `len` bytes of `f` read-only and private; `None` if the system refuses (the caller
/// reads the file then).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn map(f: &std::fs::File, len: u64, populate: bool) -> Option<FileBytes> {
    use std::os::fd::AsRawFd;
    let len = usize::try_from(len).ok()?;
    let flags = libc::MAP_PRIVATE | if populate { libc::MAP_POPULATE } else { 0 };
    // SAFETY: a new read-only mapping of an open file descriptor at an address the kernel
    // chooses; it aliases no Rust object. The descriptor may be closed afterwards.
    let ptr = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, flags, f.as_raw_fd(), 0) };
    (ptr != libc::MAP_FAILED).then_some(FileBytes { inner: Inner::Mapped { ptr: ptr as *const u8, len } })
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

    #[test]
    fn mapped_files_hold_their_bytes_and_keep_the_limits() {
        let d = tempfile::tempdir().expect("tempdir");
        let p = d.path().join("f");
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        std::fs::write(&p, &bytes).expect("write");
        for populate in [false, true] {
            assert_eq!(&map_at_most(&p, 10_000, populate).expect("fits")[..], &bytes[..]);
        }
        let e = map_at_most(&p, 9_999, false).err().expect("too large");
        assert!(e.to_string().contains("larger than the 9999 bytes"), "{e}");
        let empty = d.path().join("empty");
        std::fs::write(&empty, b"").expect("write");
        assert!(map_at_most(&empty, 10, true).expect("empty").is_empty());
        // Not a regular file: read, still bounded.
        #[cfg(target_os = "linux")]
        {
            let e = map_at_most(Path::new("/dev/zero"), 100, false).err().expect("endless");
            assert!(e.to_string().contains("larger than the 100 bytes"), "{e}");
        }
    }
}
