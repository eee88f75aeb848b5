//! `ivanti-exporter`: see the library crate for the map of the code.

/// mimalloc instead of glibc's malloc: under load the glibc slow path
/// (`_int_malloc`, `malloc_consolidate`) was a fifth of the exporter's CPU,
/// and freed memory goes back to the OS more readily (docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ivanti_exporter::cli::main()
}
