//! Helpers shared by the integration tests (each test file declares
//! `mod support;` and uses the parts it needs).
#![allow(dead_code)]

pub mod access_log;
pub mod certs;
pub mod chromium;
pub mod curl;
pub mod demo;
pub mod python;
pub mod raw;
pub mod raw_server;
