//! The plan: command, cwd, environment, trust, filesystem, network and
//! backend in one value, built by one function.
//!
//! The invariant is established here, once: every path-valued variable the
//! environment exports resolves, through every symlink hop, to something
//! readable under the plan's filesystem view, and the only files added to
//! that view for trust are the materialised bundles (never the directories
//! the parent's variables pointed into). [`Plan::verify`] checks it and names
//! the variable when it does not hold.

mod assemble;
mod beside_ca;
mod build;
mod checks;
mod deny_links;
mod fs;
mod grant_links;
mod json;
mod lower;
pub(crate) mod no_project;
mod own_dirs;
mod pins;
mod private_run;
mod probe;
pub mod protect;
mod protect_ca;
mod protect_git;
mod reach;
mod search_path;
mod trust_inputs;
pub mod upstream;
mod verify;

use std::ffi::OsString;
use std::path::PathBuf;

pub use assemble::{assemble, lookup, Alias, HostFacts, PrivateDirs, SystemRoot, SYSTEM_ROOTS};
pub use beside_ca::BesideCaError;
pub(crate) use build::check_parent_cwd;
pub use build::{build, BuildError, Request};
pub use fs::{Access, FsEntry, FsView, PathKind};
pub use grant_links::GrantLinkError;
pub use json::os_json;
pub(crate) use own_dirs::check_own_dir;
pub use private_run::PrivateRun;
pub use upstream::{ProxyError, Upstream};
pub use verify::Violation;

use crate::env::EnvPlan;
use crate::policy::{Backend, NetworkMode, Policy};
use crate::trust::TrustOutcome;

/// One spawn, fully decided.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Program and arguments.
    pub command: Vec<OsString>,
    /// Working directory of the child (absolute).
    pub cwd: PathBuf,
    /// The resolved policy it was built from.
    pub policy: Policy,
    /// The child's environment with provenance.
    pub env: EnvPlan,
    /// What the trust step read and wrote.
    pub trust: TrustOutcome,
    /// The filesystem view.
    pub fs: FsView,
    /// Network mode.
    pub network: NetworkMode,
    /// Network `proxy`: the upstream and the inside port of the bridge.
    pub proxy: Option<ProxyPlan>,
    /// The backend: as requested, or what `auto` resolved to on this host.
    pub backend: Backend,
    /// Why this backend ("requested", or the host probe's reason).
    pub backend_why: String,
    /// Invariant violations found by [`Plan::verify`] (empty when sound).
    pub violations: Vec<Violation>,
    /// What the user should know: dropped inputs, weakened settings.
    pub warnings: Vec<String>,
    /// The program is there on the host but the view hides it: why, and
    /// the grant that shows it (one line). `run` and `mcp` refuse to start
    /// it (status 126 on both backends); `explain` lists it.
    pub hidden_command: Option<String>,
    /// Landlock: the sandbox's own HOME and TMPDIR directories, named but
    /// not yet created ([`Plan::create_private_dirs`],
    /// [`Plan::with_fresh_private_dirs`]).
    pub private_dirs: Option<PrivateDirs>,
    /// What each user root was when the plan first looked at it, by path
    /// (see `pins`): the sandbox refuses to start on a root replaced since.
    pub ids: pins::Ids,
}

/// Network `proxy`, decided: where the child connects inside, and where
/// the bridge goes outside.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyPlan {
    /// The upstream proxy.
    pub upstream: Upstream,
    /// The port of the inside listener (127.0.0.1).
    pub inside_port: u16,
    /// The URL the child's proxy variables carry (`http://`).
    pub inside_url: OsString,
    /// With a SOCKS5 upstream, the `socks5h://` URL of the same listener
    /// that FTP_PROXY carries.
    pub inside_socks_url: Option<OsString>,
    /// Requests for the host's own addresses go through the bridge
    /// (`--proxy-allow-local`); refused otherwise.
    pub allow_local: bool,
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod tests_cwd;

#[cfg(test)]
mod tests_checks;

#[cfg(test)]
mod tests_links;

#[cfg(test)]
mod tests_landlock;

#[cfg(test)]
mod tests_properties;
