//! `sync-bench` binary: parses the command line and runs it (see the library docs).

use clap::Parser;

fn main() {
    let cli = sync_bench::cli::Cli::parse();
    if let Err(e) = sync_bench::run(cli) {
        eprintln!("sync-bench: error: {e:#}");
        std::process::exit(1);
    }
}
