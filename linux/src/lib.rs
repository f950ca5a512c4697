//! Linux enforcement for sandspawn.
//!
//! This crate is the only place in the project that talks to the kernel. It
//! owns [`SandboxSpec`], the plain-data description of one sandboxed spawn
//! that the core lowers its plan into. Nothing here decides policy: every
//! path, bind and rule arrives already decided; this crate renders and
//! enforces it.
#![deny(unsafe_code)]

pub mod spec;

pub use spec::{Backend, Mount, NetworkMode, SandboxSpec};

/// Errors of [`run`], the enforcement entry point.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// Enforcement is not available in this build.
    #[error("the {backend} backend is not built yet: `sandspawn explain` shows the plan; enforcement lands with the Linux backends")]
    BackendNotBuilt {
        /// The backend that was asked for.
        backend: Backend,
    },
}

/// Enforce `spec` and exec its command. Returns only on failure.
pub fn run(spec: &SandboxSpec) -> RunError {
    RunError::BackendNotBuilt {
        backend: spec.backend,
    }
}
