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
    let cli = accelsim::cli::Cli::parse();
    keep_freed_memory();
    if matches!(cli.command, accelsim::cli::Command::Exec(_)) {
        huge_page_heap();
    }
    accelsim::cli::main_with(cli)
}

/// Lets glibc's malloc keep freed blocks for reuse instead of returning them to the kernel:
/// blocks of up to 32 MiB (the most `M_MMAP_THRESHOLD` accepts) come from the heap, and the
/// heap is not trimmed below 256 MiB. The executor allocates each layer's output anew
/// (MobileNet-v1's first layers hold 3.2 MB of i32); with glibc's defaults those large blocks
/// were mapped and unmapped on every run, and the page faults of zeroing fresh pages cost as
/// much system time as the arithmetic itself (`exec` of 64 MobileNet-v1 images: 0.7 s sys ->
/// 0.09 s).
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets allocator parameters; it is called before any other
        // thread exists. A refused setting (return 0) leaves glibc's default, which is correct
        // too, only slower.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 256 << 20);
        }
    }
}

/// For `exec`: the heap's next 80 MiB in transparent huge pages, and one malloc arena for
/// every thread (the executor's worker threads would otherwise allocate from arenas of their
/// own, in small pages).
///
/// Why: a one-image `exec` writes some 10 MB of fresh memory (packed weights, activations,
/// decoded inputs); in 4 KiB pages that was 2,000 page faults, a fifth of the process.
/// glibc's own `glibc.malloc.hugetlb` tunable does this, but only from the environment at
/// start-up. Here the heap is grown once, by a 16 MiB block and the 64 MiB pad, and that range
/// advised (`MADV_HUGEPAGE`, honoured when `transparent_hugepage/enabled` is `madvise` or
/// `always`). A 2 MiB range becomes a huge page only if nothing in it was touched before the
/// advice, and glibc writes chunk headers when it grows the heap: so the break is first moved
/// (a foreign `sbrk`, which glibc supports: it grows its heap after the gap) to one page below
/// a 2 MiB boundary, where the block's header lands; the header glibc writes after the block
/// costs one range, 16 MiB on. Every step is an optimization: a refused setting or advice
/// leaves the default behaviour.
fn huge_page_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const PAD: usize = 64 << 20;
        const BLOCK: usize = 16 << 20; // under M_MMAP_THRESHOLD: from the heap
        const HUGE: usize = 2 << 20;
        const FAILED: usize = usize::MAX; // sbrk's (void *) -1
                                          // SAFETY: mallopt sets allocator parameters before any other thread exists; sbrk
                                          // moves the break up over memory nothing uses (glibc takes the gap as not its own);
                                          // the block is allocated and freed at once; madvise advises a range inside the heap
                                          // the break just grew (between the reads of it), which the process owns and nothing
                                          // else maps.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
            libc::mallopt(libc::M_TOP_PAD, PAD as i32);
            let page = usize::try_from(libc::sysconf(libc::_SC_PAGESIZE)).unwrap_or(4096);
            let brk = libc::sbrk(0) as usize;
            if brk == FAILED {
                return;
            }
            let gap = (brk + page).next_multiple_of(HUGE) - page - brk;
            if libc::sbrk(gap as libc::intptr_t) as usize == FAILED {
                return;
            }
            // (black_box: LLVM removes a malloc whose block is only freed.)
            let block = std::hint::black_box(libc::malloc(BLOCK));
            libc::free(block);
            let after = libc::sbrk(0) as usize;
            let (start, end) = (brk + gap + page, after / HUGE * HUGE);
            if after != FAILED && end > start {
                libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
            }
        }
    }
}
