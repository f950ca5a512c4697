//! The driver: the impure steps around the pure assembly. It reads the
//! policy file layers it is given, reads CA inputs and writes bundles (the
//! trust step), looks at which system roots exist, then assembles and
//! verifies.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::assemble::{assemble, lookup};
use super::fs::{Access, PathKind};
use super::private_run;
use super::trust_inputs::{key_holders, trust_inputs};
use super::Plan;
use crate::paths::{self, MemoResolver};
use crate::policy::{Backend, Layer, Policy, PolicyError, ResolveContext};
use crate::trust::{self, Limits, TrustError, TrustRequest};

/// Everything a plan is built from.
#[derive(Debug, Clone)]
pub struct Request {
    /// Program and arguments.
    pub command: Vec<OsString>,
    /// The child's working directory; relative to `parent_cwd`; default `parent_cwd`.
    pub cwd: Option<PathBuf>,
    /// The spawning process's working directory (absolute): relative CA
    /// paths in the parent's variables resolve here.
    pub parent_cwd: PathBuf,
    /// The parent's environment, as data.
    pub parent_env: Vec<(OsString, OsString)>,
    /// Policy layers in order (file, flags…); presets are pulled in by name.
    pub layers: Vec<Layer>,
    /// Where bundles are cached, absolute; default from XDG_CACHE_HOME or
    /// HOME.
    pub cache_dir: Option<PathBuf>,
    /// The filesystem root used to find the system CA store ("/").
    pub system_root: PathBuf,
}

/// Errors of [`build`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// The policy is invalid.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A CA input or the bundle cache failed.
    #[error(transparent)]
    Trust(#[from] TrustError),
    /// A root or protected path could not be identified (see `pins`).
    #[error(transparent)]
    Pin(#[from] super::pins::PinError),
    /// The working directory is unusable.
    #[error("working directory {path}: {problem}", path = .path.display())]
    Cwd {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        problem: String,
    },
    /// The parent's working directory is not absolute.
    #[error("the parent's working directory {:?} is not an absolute path (Request::parent_cwd, HostContext::parent_cwd); pass std::env::current_dir()", .0.display().to_string())]
    ParentCwd(PathBuf),
    /// The bundle cache directory given is not absolute.
    #[error("the trust bundle cache directory {:?} is not an absolute path (Request::cache_dir, HostContext::cache_dir)", .0.display().to_string())]
    RelativeCacheDir(PathBuf),
    /// No place for the bundle cache.
    #[error(
        "no cache directory for trust bundles: set XDG_CACHE_HOME or HOME to an absolute path"
    )]
    NoCacheDir,
    /// A protected path cannot be protected safely.
    #[error(transparent)]
    Protect(#[from] super::protect::ProtectError),
    /// A sandspawn-owned directory could not be made.
    #[error("creating {path}: {source}; set XDG_CACHE_HOME to a directory you own", path = .path.display())]
    PrivateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A stand-in for HOME or TMPDIR that others could reach.
    #[error("cache directory {path} {problem}; remove it or use another cache directory", path = .path.display())]
    UnsafePrivateDir {
        /// The directory.
        path: PathBuf,
        /// Why.
        problem: String,
    },
    /// A grant root leads through a link a sandbox could have planted.
    #[error(transparent)]
    GrantLink(#[from] Box<super::grant_links::GrantLinkError>),
    /// The look for keys beside a CA would hide the user's workspace.
    #[error(transparent)]
    BesideCa(#[from] super::BesideCaError),
    /// Network `proxy` without a usable upstream.
    #[error(transparent)]
    Proxy(#[from] super::ProxyError),
    /// No command given.
    #[error("no command given; write it after `--`, as in `sandspawn run -- CMD ARGS`")]
    NoCommand,
    /// A NUL byte in the command line (a config's `"\u0000"`): exec
    /// cannot pass one, and it failed only inside the sandbox stage,
    /// naming neither the argument nor the server.
    #[error("command argument {index} (`{shown}`) contains a NUL byte (shown as \\0), which no program argument can hold; remove it")]
    NulInCommand {
        /// Its position (0: the program).
        index: usize,
        /// The argument, the NUL shown as `\0`.
        shown: String,
    },
    /// HOME with a `..` that climbs out of a symlink (see
    /// [`paths::Readings`]).
    #[error(
        "HOME {home}: a `..` after the symlink {link} (-> {target}) climbs out of where it \
         leads, so it names {written} as written but {opened} as opened, and a link where a \
         sandbox could write may have been left there to move the denies under `~`; set HOME \
         without `..` (to the directory you mean)",
        home = .home.display(),
        link = .how.link.display(),
        target = .how.target.display(),
        written = .written.display(),
        opened = .how.opened.display()
    )]
    HomeDotDot {
        /// HOME as set.
        home: PathBuf,
        /// The symlink the `..` climbs out of, where it leads and where
        /// the path is opened (boxed: errors stay small).
        how: Box<crate::paths::Steered>,
        /// HOME read lexically.
        written: PathBuf,
    },
    /// Network `proxy` on the Landlock backend, which has no network
    /// namespace to hold the child to the bridge.
    #[error("the landlock backend cannot enforce network `proxy`: it needs a network namespace; \
             use the bwrap backend (`--backend bwrap`) or `--net full`{}",
            .auto_why.as_ref().map(|w| format!(" (--backend auto chose landlock: {w})")).unwrap_or_default())]
    LandlockProxy {
        /// Why `auto` fell back to Landlock, when it did.
        auto_why: Option<String>,
    },
}

