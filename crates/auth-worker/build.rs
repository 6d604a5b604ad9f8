//! Rebuild when a migration changes: `sqlx::migrate!` embeds the folder at compile time.

// Cargo reads build-script instructions from stdout.
#![allow(clippy::print_stdout)]

fn main() {
    println!("cargo:rerun-if-changed=../../migrations/auth");
    println!("cargo:rerun-if-changed=../../migrations/auth-postgres");
}
