//! The MCP plan driver: the default MCP profile, the server's config entry,
//! the user config and recovered host variables, folded into one plan
//! request and built by [`crate::plan::build`].

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use super::hostenv::{self, Recovered};
use super::profile::{launcher_paths, HostProbe};
use crate::plan::{self, lookup, BuildError, Plan, Request};
use crate::policy::{Layer, PolicyError, PolicyFile};

/// Errors of [`plan_server`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum McpPlanError {
    /// The user config or a policy layer is invalid.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// Building the plan failed.
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// One server to start, in the client-neutral shape.
#[derive(Debug, Clone, Default)]
pub struct ServerLaunch {
    /// The server's name (the client config's key, `--server NAME`): with
    /// [`ServerLaunch::config`] it keys the server's own launcher caches;
    /// without a config, the name alone does (a library host's names are
    /// its own namespace); without a name, the command line does (see
    /// [`super::caches::cache_key`]).
    pub name: Option<String>,
    /// Program and arguments.
    pub command: Vec<OsString>,
    /// Working directory (relative to the host's).
    pub cwd: Option<PathBuf>,
    /// Literal variables; they win over inherited ones.
    pub env: Vec<(OsString, OsString)>,
    /// Names passed from the host's environment.
    pub env_vars: Vec<OsString>,
    /// The per-server sandbox table.
    pub sandbox: Option<PolicyFile>,
    /// Labels policy origins ("server time in ~/.codex/config.toml").
    pub origin: String,
    /// Warnings about the entry itself, printed before the plan's own.
    pub notes: Vec<String>,
    /// The client config the entry came from: it is this server's policy,
    /// so it stays read-only when a writable root holds it; its real path
    /// is part of the key of the server's launcher caches.
    pub config: Option<PathBuf>,
}

/// Where the server is started from.
#[derive(Debug, Clone, Default)]
pub struct HostContext {
    /// The starting process's environment, as data.
    pub parent_env: Vec<(OsString, OsString)>,
    /// Its working directory: absolute (relative paths of the launch and
    /// of CA variables resolve here); anything else is refused with
    /// [`BuildError::ParentCwd`].
    pub parent_cwd: PathBuf,
    /// Recover trust and proxy variables from the MCP host process (the
    /// parent of this process). For `sandspawn mcp`, not for a library host.
    pub recover_host_env: bool,
    /// Read the user config (`$XDG_CONFIG_HOME/sandspawn/config.toml`).
    pub user_config: bool,
    /// The proxy URL given for this launch (`--proxy`): the upstream under
    /// network `proxy`, HTTPS_PROXY and HTTP_PROXY (replacing the parent's)
    /// under `full`.
    pub proxy: Option<OsString>,
    /// Highest-priority layers (command-line flags).
    pub layers: Vec<Layer>,
    /// Bundle cache directory, absolute (default from XDG_CACHE_HOME or
    /// HOME). Its parent holds the servers' own launcher caches too
    /// (`mcp/<key>`, see [`super::caches`]).
    pub cache_dir: Option<PathBuf>,
}

/// A built plan and where its host-side inputs came from.
#[derive(Debug, Clone)]
pub struct McpPlan {
    /// The plan.
    pub plan: Plan,
    /// Variables recovered from the host process.
    pub recovered: Recovered,
    /// The user config file that was read, if it exists.
    pub user_config: Option<PathBuf>,
}

/// Build the plan for one server under the default MCP profile.
pub fn plan_server(launch: &ServerLaunch, ctx: &HostContext) -> Result<McpPlan, McpPlanError> {
    let recovered = if ctx.recover_host_env {
        hostenv::recover_from_parent(&ctx.parent_env)
    } else {
        Recovered::default()
    };
    plan_with_recovered(launch, ctx, recovered)
}