/// Build and verify a plan.
pub fn build(req: &Request) -> Result<Plan, BuildError> {
    if req.command.is_empty() {
        return Err(BuildError::NoCommand);
    }
    if let Some((index, arg)) =
        (req.command.iter().enumerate()).find(|(_, a)| a.as_encoded_bytes().contains(&0))
    {
        return Err(BuildError::NulInCommand {
            index,
            shown: arg.to_string_lossy().replace('\0', "\\0"),
        });
    }
    check_parent_cwd(&req.parent_cwd)?;
    // A relative one was created under this process's cwd, then failed
    // its ownership check, with advice about XDG_CACHE_HOME.
    if let Some(dir) = req.cache_dir.as_ref().filter(|d| !d.is_absolute()) {
        return Err(BuildError::RelativeCacheDir(dir.clone()));
    }
    let cwd = match &req.cwd {
        Some(c) => paths::normalize(&req.parent_cwd.join(c)),
        None => req.parent_cwd.clone(),
    };
    let cwd_meta = match std::fs::metadata(&cwd) {
        Ok(m) if m.is_dir() => m,
        Ok(_) => return Err(cwd_error(cwd, "not a directory".into())),
        Err(e) => return Err(cwd_error(cwd, e.to_string())),
    };
    let home = lookup(&req.parent_env, "HOME")
        .map(Path::new)
        .filter(|h| h.is_absolute());
    // A `..` in HOME that climbs out of a link (HOME=/u/lnk/../me) names
    // two directories: the host's tools open one, the lexical path is the
    // other, and the link (in a directory an earlier sandbox could write)
    // decides where every deny under `~` lands. Neither can stand for it.
    if let Some(s) = home.and_then(paths::steered) {
        return Err(BuildError::HomeDotDot {
            home: home.map(Path::to_path_buf).unwrap_or_default(),
            written: home.map(paths::normalize).unwrap_or_default(),
            how: Box::new(s),
        });
    }
    let no_project = super::no_project::judge(&cwd, home);
    let ctx = ResolveContext { cwd: &cwd, home };
    let mut policy = Policy::resolve_with(&req.layers, &ctx, no_project.is_some())?;
    // First, before any check of where a root leads: what the checks
    // judge must be what is mounted, and a root replaced after this
    // (another sandbox writing the workspace) is refused at the start.
    let ids = super::pins::record(&policy, &cwd)?;
    // Before anything is read or made for the roots: where they lead is
    // only known once a planted link is ruled out.
    // A cwd that is no project is no place a sandbox is let to write
    // as a matter of course: HOME's own links stay the user's.
    let project = no_project.is_none().then_some(cwd.as_path());
    super::grant_links::check(&policy, project, &MemoResolver::default(), &|d| {
        nix::unistd::access(d, nix::unistd::AccessFlags::W_OK).is_ok()
    })?;

    let mut warnings = Vec::new();
    if let Some(why) = no_project {
        warnings.extend(super::no_project::warnings(&cwd, why, &policy));
    }
    let inputs = trust_inputs(req, &policy, &mut warnings);
    let cache_dir = match &req.cache_dir {
        Some(d) => d.clone(),
        None => trust::default_cache_dir(&req.parent_env).ok_or(BuildError::NoCacheDir)?,
    };
    let outcome_cache = cache_dir.clone();
    let outcome = trust::prepare(&TrustRequest {
        inputs,
        merge_system_roots: policy.trust.merge_system_roots,
        system_root: req.system_root.clone(),
        cache_dir,
        limits: Limits::default(),
    })?;
    warnings.extend(outcome.warnings.iter().cloned());
    policy.deny.extend(key_holders(&outcome));

    // `auto` is resolved here, before the plan is shaped: a private HOME
    // and /tmp need the mount namespace that only bwrap provides.
    let (backend, backend_why) = match policy.backend {
        Backend::Auto => sandspawn_linux::report::auto_choice(),
        requested => (requested, "requested".to_string()),
    };
    // Refused here, not only when run: `explain` and a library host would
    // otherwise be shown a plan that no backend starts.
    if backend == Backend::Landlock && policy.network == crate::policy::NetworkMode::Proxy {
        return Err(BuildError::LandlockProxy {
            auto_why: (policy.backend == Backend::Auto).then_some(backend_why),
        });
    }
    // Falling back is a degraded choice (no mount, pid or network
    // namespace), so it is said on every run, not only under --report;
    // choosing Landlock by name silences it.
    if policy.backend == Backend::Auto && backend == Backend::Landlock {
        warnings.push(format!(
            "--backend auto chose landlock: {backend_why}; it has no pid or network \
             namespace and leaves host daemons' Unix sockets (docker.sock, an ssh or gpg \
             agent) connectable; pass --backend landlock (or backend = \"landlock\") to \
             choose it knowingly, or see `sandspawn doctor`"
        ));
    }
    let proc_dir = Path::new("/proc");
    if backend == Backend::Bwrap {
        // The sandbox's /proc is a fresh one: the host's /proc/N is not
        // there to start in (bwrap would fail with "Can't mkdir /proc/N").
        if paths::is_within(&cwd, proc_dir) && cwd != proc_dir {
            return Err(cwd_error(
                cwd,
                "inside /proc, which the bwrap sandbox replaces with its own; \
                 run from another directory, or use --backend landlock"
                    .into(),
            ));
        }
        if let Some(mode) = unsearchable(&cwd_meta) {
            return Err(cwd_error(
                cwd,
                format!(
                    "not searchable (mode {mode:o}), so the sandbox cannot start in it; \
                     chmod u+x it or run from another directory"
                ),
            ));
        }
    }
    // Landlock: each sandbox gets a HOME and TMPDIR of its own, named here
    // and made when it starts; those whose owner is gone are removed first
    // (see `private_run`). Landlock sandboxes' directories stay hidden from
    // every sandbox, on either backend, whatever grant covers the cache (a
    // bwrap `--read ~` would otherwise read a live Landlock sandbox's HOME).
    let run = cache_root(&outcome_cache)?.join(private_run::RUN_DIR);
    let (run, private) = match backend {
        Backend::Landlock => {
            let run = super::own_dirs::make_private_dir(&run)?;
            warnings.extend(private_run::sweep(&run));
            let private = private_run::name_fresh(&run);
            (run, Some(private))
        }
        // Made here too when it can be: a deny of a missing path mounts
        // nothing, and a bwrap `--read ~` started before the first
        // Landlock run would see, through its live bind, the directories
        // Landlock sandboxes make later. (One that cannot be made cannot
        // be made by a Landlock plan either.)
        _ => (super::own_dirs::make_private_dir(&run).unwrap_or(run), None),
    };
    // Those of the other default cache root too: runs of another
    // environment (an MCP client's servers given HOME alone, a shell's
    // XDG_CACHE_HOME) keep their sandboxes' HOME and TMPDIR there.
    // Made when their cache root exists, as above: a live bind would show
    // what a later Landlock plan makes there.
    let other_runs: Vec<PathBuf> = (super::own_dirs::default_cache_roots(&req.parent_env)
        .into_iter())
    .filter(|root| root.is_dir())
    .map(|root| root.join(private_run::RUN_DIR))
    .filter(|other| *other != run)
    .map(|other| super::own_dirs::make_private_dir(&other).unwrap_or(other))
    .collect();
    for path in std::iter::once(run).chain(other_runs) {
        policy.deny.push(crate::policy::PathRule {
            path,
            origin: "landlock sandboxes' HOME and TMPDIR".into(),
        });
    }
    let (legacy, said) = private_run::sweep_legacy(&cache_root(&outcome_cache)?);
    warnings.extend(said);
    policy
        .deny
        .extend(legacy.into_iter().map(|path| crate::policy::PathRule {
            path,
            origin: "an older sandspawn's shared Landlock HOME and TMPDIR".into(),
        }));
    // One memo for every symlink walk of this build: the deny list's paths
    // share their parents (HOME's, /etc), each walked once instead of once
    // per path.
    let resolver = MemoResolver::default();
    let own_dirs: Vec<PathBuf> = std::iter::once(cache_root(&outcome_cache)?)
        .chain(
            crate::mcp::hostenv::user_config_path(&req.parent_env)
                .and_then(|c| c.parent().map(Path::to_path_buf)),
        )
        .chain(super::own_dirs::default_own_dirs(&req.parent_env))
        .collect();
    let beside = super::beside_ca::for_plan(&outcome, &policy, &cwd, &resolver, &mut warnings)?;
    policy.deny.extend(beside);
    // Last of the denies' sources (the policy's, key holders, sandboxes'
    // directories, keys beside CA inputs): a root leading through a link
    // into any of them must be seen, and one added after this check was
    // not (`out -> proxy/ca-key.pem` read the key of a CA directory that
    // the scan hid whole).
    let through_links = super::deny_links::denies(&policy, &own_dirs, &resolver, &mut warnings);
    policy.deny.extend(through_links);
    let mut facts = super::probe::probe_host(&policy, &resolver, &mut warnings);
    facts.ids = ids;
    super::pins::add_resolved(&mut facts.ids, &facts.aliases)?;
    facts.no_private_mounts = private;
    if policy.network == crate::policy::NetworkMode::Proxy {
        facts.proxy = Some(super::upstream::choose(
            policy
                .proxy
                .as_deref()
                .map(|p| (p, policy.proxy_origin.as_str())),
            &policy.env.set,
            &req.parent_env,
        )?);
    }
    // A root written through a symlink is writable by its real path too
    // (see `assemble`): protect under both.
    let writable: Vec<PathBuf> = policy
        .write
        .iter()
        .flat_map(|r| {
            let resolved = facts.aliases.get(&r.path).map(|a| a.resolved.clone());
            std::iter::once(r.path.clone()).chain(resolved)
        })
        .collect();
    // A deny at or below the writable root hides what it covers: a
    // protected path there must stay hidden, not come back read-only
    // (`--write ws --deny ws` showed ws/.git).
    let denied: Vec<PathBuf> = (policy.deny.iter())
        .flat_map(|r| {
            let resolved = facts.aliases.get(&r.path).map(|a| a.resolved.clone());
            std::iter::once(r.path.clone()).chain(resolved)
        })
        .collect();
    let decided_writable = |p: &Path| paths::granted_past_denies(&writable, &denied, p);
    // By its real path too: under a root written through a link, a deny
    // of the link's target hides it there.
    let shown_writable = |p: &Path| {
        decided_writable(p)
            && std::fs::canonicalize(p).map_or(true, |real| real == p || decided_writable(&real))
    };
    facts.protected = super::protect::probe(&writable, &mut facts.ids)?;
    facts.protected.retain(|p| shown_writable(p));
    // Deny or not: a hidden input is still read for the bundle (see
    // `hidden_ca` below). The system roots stay read-only binds under a
    // shallower writable root (`--write /`): the system store and the
    // hashed links of /etc/ssl/certs need nothing more there.
    let system: Vec<PathBuf> = (facts.system_roots.iter())
        .map(|r| r.path().to_path_buf())
        .collect();
    let deepest = |list: &[PathBuf], p: &Path| {
        (list.iter())
            .filter(|r| paths::is_within(p, r))
            .map(|r| paths::depth(r))
            .max()
    };
    // Here the writable root wins at equal depth (`--write /usr`).
    let under_writable = |p: &Path| match (deepest(&writable, p), deepest(&system, p)) {
        (Some(w), Some(s)) => w >= s,
        (w, _) => w.is_some(),
    };
    // A link the child can retarget: inside a writable root it is shown,
    // and not a root itself unless its parent is writable too; and its
    // directory is one this user may write (`--write /` does not let an
    // unprivileged child replace the root-owned /home -> var/home).
    let writable_at = |a: &Path| decided_writable(a) && under_writable(a);
    let replaceable = |a: &Path| {
        writable_at(a)
            && (!writable.iter().any(|w| w.as_path() == a) || a.parent().is_some_and(writable_at))
            && std::fs::symlink_metadata(a).is_ok_and(|m| m.file_type().is_symlink())
            && a.parent()
                .is_some_and(|p| nix::unistd::access(p, nix::unistd::AccessFlags::W_OK).is_ok())
    };
    // What git on the host runs or reads for a repository there, where
    // it lies outside `.git` (a hooks path, an included config file).
    let git = super::protect_git::targets(
        &writable,
        home,
        &facts.protected,
        &|p| shown_writable(p) && under_writable(p),
        &replaceable,
        &resolver,
    )?;
    for p in git {
        if !facts.protected.contains(&p) {
            facts.protected.push(p);
        }
    }
    // sandspawn's own state, as named, as opened and where it really is:
    // a writable root may hold any of them.
    let own_at =
        |raw: &[PathBuf]| super::protect::own_paths(raw, &shown_writable, &replaceable, &resolver);
    let own_dirs = own_at(&own_dirs)?;
    let sources = own_at(
        &(req.layers.iter())
            .filter_map(|l| l.source.as_deref())
            .map(|s| req.parent_cwd.join(s))
            .collect::<Vec<_>>(),
    )?;
    let ca_inputs = super::protect_ca::inputs_of(&outcome);
    let (ca_paths, hidden_ca): (Vec<PathBuf>, Vec<PathBuf>) = super::protect_ca::ca_inputs(
        &ca_inputs,
        &writable,
        &under_writable,
        &resolver,
        &mut warnings,
    )?
    .into_iter()
    .partition(|p| shown_writable(p));
    warnings.extend(super::protect_ca::roots_kept(&ca_paths, &writable));
    let own_protected = super::protect::own_state(&own_dirs, &sources, &writable)?;
    // A CA directory's files are inputs too, each under the directory's
    // protection.
    let ca_dirs: Vec<PathBuf> = ca_paths.iter().filter(|p| p.is_dir()).cloned().collect();
    for p in own_protected.into_iter().chain(ca_paths) {
        if !facts.protected.contains(&p) {
            facts.protected.push(p);
        }
    }
    super::protect::single_named(&facts.protected, &ca_dirs)?;
    super::pins::add_protected(&mut facts.ids, &facts.protected)?;
    let with_proxy = super::upstream::outside_proxy_mode(&policy, &req.parent_env, &mut warnings);
    let mut plan = assemble(
        req.command.clone(),
        cwd,
        policy,
        with_proxy.as_deref().unwrap_or(&req.parent_env),
        outcome,
        &facts,
    );
    plan.backend = backend;
    plan.backend_why = backend_why;
    super::protect_ca::keep_masks_in_place(&mut plan, &hidden_ca);
    // Before Landlock drops hidden PATH entries: a program found only in
    // one of them is named the same way on both backends.
    let (hidden, shadowed) = super::reach::command(&plan);
    plan.hidden_command = hidden;
    plan.warnings.extend(shadowed);
    if backend == Backend::Landlock {
        hide_search_path_entries(&mut plan);
    }
    if backend == Backend::Bwrap {
        // bwrap binds none of them (see `sandspawn_linux::bwrap`): say so
        // rather than let explain promise the host's.
        for e in plan.fs.entries.iter().filter(|e| {
            matches!(e.access, Access::Read | Access::Write) && paths::is_within(&e.path, proc_dir)
        }) {
            warnings.push(format!(
                "{}: the sandbox's own /proc stands in for the host's (bwrap backend)",
                e.path.display()
            ));
        }
        for e in plan.fs.entries.iter().filter(|e| {
            matches!(e.access, Access::Read | Access::Write)
                && e.kind != Some(PathKind::Missing)
                && sandspawn_linux::bwrap::binds_private_dev(&sandspawn_linux::Mount::ReadOnly {
                    path: e.path.clone(),
                })
        }) {
            warnings.push(format!(
                "{}: the sandbox's own /dev stands in for the host's (bwrap backend)",
                e.path.display()
            ));
        }
    }
    warnings.append(&mut plan.env.warnings.clone());
    warnings.append(&mut plan.warnings);
    plan.warnings = warnings;
    plan.verify(&resolver);
    Ok(plan)
}

