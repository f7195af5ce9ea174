//! Signed 8-bit constant values, owned or borrowed from the bytes of the file they were read
//! from: a model's int8 weights are most of its bytes, and copying them out of a mapped file
//! was a sixth of a one-image `exec` (the copy, and the fresh pages it wrote).
//!
//! The IR does not know about files: a borrowed tensor holds an [`Arc`] of any shared byte
//! buffer ([`SharedBytes`]) and the range its values occupy in it.

use std::sync::Arc;

/// Bytes several tensors may borrow from (a model file's mapped or read bytes).
pub type SharedBytes = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// Signed 8-bit values: a `Vec<i8>`, or a range of a [`SharedBytes`] read as i8 (two's
/// complement, as files store them). Read through `Deref<Target = [i8]>`.
#[derive(Clone)]
pub struct I8Values {
    repr: Repr,
}

#[derive(Clone)]
enum Repr {
    Owned(Vec<i8>),
    Shared { bytes: SharedBytes, start: usize, len: usize },
}

impl I8Values {
    /// The values held in `bytes[range]`, borrowed; `None` when the range is not inside
    /// `bytes`.
    pub fn shared(bytes: SharedBytes, range: std::ops::Range<usize>) -> Option<I8Values> {
        let held = (*bytes).as_ref().len();
        if range.start > range.end || range.end > held {
            return None;
        }
        Some(I8Values { repr: Repr::Shared { bytes, start: range.start, len: range.end - range.start } })
    }

    /// The values as an owned vector (a copy when they are borrowed).
    pub fn into_vec(self) -> Vec<i8> {
        match self.repr {
            Repr::Owned(v) => v,
            Repr::Shared { .. } => self.to_vec(),
        }
    }

    /// Whether the values are borrowed from shared bytes (not a copy of them).
    pub fn is_shared(&self) -> bool {
        matches!(self.repr, Repr::Shared { .. })
    }
}

impl From<Vec<i8>> for I8Values {
    fn from(v: Vec<i8>) -> I8Values {
        I8Values { repr: Repr::Owned(v) }
    }
}

impl FromIterator<i8> for I8Values {
    fn from_iter<I: IntoIterator<Item = i8>>(iter: I) -> I8Values {
        I8Values::from(iter.into_iter().collect::<Vec<i8>>())
    }
}

impl std::ops::Deref for I8Values {
    type Target = [i8];

    fn deref(&self) -> &[i8] {
        match &self.repr {
            Repr::Owned(v) => v,
            Repr::Shared { bytes, start, len } => {
                let b = &(**bytes).as_ref()[*start..*start + *len];
                // SAFETY: i8 and u8 have the same size and alignment, and every bit pattern is
                // a valid i8; the slice borrows `bytes`, which `self` keeps alive.
                unsafe { std::slice::from_raw_parts(b.as_ptr().cast::<i8>(), b.len()) }
            }
        }
    }
}

impl PartialEq for I8Values {
    fn eq(&self, other: &I8Values) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for I8Values {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        (**self).fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_values_read_the_bytes_as_twos_complement() {
        let bytes: SharedBytes = Arc::new(vec![0u8, 1, 127, 128, 255, 7]);
        let v = I8Values::shared(bytes.clone(), 1..5).expect("inside");
        assert!(v.is_shared());
        assert_eq!(&*v, &[1i8, 127, -128, -1]);
        assert_eq!(v, I8Values::from(vec![1i8, 127, -128, -1]));
        assert_eq!(v.clone().into_vec(), vec![1i8, 127, -128, -1]);
        assert!(I8Values::shared(bytes.clone(), 5..7).is_none());
        assert_eq!(I8Values::shared(bytes, 6..6).map(|v| v.len()), Some(0));
    }
}
