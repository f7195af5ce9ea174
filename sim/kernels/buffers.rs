//! A per-thread pool of activation buffers (one per element type, [`Elem`]): the executor
//! gives it the memory of tensors no later layer reads, and the fast convolution kernels take
//! their outputs from it.
//!
//! Why: a fresh output vector is zeroed first (a pass over memory that the kernel then
//! overwrites) and, once large allocations are returned to the system, page-faulted in
//! again for every layer of every image. A pooled buffer holds a dead tensor's values:
//! initialized, so handing it out stale is safe, and every kernel that takes one writes
//! each element. One pool per thread, so images run in parallel never share one; a few
//! buffers are kept (a MobileNet run has at most three activations live at once).

use std::cell::RefCell;
use std::thread::LocalKey;

use super::elem::Elem;

/// How many buffers a thread keeps per element type.
const KEEP: usize = 6;

/// A thread's pool of buffers of one element type.
pub type Pool<T> = LocalKey<RefCell<Vec<Vec<T>>>>;

thread_local! {
    pub(super) static POOL_I32: RefCell<Vec<Vec<i32>>> = const { RefCell::new(Vec::new()) };
    pub(super) static POOL_I8: RefCell<Vec<Vec<i8>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of `len` values whose contents are unspecified (a dead tensor's, or zeros):
/// for a kernel that writes every element. The smallest pooled buffer that holds `len`,
/// else a new one.
pub fn take<T: Elem>(len: usize) -> Vec<T> {
    let pooled = T::pool().with(|p| {
        let mut p = p.borrow_mut();
        let best = (0..p.len()).filter(|&i| p[i].capacity() >= len).min_by_key(|&i| p[i].capacity());
        best.map(|i| p.swap_remove(i))
    });
    let mut v = pooled.unwrap_or_default();
    // Shrinking keeps the stale values; growing within the capacity zeroes only the growth.
    v.resize(len, T::default());
    v
}

/// Gives a buffer back to this thread's pool; when the pool is full, it replaces the smallest
/// pooled buffer if it is larger, else it is freed.
pub fn give<T: Elem>(v: Vec<T>) {
    if v.capacity() == 0 {
        return;
    }
    T::pool().with(|p| {
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
    use super::{give, take, KEEP};

    fn check<T: super::Elem + From<i8>>() {
        let seven = T::from(7);
        let mut a = take::<T>(100);
        assert_eq!(a.len(), 100);
        a.iter_mut().for_each(|v| *v = seven);
        let ptr = a.as_ptr();
        give(a);
        // The smallest buffer that fits is handed out again, its stale values kept.
        let b = take::<T>(50);
        assert_eq!((b.len(), b.as_ptr()), (50, ptr));
        assert!(b.iter().all(|&v| v == seven));
        give(b);
        // Growing past the stale values within the capacity zeroes the growth.
        let c = take::<T>(80);
        assert_eq!(c.as_ptr(), ptr);
        assert!(c[..50].iter().all(|&v| v == seven) && c[50..].iter().all(|&v| v == T::default()));
        // A full pool keeps the largest buffers.
        for n in 1..=KEEP + 2 {
            give(vec![T::default(); n * 1000]);
        }
        assert_eq!(take::<T>(KEEP * 1000 + 1500).capacity(), (KEEP + 2) * 1000);
    }

    #[test]
    fn buffers_have_the_length_asked_and_are_reused() {
        check::<i32>();
        check::<i8>();
    }
}
