//! `ivanti-exporter`: see the library crate for the map of the code.

fn main() -> std::process::ExitCode {
    ivanti_exporter::cli::main()
}
