//! The `tower-api-auth` command-line tool (being written).

fn main() {}
