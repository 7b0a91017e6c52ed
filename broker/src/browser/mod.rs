//! `persite browser`'s work that is not command-line plumbing: finding a Firefox-family browser
//! and judging whether it can run an unsigned add-on ([`discover`]), preparing Persite's own
//! profile for it ([`profile`]), and deciding where tor comes from ([`tor_choice`]).
//!
//! Each module keeps its rules pure (text in, decision out) and unit-tested; the few file-system
//! steps are thin functions beside them.

pub mod discover;
pub mod profile;
pub mod tor_choice;