/// [`plan_server`] with the host process's variables already recovered
/// (how they were read is the caller's business; tests pass them as data).
/// The plan marks what they provided as coming from that process.
pub fn plan_with_recovered(
    launch: &ServerLaunch,
    ctx: &HostContext,
    recovered: Recovered,
) -> Result<McpPlan, McpPlanError> {
    // Before the cwd is derived from it (and the user config read).
    plan::check_parent_cwd(&ctx.parent_cwd)?;
    let mut env = ctx.parent_env.clone();
    env.extend(recovered.vars.iter().cloned());

    let mut layers = vec![Layer {
        origin: "mcp profile".into(),
        presets: vec!["mcp".into()],
        ..Layer::default()
    }];
    let mut user_config = None;
    let mut config_proxy = (None, None);
    if ctx.user_config {
        if let Some(path) = hostenv::user_config_path(&env) {
            let config = hostenv::read_user_config(&path)?;
            if path.exists() {
                layers.push(config.layer(&path));
                config_proxy = (
                    config.proxy.map(OsString::from),
                    config.no_proxy.map(OsString::from),
                );
                user_config = Some(path);
            }
        }
    }
    let proxy = ctx.proxy.clone().or(config_proxy.0);
    let added = hostenv::proxy_vars(proxy.as_deref(), config_proxy.1.as_deref(), &env);
    env.extend(added);

    let home = lookup(&env, "HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_absolute());
    let cwd = match &launch.cwd {
        Some(c) => crate::paths::normalize(&ctx.parent_cwd.join(c)),
        None => ctx.parent_cwd.clone(),
    };
    // Clients start servers from `/` (Claude Desktop) or HOME; the profile's
    // "working directory readable" would then be the whole filesystem or
    // all of HOME. Such a directory is no project: it is not granted.
    let mut warnings = Vec::new();
    if let Some(why) = crate::plan::no_project::judge(&cwd, home.as_deref()) {
        layers[0].presets = vec![crate::policy::MCP_NO_CWD.into()];
        warnings.push(format!(
            "working directory {} is not made readable (it {why}; a server gets its launcher, caches and what its sandbox table grants); give the server a `cwd`, or `read` what it needs",
            cwd.display()
        ));
    }
    let launcher_at = layers.len();
    layers.push(Layer {
        origin: format!("{}: env, env_vars", launch.origin),
        source: launch.config.clone(),
        pass: launch.env_vars.clone(),
        set: launch.env.clone(),
        ..Layer::default()
    });
    if let Some(sandbox) = &launch.sandbox {
        layers.push(
            sandbox
                .clone()
                .into_layer(format!("{}: sandbox", launch.origin)),
        );
    }
    // `proxy` is the caller's `--proxy`: a layer of its own, so that the
    // plan hands it on as the flag's (under network `full` it replaces the
    // parent's HTTP(S)_PROXY, said) and not as an inherited variable that
    // loses to the host's; flags given as layers still win.
    if let Some(proxy) = &ctx.proxy {
        layers.push(Layer {
            origin: "command line".into(),
            proxy: Some(proxy.clone()),
            ..Layer::default()
        });
    }
    layers.extend(ctx.layers.iter().cloned());
    // The PATH the child gets: the last layer that sets it (the entry's
    // `env`, its sandbox table, `--set`, the user config), else the
    // parent's. Resolving on another PATH granted one program while the
    // child ran another: a later one on PATH that the view shows.
    let path_var: Option<OsString> = (layers.iter().rev())
        .find_map(|l| l.set.iter().rev().find(|(n, _)| n == "PATH"))
        .map(|(_, v)| v.clone())
        .or_else(|| lookup(&env, "PATH").map(OsStr::to_os_string));
    let launcher = launcher_paths(
        &launch.command,
        path_var.as_deref(),
        &cwd,
        home.as_deref(),
        &HostProbe,
    );
    layers.insert(
        launcher_at,
        Layer {
            origin: "mcp profile: the server's launcher".into(),
            read: launcher.read.iter().map(|(p, _)| p.clone()).collect(),
            set: launcher.set.clone(),
            ..Layer::default()
        },
    );
    // `mcp check` prints the warnings of all a config's servers together:
    // one about the entry says whose it is.
    let whose = match launch.origin.as_str() {
        "" | "command line" => String::new(),
        origin => format!("{origin}: "),
    };
    let missing = (launch.command.first())
        .and_then(|p| super::profile::missing_program(p, path_var.as_deref(), &cwd, &HostProbe));
    warnings.extend(missing.map(|w| format!("{whose}{w}")));
    let profile_set = launcher_caches(launch, ctx, &env, &mut layers, launcher_at, &cwd)?;
    offline_launchers(&mut layers, launcher_at, &cwd, home.as_deref());

    let mut plan = plan::build(&Request {
        command: launch.command.clone(),
        cwd: Some(cwd),
        parent_cwd: ctx.parent_cwd.clone(),
        parent_env: env,
        layers,
        cache_dir: ctx.cache_dir.clone(),
        system_root: PathBuf::from("/"),
    })?;
    // Before the caches' check, which tells the profile's own from others.
    plan.env.mark_profile(&profile_set);
    warnings.extend(
        super::hidden::data_paths(&plan, &launch.env, home.as_deref())
            .into_iter()
            .map(|w| format!("{whose}{w}")),
    );
    let caches = super::caches::unwritable(&plan, &warnings);
    warnings.extend(caches.into_iter().map(|w| format!("{whose}{w}")));
    plan.warnings
        .splice(0..0, launch.notes.iter().cloned().chain(warnings));
    if let Some(pid) = recovered.pid {
        let names: Vec<OsString> = recovered.vars.iter().map(|(n, _)| n.clone()).collect();
        plan.env.mark_from_host(pid, &names);
    }
    Ok(McpPlan {
        plan,
        recovered,
        user_config,
    })
}

/// Under network `none`, npx and uvx still ask their registry first: npx
/// retries for about a minute before it falls back to its cache (past every
/// client's startup timeout), uvx fails outright. Told to stay offline, both
/// start at once from their caches, or fail at once saying the package is
/// not cached. The layer goes right after the launcher's, so the entry's
/// `env`, its sandbox table and flags can still set them otherwise.
fn offline_launchers(layers: &mut Vec<Layer>, after: usize, cwd: &Path, home: Option<&Path>) {
    let ctx = crate::policy::ResolveContext { cwd, home };
    // An invalid policy fails the build itself, with its own message.
    let Ok(policy) = crate::policy::Policy::resolve(layers, &ctx) else {
        return;
    };
    if policy.network != crate::policy::NetworkMode::None {
        return;
    }
    let layer = Layer {
        origin: "mcp profile: network none, launchers offline".into(),
        set: OFFLINE_VARS
            .iter()
            .map(|(n, v)| (OsString::from(n), OsString::from(v)))
            .collect(),
        ..Layer::default()
    };
    layers.insert((after + 1).min(layers.len()), layer);
}

/// What keeps npm (npx) and uv (uvx) off the network.
pub const OFFLINE_VARS: &[(&str, &str)] = &[("npm_config_offline", "true"), ("UV_OFFLINE", "1")];

/// The server's own launcher caches (see [`super::caches`]), as a layer
/// right after the launcher's. A variable the other layers give a value
/// (the entry's `env`, `--set`, the user config, a `pass`) is theirs: that
/// cache is neither created nor granted. Returns the variables the layer
/// sets, to mark them as the profile's.
fn launcher_caches(
    launch: &ServerLaunch,
    ctx: &HostContext,
    env: &[(OsString, OsString)],
    layers: &mut Vec<Layer>,
    after: usize,
    cwd: &Path,
) -> Result<Vec<(OsString, OsString)>, McpPlanError> {
    let home = lookup(env, "HOME")
        .map(Path::new)
        .filter(|h| h.is_absolute());
    let rctx = crate::policy::ResolveContext { cwd, home };
    // An invalid policy fails the build itself, with its own message.
    let Ok(policy) = crate::policy::Policy::resolve(layers, &rctx) else {
        return Ok(Vec::new());
    };
    let wanted: Vec<&(&str, &str)> = (super::caches::CACHE_VARS.iter())
        .filter(|(var, _)| !super::caches::given(&policy, env, var))
        .collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    // Beside the trust cache, as the build will place it.
    let trust_cache = match &ctx.cache_dir {
        Some(d) => d.clone(),
        None => crate::trust::default_cache_dir(env).ok_or(BuildError::NoCacheDir)?,
    };
    if !trust_cache.is_absolute() {
        return Err(BuildError::RelativeCacheDir(trust_cache).into());
    }
    let root = trust_cache.parent().ok_or(BuildError::NoCacheDir)?;
    // Keyed by the file the entry came from too: a repository's
    // `.mcp.json` naming its server as the user's own is another server.
    let config =
        (launch.config.as_deref()).map(|c| super::caches::config_identity(c, &ctx.parent_cwd));
    let key = super::caches::cache_key(launch.name.as_deref(), config.as_deref(), &launch.command);
    let layer = super::caches::layer(root, &key, &wanted)?;
    let set = layer.set.clone();
    layers.insert((after + 1).min(layers.len()), layer);
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A library host names its server: the caches are keyed by the name,
    /// beside the trust cache it chose, and marked as the profile's.
    #[test]
    fn a_library_host_s_server_name_keys_its_caches_beside_its_cache_dir() {
        let tmp = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::create_dir(base.join("home")).unwrap();
        let ctx = HostContext {
            parent_env: vec![
                ("HOME".into(), base.join("home").into()),
                ("PATH".into(), "/usr/bin:/bin".into()),
            ],
            parent_cwd: base.clone(),
            cache_dir: Some(base.join("state/sandspawn/trust")),
            ..HostContext::default()
        };
        let launch = ServerLaunch {
            name: Some("notes".into()),
            command: vec!["true".into()],
            ..ServerLaunch::default()
        };
        let plan = plan_server(&launch, &ctx).unwrap().plan;
        let dir = base.join("state/sandspawn/mcp/notes");
        for (var, sub) in super::super::caches::CACHE_VARS {
            let v = plan.env.vars.iter().find(|v| v.name == *var).unwrap();
            assert_eq!(v.value, dir.join(sub).into_os_string(), "{var}");
            assert_eq!(v.source, crate::env::Source::McpProfile, "{var}");
            let e = plan.fs.entries.iter().find(|e| e.path == dir.join(sub));
            assert_eq!(
                e.map(|e| (&e.access, e.reason.as_str())),
                Some((&crate::plan::Access::Write, super::super::caches::ORIGIN)),
                "{sub}"
            );
        }
        // Nothing of the host's HOME is writable.
        let home = base.join("home");
        assert!(!plan
            .fs
            .entries
            .iter()
            .any(|e| e.access == crate::plan::Access::Write && e.path.starts_with(&home)));
        // With the config file it came from, relative to the host's cwd:
        // keyed by the name and the file's real path.
        std::fs::write(base.join("servers.toml"), "").unwrap();
        let launch = ServerLaunch {
            config: Some("servers.toml".into()),
            ..launch
        };
        let plan = plan_server(&launch, &ctx).unwrap().plan;
        let key =
            super::super::caches::cache_key(Some("notes"), Some(&base.join("servers.toml")), &[]);
        assert!(key.starts_with("notes@"), "{key}");
        let v = (plan.env.vars.iter()).find(|v| v.name == "UV_TOOL_DIR");
        let want = base.join("state/sandspawn/mcp").join(key).join("uv-tools");
        assert_eq!(v.map(|v| &v.value), Some(&want.into_os_string()));
    }

    #[test]
    fn a_host_context_without_an_absolute_cwd_is_refused() {
        // `HostContext { parent_env, ..Default::default() }` planned the
        // server in `/` with a warning about an empty directory, and a
        // relative cwd was joined twice ("working directory docs/docs").
        for parent in ["", "docs"] {
            let ctx = HostContext {
                parent_env: vec![("HOME".into(), "/nonexistent-home".into())],
                parent_cwd: parent.into(),
                ..HostContext::default()
            };
            let launch = ServerLaunch {
                command: vec!["true".into()],
                ..ServerLaunch::default()
            };
            let err = plan_server(&launch, &ctx).unwrap_err();
            assert!(
                matches!(&err, McpPlanError::Build(BuildError::ParentCwd(p)) if p == Path::new(parent)),
                "{err}"
            );
        }
    }

    /// A cache variable the entry gives a directory the server may read
    /// but not write: no cache of the profile's, and npm and uv failed
    /// inside with EROFS/ENOENT alone. Named before start; none once the
    /// directory is granted writable.
    #[test]
    fn an_entry_s_cache_variable_the_server_cannot_write_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::create_dir_all(base.join("home")).unwrap();
        std::fs::create_dir_all(base.join("proj/.npmc")).unwrap();
        let proj = base.join("proj");
        let ctx = |layers: Vec<Layer>| HostContext {
            parent_env: vec![
                ("HOME".into(), base.join("home").into()),
                ("PATH".into(), "/usr/bin:/bin".into()),
            ],
            parent_cwd: proj.clone(),
            cache_dir: Some(base.join("state/sandspawn/trust")),
            layers,
            ..HostContext::default()
        };
        let launch = ServerLaunch {
            name: Some("notes".into()),
            command: vec!["true".into()],
            env: vec![
                ("NPM_CONFIG_CACHE".into(), proj.join(".npmc").into()),
                ("UV_CACHE_DIR".into(), ".uvc".into()),
            ],
            ..ServerLaunch::default()
        };
        let plan = plan_server(&launch, &ctx(Vec::new())).unwrap().plan;
        let cache_lines: Vec<&String> = (plan.warnings.iter())
            .filter(|w| w.contains("not writable in the sandbox"))
            .collect();
        let npmc = proj.join(".npmc");
        let uvc = proj.join(".uvc");
        assert_eq!(
            cache_lines,
            [
                &format!(
                    "NPM_CONFIG_CACHE={} is not writable in the sandbox, and as it is given, \
                     the server's own cache is not used: npm cannot write its cache there and \
                     the server may fail to start; grant it with `--write {}` (`write` in the \
                     server's sandbox table), or drop the variable",
                    npmc.display(),
                    npmc.display()
                ),
                &format!(
                    "UV_CACHE_DIR=.uvc is not writable in the sandbox, and as it is given, \
                     the server's own cache is not used: uv cannot write its cache there and \
                     the server may fail to start; grant it with `--write {}` (`write` in the \
                     server's sandbox table), or drop the variable",
                    uvc.display()
                ),
            ]
        );
        // The profile's own caches are writable: never named.
        assert!(!plan.warnings.iter().any(|w| w.contains("UV_TOOL_DIR")));
        let granted = Layer {
            origin: "test".into(),
            write: vec![proj.clone()],
            ..Layer::default()
        };
        let plan = plan_server(&launch, &ctx(vec![granted])).unwrap().plan;
        assert!(
            !plan.warnings.iter().any(|w| w.contains("not writable")),
            "{:?}",
            plan.warnings
        );
    }

    /// `--set PATH=…` (or a sandbox table's) puts nvm's node first: the
    /// launcher is resolved on that PATH, as the child searches it. It was
    /// resolved on the parent's, which granted /usr/bin's node while the
    /// child's search skipped the hidden nvm one and ran that instead.
    #[test]
    fn the_launcher_is_resolved_on_the_path_the_child_gets() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let base = std::fs::canonicalize(tmp.path()).unwrap();
        let home = base.join("home");
        let nvm = home.join(".nvm/versions/node/v20.0.0");
        std::fs::create_dir_all(nvm.join("bin")).unwrap();
        std::fs::create_dir_all(base.join("proj")).unwrap();
        std::fs::create_dir_all(base.join("usr/bin")).unwrap();
        for node in [nvm.join("bin/node"), base.join("usr/bin/node")] {
            std::fs::write(&node, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&node, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let child_path = format!("{}:/usr/bin:/bin", nvm.join("bin").display());
        let ctx = HostContext {
            parent_env: vec![
                ("HOME".into(), home.clone().into()),
                ("PATH".into(), base.join("usr/bin").into()),
            ],
            parent_cwd: base.join("proj"),
            cache_dir: Some(base.join("state/sandspawn/trust")),
            layers: vec![Layer {
                origin: "--set".into(),
                set: vec![("PATH".into(), child_path.into())],
                ..Layer::default()
            }],
            ..HostContext::default()
        };
        let launch = ServerLaunch {
            name: Some("n".into()),
            command: vec!["node".into()],
            ..ServerLaunch::default()
        };
        let plan = plan_server(&launch, &ctx).unwrap().plan;
        // Granted from the host (not just inside the private /tmp the
        // test's directory sits under).
        let nvm_node = nvm.join("bin/node");
        let decided = plan.fs.decide(&nvm_node).map(|e| &e.access);
        assert_eq!(decided, Some(&crate::plan::Access::Read), "{:?}", plan.fs);
        assert_eq!(plan.hidden_command, None);
    }
}
