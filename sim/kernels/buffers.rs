//! A per-thread pool of `i32` buffers: the executor gives it the memory of tensors no later
//! layer reads, and the fast convolution kernels take their outputs from it.
//!
//! Why: a fresh output vector is zeroed first (a pass over memory that the kernel then
//! overwrites) and, once large allocations are returned to the system, page-faulted in
//! again for every layer of every image. A pooled buffer holds a dead tensor's values:
//! initialized, so handing it out stale is safe, and every kernel that takes one writes
//! each element. One pool per thread, so images run in parallel never share one; a few
//! buffers are kept (a MobileNet run has at most three activations live at once).

use std::cell::RefCell;

/// How many buffers a thread keeps.
const KEEP: usize = 6;

thread_local! {
    static POOL: RefCell<Vec<Vec<i32>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of `len` values whose contents are unspecified (a dead tensor's, or zeros):
/// for a kernel that writes every element. The smallest pooled buffer that holds `len`,
/// else a new one.
pub fn take_i32(len: usize) -> Vec<i32> {
    let pooled = POOL.with(|p| {
        let mut p = p.borrow_mut();
        let best = (0..p.len()).filter(|&i| p[i].capacity() >= len).min_by_key(|&i| p[i].capacity());
        best.map(|i| p.swap_remove(i))
    });
    let mut v = pooled.unwrap_or_default();
    // Shrinking keeps the stale values; growing within the capacity zeroes only the growth.
    v.resize(len, 0);
    v
}

/// Gives a buffer back to this thread's pool; when the pool is full, it replaces the smallest
/// pooled buffer if it is larger, else it is freed.
pub fn give_i32(v: Vec<i32>) {
    if v.capacity() == 0 {
        return;
    }
    POOL.with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < KEEP {
            p.push(v);
        } else if let Some(i) = (0..p.len()).min_by_key(|&i| p[i].capacity()) {
            if p[i].capacity() < v.capacity() {
                p[i] = v;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::{give_i32, take_i32, KEEP};

    #[test]
    fn buffers_have_the_length_asked_and_are_reused() {
        let mut a = take_i32(100);
        assert_eq!(a.len(), 100);
        a.iter_mut().for_each(|v| *v = 7);
        let ptr = a.as_ptr();
        give_i32(a);
        // The smallest buffer that fits is handed out again, its stale values kept.
        let b = take_i32(50);
        assert_eq!((b.len(), b.as_ptr()), (50, ptr));
        assert!(b.iter().all(|&v| v == 7));
        give_i32(b);
        // Growing past the stale values within the capacity zeroes the growth.
        let c = take_i32(80);
        assert_eq!(c.as_ptr(), ptr);
        assert!(c[..50].iter().all(|&v| v == 7) && c[50..].iter().all(|&v| v == 0));
        // A full pool keeps the largest buffers.
        for n in 1..=KEEP + 2 {
            give_i32(vec![0; n * 1000]);
        }
        assert_eq!(take_i32(KEEP * 1000 + 1500).capacity(), (KEEP + 2) * 1000);
    }
}
