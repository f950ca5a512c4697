//! sandspawn: start MCP stdio servers, and any other command, inside a Linux
//! sandbox with a curated environment.
//!
//! The one idea: the child's environment and the sandbox's filesystem policy
//! are built together, from one [`plan::Plan`], so every path the environment
//! hands the child (a CA bundle, TMPDIR, HOME) is readable inside the sandbox
//! and nothing else becomes readable because of it.
//!
//! The flow of one spawn, each step a module:
//! 1. [`policy`]: what the user asked for (presets, a TOML file, flags).
//! 2. [`trust`]: CA inputs sanitised into content-addressed bundles.
//! 3. [`env`](mod@env): the child's variables, each with its provenance.
//! 4. [`plan`]: env + filesystem + network + backend in one value, verified,
//!    then lowered into the `sandspawn-linux` spec that enforcement consumes.
//!
//! Everything except reading CA files and writing bundles is a pure function
//! over plain data; the parent's environment arrives as `OsString` pairs and is
//! never read from the global process environment inside the core.
#![deny(unsafe_code)]

pub mod cli;
pub mod env;
pub mod mcp;
pub mod paths;
pub mod plan;
pub mod policy;
pub mod readfile;
pub mod trust;
