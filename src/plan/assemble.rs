//! Assembling a plan from decided parts: a pure function. The host is known
//! only through [`HostFacts`], gathered beforehand by the driver.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::fs::{Access, FsView, PathKind};
use super::Plan;
use crate::env::{self, families, EnvContext, TrustRole};
use crate::paths::{is_within, same_path};
use crate::policy::Policy;
use crate::trust::TrustOutcome;

/// The directories that make up the operating system, bound read-only in the
/// restricted-read shape. Home, /root, /var, /srv, /mnt, /media and /run
/// stay hidden unless the policy names them.
pub const SYSTEM_ROOTS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt",
];

/// A system root as it exists on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemRoot {
    /// A real directory.
    Dir(PathBuf),
    /// A symlink (merged /usr: /bin -> usr/bin).
    Link {
        /// The link.
        path: PathBuf,
        /// Its target as stored.
        target: PathBuf,
    },
}

impl SystemRoot {
    /// Where it is on the host.
    pub fn path(&self) -> &Path {
        match self {
            SystemRoot::Dir(path) | SystemRoot::Link { path, .. } => path,
        }
    }
}

/// What the plan needs to know about the host.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostFacts {
    /// The system roots that exist.
    pub system_roots: Vec<SystemRoot>,
    /// What each denied path is; read and write roots absent on the host
    /// are recorded as `Missing`.
    pub kinds: HashMap<PathBuf, PathKind>,
    /// Protected paths found under writable roots (bound read-only).
    pub protected: Vec<PathBuf>,
    /// Without a mount namespace (the Landlock backend) there is no private
    /// tmpfs: HOME and TMPDIR then use these sandspawn-owned directories.
    pub no_private_mounts: Option<PrivateDirs>,
    /// Network `proxy`: the upstream, chosen and parsed by the driver.
    pub proxy: Option<super::Upstream>,
    /// Policy paths (read, write, deny) that lead through a symlink on the
    /// host, by the path as written.
    pub aliases: HashMap<PathBuf, Alias>,
    /// The user roots' identities (`super::pins`).
    pub ids: super::pins::Ids,
}

/// Where a policy path written through a symlink leads on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    /// The deepest symlink on the way (the path itself when it is one).
    pub link: PathBuf,
    /// The path with every symlink resolved.
    pub resolved: PathBuf,
}

/// Directories that stand in for a private HOME and /tmp when the backend
/// cannot mount them: one fresh pair per sandbox, in a directory of its own
/// (named by the driver, created 0700 when the sandbox starts; see
/// `private_run`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrivateDirs {
    /// The sandbox's own directory, holding `home` and `tmp`.
    pub dir: PathBuf,
    /// Stands in for HOME when the policy hides it.
    pub home: PathBuf,
    /// Stands in for /tmp.
    pub tmp: PathBuf,
}

