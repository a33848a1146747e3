//! Configuration from a file.
