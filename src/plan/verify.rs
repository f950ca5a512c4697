//! The invariant check: every path-valued variable the child gets resolves,
//! through every symlink hop, to something the sandbox lets it use.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::fs::Access;
use super::Plan;
use crate::env::Source;
use crate::paths::Resolver;
use std::collections::HashMap;

/// One broken promise of the plan, named by variable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    /// The variable.
    pub variable: String,
    /// The path that fails (the variable's value, or a hop of it).
    pub path: PathBuf,
    /// What is wrong and what to do.
    pub problem: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.variable,
            self.path.display(),
            self.problem
        )
    }
}

/// What the child needs to do with a path-valued variable.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Need {
    Read,
    Write,
}

impl Plan {
    /// Check the invariant; records and returns the violations.
    pub fn verify(&mut self, resolver: &dyn Resolver) -> &[Violation] {
        // A dozen trust variables name the same bundle: check each
        // distinct path once.
        let mut checked: HashMap<(PathBuf, Need), Option<(PathBuf, String)>> = HashMap::new();
        let mut violations = Vec::new();
        for var in &self.env.vars {
            let need = match (&var.source, var.name.as_encoded_bytes()) {
                (Source::Trust { .. }, _) => Need::Read,
                (_, b"HOME" | b"XDG_RUNTIME_DIR") => Need::Read,
                (_, b"TMPDIR") => Need::Write,
                _ => continue,
            };
            let name = var.name.to_string_lossy().into_owned();
            let path = Path::new(&var.value);
            let key = (path.to_path_buf(), need);
            let verdict = match checked.get(&key) {
                Some(v) => v.clone(),
                None => {
                    let v = self.check_path(path, need, resolver);
                    checked.insert(key, v.clone());
                    v
                }
            };
            if let Some((path, problem)) = verdict {
                violations.push(Violation {
                    variable: name,
                    path,
                    problem,
                });
            }
        }
        self.violations = violations;
        &self.violations
    }

    /// The failing path and the problem, if `path` breaks the invariant.
    fn check_path(
        &self,
        path: &Path,
        need: Need,
        resolver: &dyn Resolver,
    ) -> Option<(PathBuf, String)> {
        let violation = |path: &Path, problem: String| Some((path.to_path_buf(), problem));
        if !path.is_absolute() {
            return violation(
                path,
                "not an absolute path; the sandbox can only expose absolute paths".into(),
            );
        }
        // A path the sandbox creates itself (a private tmpfs) has no host
        // symlinks in the way.
        if self
            .fs
            .decide(path)
            .is_some_and(|e| e.access == Access::Tmpfs && e.path == path)
        {
            return None;
        }
        let hops = match resolver.hops(path) {
            Ok(hops) => hops,
            Err(e) => return violation(path, format!("cannot be followed: {e}")),
        };
        let last = hops.len().saturating_sub(1);
        for (i, hop) in hops.iter().enumerate() {
            let write = i == last && need == Need::Write;
            let ok = if write {
                self.fs.writable(hop)
            } else {
                self.fs.readable(hop)
            };
            if !ok {
                let verb = if write { "writable" } else { "readable" };
                let via = if i == 0 {
                    String::new()
                } else {
                    format!(" (symlink hop {i} of {})", path.display())
                };
                return violation(
                    hop,
                    format!("not {verb} in the sandbox{via}; add it with --read/--write or unset the variable"),
                );
            }
        }
        None
    }
}
