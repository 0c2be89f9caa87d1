//! The shared conformance suite, run against each backend.
