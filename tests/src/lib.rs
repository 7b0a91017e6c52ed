//! Persite end-to-end harness.
