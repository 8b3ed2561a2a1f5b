//! Conformance kit library.
