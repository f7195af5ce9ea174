//! The `accelsim` binary: a thin shell over [`accelsim::cli`].

use clap::Parser;

/// glibc's malloc with blocks of 4 KiB and more aligned to 64 bytes (a cache line, one
/// AVX-512 register) when allocated: glibc aligns to 16, so nearly every 64-byte load of an
/// activation tensor or of packed weights by the AVX-512 kernels straddled two cache lines.
/// Blocks grown by `realloc` keep glibc's `realloc` (16-byte aligned, grown in place where it
/// can: moving every growing vector to a fresh aligned block left 60 MB of holes in the heap).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod line_aligned {
    use std::alloc::{GlobalAlloc, Layout};

    /// From this size on, a new block is aligned to a cache line.
    const FROM: usize = 4096;
    /// What glibc's `malloc` guarantees.
    const MALLOC_ALIGN: usize = 16;

    pub struct LineAligned;

    // SAFETY: every block comes from glibc (`malloc`, `calloc`, `posix_memalign` or
    // `realloc`), all freed by `free`; each is at least the layout's size and alignment
    // (`posix_memalign` for alignments above `malloc`'s, `realloc` only for blocks whose
    // layout asks no more than `malloc`'s); a null return reports failure.
    unsafe impl GlobalAlloc for LineAligned {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            if l.size() < FROM && l.align() <= MALLOC_ALIGN {
                return unsafe { libc::malloc(l.size()) as *mut u8 };
            }
            let align = if l.size() >= FROM { l.align().max(64) } else { l.align() };
            let mut p = std::ptr::null_mut();
            // SAFETY: `align` is a power of two and a multiple of the pointer size.
            match unsafe { libc::posix_memalign(&mut p, align.max(std::mem::size_of::<usize>()), l.size()) } {
                0 => p as *mut u8,
                _ => std::ptr::null_mut(),
            }
        }

        unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
            if l.size() < FROM && l.align() <= MALLOC_ALIGN {
                return unsafe { libc::calloc(1, l.size()) as *mut u8 };
            }
            let p = unsafe { self.alloc(l) };
            if !p.is_null() {
                unsafe { std::ptr::write_bytes(p, 0, l.size()) };
            }
            p
        }

        unsafe fn dealloc(&self, ptr: *mut u8, _: Layout) {
            unsafe { libc::free(ptr as *mut libc::c_void) }
        }

        unsafe fn realloc(&self, ptr: *mut u8, l: Layout, new_size: usize) -> *mut u8 {
            if l.align() <= MALLOC_ALIGN {
                return unsafe { libc::realloc(ptr as *mut libc::c_void, new_size) as *mut u8 };
            }
            // SAFETY: the caller guarantees `new_size`, rounded up to `l.align()`, fits isize.
            let new = unsafe { Layout::from_size_align_unchecked(new_size, l.align()) };
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
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[global_allocator]
static ALLOCATOR: line_aligned::LineAligned = line_aligned::LineAligned;

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
