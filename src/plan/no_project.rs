//! A working directory that is no project: HOME, a directory holding it
//! (`/home`), or `/`. A preset's "working directory readable" there would
//! hand the command all of HOME (a proxy's CA key in `~/.mitmproxy`, a
//! client's tokens; with `workspace`, `~/.bashrc` to write) or the whole
//! host, so presets leave it out (`Policy::resolve_with`) and the plan
//! says so. `sandspawn mcp` gives such a server no cwd grant at all.

use std::path::Path;

use crate::paths::is_within;
use crate::policy::{PathRule, Policy};

/// Why `cwd` is no project, by real paths (the cwd comes from getcwd,
/// resolved; HOME may not be: Silverblue's /home -> var/home), or `None`.
pub fn judge(cwd: &Path, home: Option<&Path>) -> Option<&'static str> {
    let real = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let cwd = real(cwd);
    if cwd == Path::new("/") {
        Some("is the whole filesystem")
    } else if home.is_some_and(|h| is_within(&real(h), &cwd)) {
        Some("holds HOME")
    } else {
        None
    }
}

/// One warning per grant a preset left out, unless a rule of the user's
/// gives the same access to the directory itself (a `--read .` does not
/// make up for a withheld write).
pub fn warnings(cwd: &Path, why: &str, policy: &Policy) -> Vec<String> {
    let at_cwd = |rules: &[PathRule]| rules.iter().any(|r| r.path == cwd);
    let written = at_cwd(&policy.write);
    let read = written || at_cwd(&policy.read);
    (policy.withheld_cwd.iter())
        .filter(|(_, rule)| if *rule == "write" { !written } else { !read })
        .map(|(preset, rule)| {
            let made = if *rule == "read" {
                "readable"
            } else {
                "writable"
            };
            format!(
                "the working directory {} {why}: preset {preset} does not make it {made} \
                 (that would expose every file there to the command); run from a project \
                 directory, or pass --{rule} . to grant it anyway",
                cwd.display()
            )
        })
        .collect()
}
