//! Helpers shared by the binary's integration tests (each file in `tests/` is its own test
//! binary and uses a different part of them, hence the `dead_code` allowance).
#![allow(dead_code)]

pub mod api;
pub mod capture;
pub mod postgres;
pub mod process;
pub mod receiver;
