//! The `strports` command.
fn main() {}