/// `…/sandspawn`, the parent of the trust cache.
fn cache_root(trust_cache: &Path) -> Result<PathBuf, BuildError> {
    trust_cache
        .parent()
        .map(Path::to_path_buf)
        .ok_or(BuildError::NoCacheDir)
}

/// The mode of a directory that bwrap's sandbox (our uid, no capabilities,
/// so not even root's override) cannot enter. Only what no ACL can change:
/// the owner's own x bit, or no x bit at all (an ACL's mask sits in the
/// group bits).
fn unsearchable(meta: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let mode = meta.mode() & 0o7777;
    let owner = meta.uid() == nix::unistd::geteuid().as_raw();
    ((owner && mode & 0o100 == 0) || mode & 0o111 == 0).then_some(mode)
}

/// Relative paths (`cwd`, CA files in the parent's variables) resolve
/// against `parent_cwd`: a relative one would resolve against this
/// process's own directory instead, and an empty one (a defaulted field)
/// normalizes to `/`, so the server silently ran in `/`.
pub(crate) fn check_parent_cwd(parent_cwd: &Path) -> Result<(), BuildError> {
    if parent_cwd.is_absolute() {
        Ok(())
    } else {
        Err(BuildError::ParentCwd(parent_cwd.to_path_buf()))
    }
}

fn cwd_error(path: PathBuf, problem: String) -> BuildError {
    BuildError::Cwd { path, problem }
}

/// Landlock: the parent's PATH loses the directories the sandbox hides (see
/// `search_path`); a PATH the user set is theirs and stays as written.
fn hide_search_path_entries(plan: &mut Plan) {
    let fs = &plan.fs;
    let Some(var) = plan
        .env
        .vars
        .iter_mut()
        .find(|v| v.name == "PATH" && v.source == crate::env::Source::Base)
    else {
        return;
    };
    if let Some(value) =
        super::search_path::visible_entries(&var.value, fs, |p| std::fs::canonicalize(p).ok())
    {
        var.value = value;
        var.source = crate::env::Source::Sandbox;
    }
}
