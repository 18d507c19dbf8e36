//! Blocking mio drivers that plug the sans-IO [`tinyssb`] engine into real I/O.
//!
//! Every transport is a [`transport::Transport`]: websocket server and client
//! ([`ws`]), UDP unicast and multicast ([`udp`]) and KISS over a serial
//! device ([`kiss`], [`serial`]). Websocket links can be secure (Noise; key and trust files
//! in [`noise`]).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
// As in the core: a silent truncating cast in framing or digests is a bug.
#![warn(clippy::cast_possible_truncation)]

pub mod chat;
pub mod cli;
pub mod crc;
pub mod http;
pub mod inspect;
pub mod keyfile;
pub mod kiss;
pub mod mesh;
pub mod noise;
pub mod pub_loop;
pub mod serial;
pub mod status;
pub mod transport;
pub mod udp;
pub mod verify;
pub mod ws;