/// Build a plan from its parts. `parent_env` is the parent's environment as
/// data; `trust` is what the trust step produced for this policy.
pub fn assemble(
    command: Vec<OsString>,
    cwd: PathBuf,
    policy: Policy,
    parent_env: &[(OsString, OsString)],
    trust: TrustOutcome,
    facts: &HostFacts,
) -> Plan {
    let mut fs = FsView::default();
    // A merged-/usr link inside a policy root is already in the host view
    // that root binds: recreating it fails (bwrap: "Can't make symlink at
    // /bin: File exists" under `read = ["/"]`). The system directories stay
    // read-only binds even there: under `write = ["/"]` they must not
    // become writable.
    let covered_link = |root: &SystemRoot| {
        matches!(root, SystemRoot::Link { .. })
            && policy
                .read
                .iter()
                .chain(&policy.write)
                .any(|r| is_within(root.path(), &r.path))
    };
    for root in facts.system_roots.iter().filter(|r| !covered_link(r)) {
        let (path, access) = match root {
            SystemRoot::Dir(p) => (p.clone(), Access::Read),
            SystemRoot::Link { path, target } => (
                path.clone(),
                Access::Link {
                    target: target.clone(),
                },
            ),
        };
        fs.add(path, access, "system");
    }
    // A root written through a symlink grants what it leads to: bwrap binds
    // the target at the written path, Landlock's rule holds the target's
    // inode. The resolved path is granted as well, so a variable whose hops
    // pass through it (HOME=/home/u with /home -> var/home) resolves.
    let resolved = |r: &crate::policy::PathRule| {
        facts.aliases.get(&r.path).map(|a| {
            (
                a.resolved.clone(),
                format!("{} (resolved from {})", r.origin, r.path.display()),
            )
        })
    };
    let link = |r: &crate::policy::PathRule| facts.aliases.get(&r.path).map(|a| a.link.clone());
    for r in &policy.read {
        if let Some(entry) = fs.add(r.path.clone(), Access::Read, r.origin.clone()) {
            entry.via_link = link(r);
        }
        if let Some((path, reason)) = resolved(r) {
            fs.add(path, Access::Read, reason);
        }
    }
    for r in &policy.write {
        if let Some(entry) = fs.add(r.path.clone(), Access::Write, r.origin.clone()) {
            entry.via_link = link(r);
        }
        if let Some((path, reason)) = resolved(r) {
            fs.add(path, Access::Write, reason);
        }
    }
    // A root written through a link shows its target at the written path
    // too: a read root inside the target stays read-only there (`--write
    // ~/proj-link` run from proj/src under the readonly preset: bwrap let
    // proj-link/src be written).
    let mut seen = Vec::new();
    for w in &policy.write {
        let Some(a) = facts.aliases.get(&w.path) else {
            continue;
        };
        for r in &policy.read {
            let target = facts.aliases.get(&r.path).map_or(&r.path, |b| &b.resolved);
            let present = facts.kinds.get(&r.path) != Some(&PathKind::Missing);
            match target.strip_prefix(&a.resolved) {
                Ok(rest) if present && !rest.as_os_str().is_empty() => seen.push((
                    w.path.join(rest),
                    format!("{} (seen through {})", r.origin, w.path.display()),
                    a.link.clone(),
                )),
                _ => {}
            }
        }
    }
    for (path, reason, link) in seen {
        if let Some(entry) = fs.add(path, Access::Read, reason) {
            entry.via_link = Some(link);
        }
    }
    // Absent roots stay in the view (explain lists them, the warning says
    // why) but are not mounted: bwrap cannot bind a missing source.
    for entry in fs.entries.iter_mut() {
        if matches!(entry.access, Access::Read | Access::Write)
            && facts.kinds.get(&entry.path) == Some(&PathKind::Missing)
        {
            entry.kind = Some(PathKind::Missing);
        }
    }
    for p in &facts.protected {
        // Under a root written through a link, the protected path goes
        // through that link too: lowering skips it where the link shows.
        let through = (policy.write.iter())
            .filter(|r| is_within(p, &r.path))
            .find_map(|r| facts.aliases.get(&r.path))
            .map(|a| a.link.clone());
        if let Some(entry) = fs.add(
            p.clone(),
            Access::Read,
            "protected: read-only inside a writable root",
        ) {
            entry.protected = true;
            entry.via_link = entry.via_link.take().or(through);
        }
    }
    // A deny hides what the path leads to: `~/.ssh` under a symlinked HOME,
    // `~/.npmrc -> dotfiles/npmrc`. The target is denied by its real path
    // too, and the written path remembers its link so lowering masks it only
    // where the sandbox does not follow that link anyway.
    for r in &policy.deny {
        let kind = *facts.kinds.get(&r.path).unwrap_or(&PathKind::Missing);
        let alias = facts.aliases.get(&r.path);
        if let Some(entry) = fs.add(r.path.clone(), Access::Deny, r.origin.clone()) {
            entry.kind = Some(kind);
            entry.via_link = alias.map(|a| a.link.clone());
        }
        if let Some(Some((path, reason))) = alias.map(|_| resolved(r)) {
            if let Some(entry) = fs.add(path, Access::Deny, reason) {
                entry.kind = Some(kind);
            }
        }
        // A grant written through a link shows its target at the written
        // path: what the deny leads to is there too, under another name
        // (`~/.netrc -> stow/netrc` with HOME=/home/u and /home ->
        // var/home: the sandbox reads /home/u/stow/netrc). Hide it there.
        let leads_to = alias.map_or(r.path.as_path(), |a| a.resolved.as_path());
        for grant in policy.read.iter().chain(&policy.write) {
            let Some(g) = facts.aliases.get(&grant.path) else {
                continue;
            };
            let Ok(rest) = leads_to.strip_prefix(&g.resolved) else {
                continue;
            };
            let seen = grant.path.join(rest);
            if seen != r.path {
                let reason = format!("{} (seen through {})", r.origin, grant.path.display());
                if let Some(entry) = fs.add(seen, Access::Deny, reason) {
                    entry.kind = Some(kind);
                    entry.via_link = Some(g.link.clone());
                }
            }
        }
    }

    // A private /tmp, unless the policy leaves the host's /tmp writable
    // (a read-only or hidden /tmp would leave TMPDIR nowhere to write).
    // Without a mount namespace the host's /tmp is never exposed: TMPDIR
    // goes to a sandspawn-owned directory instead.
    // Whether the policy hides the working directory, judged before the
    // sandbox's own private directories: a deny at /tmp or HOME is replaced
    // by the tmpfs there, which hides the cwd just the same (see below).
    let hiding = fs.decide(&cwd).filter(|e| e.access == Access::Deny);
    let hidden_above = hiding
        .filter(|e| !same_path(&e.path, &cwd))
        .map(|e| e.path.clone());
    // Hidden itself (`--deny .`, run from `~/.ssh`): it is masked like any
    // deny and the command starts in it, seeing nothing, which was silent.
    let hidden_itself = hiding
        .filter(|e| same_path(&e.path, &cwd))
        .map(|e| (e.path.clone(), e.reason.clone()));
    let tmp = Path::new("/tmp");
    let mut default_tmpdir = OsString::from("/tmp");
    let host_tmp_writable = fs.writable(tmp) && policy.write.iter().any(|r| r.path == tmp);
    let mut warnings = Vec::new();
    if let Some((path, reason)) = hidden_itself {
        warnings.push(format!(
            "the working directory {} is hidden (deny {} [{reason}]): the command starts \
             there but sees none of it; run from another directory (a deny at the same \
             path wins over a grant there)",
            cwd.display(),
            path.display()
        ));
    }
    if !host_tmp_writable {
        match &facts.no_private_mounts {
            None => {
                // What the policy made of the cwd, before the tmpfs hides it.
                let cwd_grant = fs
                    .decide(&cwd)
                    .map(|e| e.access.clone())
                    .filter(|a| matches!(a, Access::Read | Access::Write));
                fs.add(tmp.to_path_buf(), Access::Tmpfs, "sandbox: private /tmp");
                if same_path(&cwd, tmp) {
                    warnings.push(format!(
                        "the working directory {} is the sandbox's private /tmp, empty; \
                         pass --write /tmp to use the host's /tmp, or run from another directory",
                        cwd.display()
                    ));
                } else if let Some(access) = cwd_grant.filter(|_| is_within(&cwd, tmp)) {
                    // A broader root (read = ["/"]) granted the cwd; the
                    // tmpfs would leave the command nowhere to start.
                    fs.add(
                        cwd.clone(),
                        access,
                        "working directory, inside the private /tmp",
                    );
                }
            }
            Some(dirs) => {
                fs.add(
                    dirs.tmp.clone(),
                    Access::Write,
                    "landlock: TMPDIR, new for this sandbox (no private /tmp without a mount namespace)",
                );
                default_tmpdir = dirs.tmp.clone().into_os_string();
            }
        }
    }

    let mut home_override = None;
    let home = lookup(parent_env, "HOME").map(PathBuf::from);
    if let Some(home) = home.as_deref().filter(|h| h.is_absolute()) {
        // A HOME inside the private /tmp is "readable" by the tmpfs, but
        // nothing of it exists there: it gets its own, like a hidden one.
        let inside_tmpfs = fs
            .decide(home)
            .is_some_and(|e| e.access == Access::Tmpfs && !same_path(&e.path, home));
        if !fs.readable(home) || inside_tmpfs {
            match &facts.no_private_mounts {
                None => {
                    fs.add(
                        home.to_path_buf(),
                        Access::Tmpfs,
                        "sandbox: HOME is an empty private directory",
                    );
                }
                Some(dirs) => {
                    fs.add(
                        dirs.home.clone(),
                        Access::Write,
                        "landlock: HOME, new and empty for this sandbox (no private HOME without a mount namespace)",
                    );
                    home_override = Some(dirs.home.clone().into_os_string());
                    warnings.extend(roots_left_under_home(&policy, home, &dirs.home));
                }
            }
        }
    }

    // A working directory inside a hidden path (`--preset read-all --deny
    // ws` run from ws/src) is hidden with it, but the command must start
    // somewhere: as with `--deny .`, it starts in an empty, read-only
    // directory (bwrap could not chdir into a path its mask removed).
    if let Some(hidden) = hidden_above {
        warnings.push(format!(
            "the working directory {} is inside the hidden {}: the command starts \
             there but sees none of it; grant it (--read .) or run from another directory",
            cwd.display(),
            hidden.display()
        ));
        if let Some(entry) = fs.add(
            cwd.clone(),
            Access::Deny,
            format!("working directory, inside the hidden {}", hidden.display()),
        ) {
            entry.kind = Some(PathKind::Dir);
        }
    }

    // Exactly the bundle files, never their directories.
    for (bundle, role) in [
        (trust.bundle.as_deref(), TrustRole::Replace),
        (trust.extras_bundle.as_deref(), TrustRole::Add),
    ] {
        if let Some(bundle) = bundle {
            fs.add(bundle.to_path_buf(), Access::Read, bundle_reason(role));
        }
    }

    // The parent's TMPDIR only where it exists inside: below a private
    // tmpfs (pam_tmpdir's /tmp/user/1000, a TMPDIR under the hidden HOME)
    // it is writable on paper, but the tmpfs starts empty and mktemp there
    // fails with ENOENT.
    let tmpdir = lookup(parent_env, "TMPDIR")
        .filter(|t| {
            let t = Path::new(t);
            t.is_absolute()
                && fs.decide(t).is_some_and(|e| match e.access {
                    Access::Write => true,
                    Access::Tmpfs => same_path(&e.path, t),
                    _ => false,
                })
        })
        .map(OsStr::to_os_string)
        .unwrap_or(default_tmpdir);
    let xdg_runtime_usable = lookup(parent_env, "XDG_RUNTIME_DIR")
        .is_some_and(|x| Path::new(x).is_absolute() && fs.readable(Path::new(x)));

    let proxy = facts
        .proxy
        .clone()
        .filter(|_| policy.network == crate::policy::NetworkMode::Proxy)
        .map(|upstream| {
            let inside_port = super::upstream::INSIDE_PORT;
            super::ProxyPlan {
                inside_url: upstream.inside_url(inside_port),
                inside_socks_url: upstream.inside_socks_url(inside_port),
                upstream,
                inside_port,
                allow_local: policy.proxy_allow_local,
            }
        });
    let env = env::build(
        parent_env,
        &policy.env,
        &EnvContext {
            network: policy.network,
            bundle: trust.bundle.as_deref(),
            extras_bundle: trust.extras_bundle.as_deref(),
            tmpdir: &tmpdir,
            home: home_override.as_deref(),
            xdg_runtime_usable,
            proxy_url: proxy.as_ref().map(|p| p.inside_url.as_os_str()),
            proxy_socks_url: proxy.as_ref().and_then(|p| p.inside_socks_url.as_deref()),
        },
    );

    Plan {
        command,
        cwd,
        network: policy.network,
        proxy,
        backend: policy.backend,
        backend_why: "requested".into(),
        policy,
        env,
        trust,
        fs,
        violations: Vec::new(),
        hidden_command: None,
        warnings,
        private_dirs: facts.no_private_mounts.clone(),
        ids: facts.ids.clone(),
    }
}

