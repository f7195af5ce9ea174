//! The `accelsim` binary: a thin shell over [`accelsim::cli`].

use clap::Parser;

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
