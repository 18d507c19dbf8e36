//! Blocking mio drivers that plug the sans-IO [`tinyssb`] engine into real I/O.
#![forbid(unsafe_code)]

pub mod inspect;