/// Landlock moves HOME to a directory of its own, so a dot-directory the
/// user granted under the real HOME (`--read ~/.rustup`) is there by its
/// own path only: programs that look for it under $HOME do not find it,
/// where under bwrap it appears inside the private HOME. A project
/// (`~/proj`) is found by its path and is no concern. Said once per root;
/// presets and the MCP profile's roots are sandspawn's own and documented.
fn roots_left_under_home(policy: &Policy, home: &Path, private: &Path) -> Vec<String> {
    policy
        .read
        .iter()
        .chain(&policy.write)
        .filter(|r| !r.origin.starts_with("preset ") && !r.origin.starts_with("mcp profile"))
        .filter(|r| {
            r.path
                .strip_prefix(home)
                .ok()
                .and_then(|rel| rel.components().next())
                .is_some_and(|c| c.as_os_str().as_bytes().starts_with(b"."))
        })
        .filter(|r| !is_within(&r.path, private))
        // Already pointed at by a variable the user set (RUSTUP_HOME, an
        // entry of PATH): nothing left to say.
        .filter(|r| {
            !policy.env.set.iter().any(|(_, v)| {
                v.as_bytes()
                    .split(|&b| b == b':')
                    .any(|e| same_path(Path::new(OsStr::from_bytes(e)), &r.path))
            })
        })
        .map(|r| {
            format!(
                "landlock: HOME is {} (no private HOME without a mount namespace), so {} \
                 is reached by its own path only: a program that looks for it under $HOME \
                 does not find it; point the program at it (RUSTUP_HOME, CARGO_HOME, \
                 npm_config_cache… with --set), or use the bwrap backend",
                private.display(),
                r.path.display()
            )
        })
        .collect()
}

fn bundle_reason(role: TrustRole) -> String {
    let names: Vec<&str> = families::TRUST_VARS
        .iter()
        .filter(|v| v.role == role)
        .map(|v| v.name)
        .collect();
    let what = match role {
        TrustRole::Add => "trust extras bundle",
        _ => "trust bundle",
    };
    format!("{what} ({})", names.join(", "))
}

/// The first value of `name` in `env`, as getenv(3) would return it.
pub fn lookup<'a>(env: &'a [(OsString, OsString)], name: &str) -> Option<&'a OsStr> {
    env.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_os_str())
}
