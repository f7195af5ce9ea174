//! The `accelsim` binary: a thin shell over [`accelsim::cli`].

use clap::Parser;
use std::alloc::{GlobalAlloc, Layout, System};

/// The system allocator, with blocks of 4 KiB and more aligned to 64 bytes (a cache line,
/// one AVX-512 register). glibc aligns to 16, so nearly every 64-byte load of an activation
/// tensor or of packed weights by the AVX-512 kernels straddled two cache lines.
struct LineAligned;

/// From this size on, a block is aligned to a cache line.
const LINE_ALIGNED_FROM: usize = 4096;

/// The layout a block of layout `l` is allocated with (the same rule for every call, so a
/// block is freed with the layout it was allocated with).
fn line_aligned(l: Layout) -> Layout {
    if l.size() >= LINE_ALIGNED_FROM {
        l.align_to(64).unwrap_or(l)
    } else {
        l
    }
}

// SAFETY: every call is passed to `System` with the layout `line_aligned` derives from the
// caller's, which is a valid layout of at least the caller's size and alignment; `realloc`
// moves a block between the two rules by allocating, copying and freeing through them.
unsafe impl GlobalAlloc for LineAligned {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        unsafe { System.alloc(line_aligned(l)) }
    }

    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        unsafe { System.alloc_zeroed(line_aligned(l)) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, l: Layout) {
        unsafe { System.dealloc(ptr, line_aligned(l)) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees `new_size`, rounded up to `l.align()`, fits isize.
        let new = unsafe { Layout::from_size_align_unchecked(new_size, l.align()) };
        let (from, to) = (line_aligned(l), line_aligned(new));
        if from.align() == to.align() {
            return unsafe { System.realloc(ptr, from, new_size) };
        }
        let moved = unsafe { self.alloc(new) };
        if !moved.is_null() {
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, moved, l.size().min(new_size));
                self.dealloc(ptr, l);
            }
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: LineAligned = LineAligned;

fn main() -> miette::Result<()> {
    keep_freed_memory();
    accelsim::cli::main_with(accelsim::cli::Cli::parse())
}

/// Lets glibc's malloc keep freed blocks of up to 256 MiB for reuse instead of returning
/// them to the kernel. The executor allocates each layer's output anew (MobileNet-v1's first
/// layers hold 3.2 MB of i32); with glibc's defaults those large blocks were mapped and
/// unmapped on every run, and the page faults of zeroing fresh pages cost as much system
/// time as the arithmetic itself (`exec` of 64 MobileNet-v1 images: 0.7 s sys -> 0.09 s).
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const LIMIT: i32 = 256 << 20;
        // SAFETY: mallopt only sets allocator parameters; it is called before any other
        // thread exists. A refused setting (return 0) leaves glibc's default, which is correct
        // too, only slower.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, LIMIT);
            libc::mallopt(libc::M_TRIM_THRESHOLD, LIMIT);
        }
    }
}
