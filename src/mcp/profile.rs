//! The launcher part of the default MCP profile: which installation
//! prefixes the server's command needs readable.
//!
//! The command is resolved on the *child's* PATH, every symlink hop is
//! followed, and for each hop the installation prefix is taken (the parent
//! of a `bin`, `sbin` or `shims` directory, e.g. `~/.pyenv/versions/3.11.7`
//! or `~/.nvm/versions/node/v20.11.0`). A script's `#!` interpreter is
//! resolved the same way, and an interpreter's script argument (`node
//! path/server.js`) makes its package root readable. Nothing else of the
//! home directory is granted, and nothing is ever listed or scanned: only
//! the files the command names are looked at.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use crate::paths::{is_within, normalize};
use crate::plan::SYSTEM_ROOTS;

/// How the profile looks at the host (a map in tests).
pub trait Probe {
    /// The target of `path` if it is a symlink.
    fn read_link(&self, path: &Path) -> Option<PathBuf>;
    /// Whether `path` is an existing regular file (after symlinks).
    fn is_file(&self, path: &Path) -> bool;
    /// The first line of `path` if it starts with `#!` (at most 256 bytes).
    fn shebang(&self, path: &Path) -> Option<Vec<u8>>;
}

/// The real filesystem.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostProbe;

impl Probe for HostProbe {
    fn read_link(&self, path: &Path) -> Option<PathBuf> {
        std::fs::read_link(path).ok()
    }
    fn is_file(&self, path: &Path) -> bool {
        std::fs::metadata(path).is_ok_and(|m| m.is_file())
    }
    fn shebang(&self, path: &Path) -> Option<Vec<u8>> {
        // A regular file only, opened without waiting: the command named
        // in a workspace a sandbox could write may be a FIFO by now, and
        // a blocking open hung `sandspawn mcp` (exec refuses it anyway).
        let (head, _) = crate::readfile::read_regular(path, 256, true).ok()?;
        let n = head.len();
        if !head.starts_with(b"#!") {
            return None;
        }
        let end = head.iter().position(|&b| b == b'\n').unwrap_or(n);
        head.get(2..end).map(<[u8]>::to_vec)
    }
}

/// What the launcher needs, as policy additions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LauncherPaths {
    /// The program as resolved on the child's PATH (first hop).
    pub program: Option<PathBuf>,
    /// Roots to make readable, each with why.
    pub read: Vec<(PathBuf, String)>,
    /// Variables the launcher needs (PYENV_ROOT for a pyenv shim).
    pub set: Vec<(OsString, OsString)>,
}

/// Interpreters whose first non-option argument is a script path.
const INTERPRETERS: &[&str] = &["node", "nodejs", "python", "python3", "deno", "bun", "ruby"];

/// Work out the launcher's paths for `command`, run in `cwd` with the
/// child's `path_var`. `home` guards against granting the home directory
/// itself (or `~/.local`) as a prefix.
pub fn launcher_paths(
    command: &[OsString],
    path_var: Option<&OsStr>,
    cwd: &Path,
    home: Option<&Path>,
    probe: &dyn Probe,
) -> LauncherPaths {
    let mut out = LauncherPaths::default();
    let Some(program) = command.first() else {
        return out;
    };
    let Some(first) = which(program, path_var, cwd, probe) else {
        return out;
    };
    // A path that names no file grants nothing (see [`missing_program`]).
    if !probe.is_file(&first) {
        return out;
    }
    out.program = Some(first.clone());
    let resolved = follow(&first, home, probe, &mut out, (0, path_var));
    // An interpreter with a script argument: the script's package root.
    let interp = resolved
        .as_deref()
        .and_then(Path::file_name)
        .map(|n| n.as_bytes().to_vec())
        .unwrap_or_default();
    let base = Path::new(program)
        .file_name()
        .map(|n| n.as_bytes().to_vec())
        .unwrap_or_default();
    if is_interpreter(&interp) || is_interpreter(&base) {
        let script = command
            .iter()
            .skip(1)
            .find(|a| !a.as_bytes().starts_with(b"-"));
        if let Some(script) = script {
            let path = normalize(&cwd.join(script));
            if probe.is_file(&path) {
                let root = package_root(&path);
                add(&mut out, root, "the server script's package", home);
            }
        }
    }
    out
}

fn is_interpreter(name: &[u8]) -> bool {
    INTERPRETERS.iter().any(|i| {
        let i = i.as_bytes();
        name == i
            || (name.starts_with(i)
                && name[i.len()..]
                    .iter()
                    .all(|b| b.is_ascii_digit() || *b == b'.'))
    })
}

/// Resolve a program name as execvp would: a name with a slash against
/// `cwd`, else the first absolute PATH entry holding a file of that name.
pub fn which(
    program: &OsStr,
    path_var: Option<&OsStr>,
    cwd: &Path,
    probe: &dyn Probe,
) -> Option<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        return Some(normalize(&cwd.join(program)));
    }
    // Without PATH, glibc's execvp (the child's exec, bwrap's and the
    // helper's) searches its default: so does the plan, or the program
    // runs without what it needs.
    let path_var = path_var.unwrap_or(OsStr::new(EXECVP_DEFAULT_PATH));
    std::env::split_paths(path_var)
        .filter(|d| d.is_absolute())
        .map(|d| d.join(program))
        .find(|p| probe.is_file(p))
}

/// Why the host has no file for the command `program`, if it has none:
/// exec inside finds the same nothing, but says so only after the sandbox
/// is set up and without the path it looked at (a relative command from
/// another directory than the one it was written for: Claude Desktop
/// starts servers from `/`). Relative PATH entries count from `cwd`, as
/// execvp takes them.
pub fn missing_program(
    program: &OsStr,
    path_var: Option<&OsStr>,
    cwd: &Path,
    probe: &dyn Probe,
) -> Option<String> {
    let shown = program.to_string_lossy();
    if program.as_bytes().contains(&b'/') {
        let path = normalize(&cwd.join(program));
        if probe.is_file(&path) {
            return None;
        }
        let (from, fix) = match Path::new(program).is_absolute() {
            true => (String::new(), "fix the path in the entry"),
            false => (
                format!(
                    " (a relative command is taken from the working directory {})",
                    cwd.display()
                ),
                "write its absolute path, or give the entry a `cwd`",
            ),
        };
        return Some(format!(
            "command `{shown}` is not found: {} is no file{from}; the server cannot start: {fix}",
            path.display()
        ));
    }
    let path_var = path_var.unwrap_or(OsStr::new(EXECVP_DEFAULT_PATH));
    let found = std::env::split_paths(path_var).any(|d| probe.is_file(&cwd.join(d).join(program)));
    (!found).then(|| {
        format!(
            "command `{shown}` is not found in any directory of the server's PATH ({}); the server cannot start: write its absolute path, or set PATH in the entry's `env`",
            path_var.to_string_lossy()
        )
    })
}

/// Follow every symlink hop of `path`, adding each hop's prefix, then the
/// `#!` interpreter of the final file. Returns the final file.
/// `at` is the depth and the child's PATH, which `#!/usr/bin/env NAME`
/// searches inside.
fn follow(
    path: &Path,
    home: Option<&Path>,
    probe: &dyn Probe,
    out: &mut LauncherPaths,
    at: (u8, Option<&OsStr>),
) -> Option<PathBuf> {
    let (depth, search) = at;
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        add_prefix(out, &current, home, probe);
        match probe.read_link(&current) {
            Some(target) => {
                let base = current.parent().unwrap_or(Path::new("/"));
                current = normalize(&base.join(target));
            }
            None => break,
        }
    }
    if depth < 2 {
        if let Some(line) = probe.shebang(&current) {
            let mut words = line
                .split(|b| *b == b' ' || *b == b'\t')
                .filter(|w| !w.is_empty());
            if let Some(interp) = words.next() {
                let interp = PathBuf::from(OsStr::from_bytes(interp));
                let target = if interp.file_name() == Some(OsStr::new("env")) {
                    words
                        .find(|w| !w.starts_with(b"-") && !w.contains(&b'='))
                        .map(|w| OsStr::from_bytes(w).to_os_string())
                        .and_then(|name| {
                            which(
                                &name,
                                search.or(Some(OsStr::new(DEFAULT_PATH))),
                                Path::new("/"),
                                probe,
                            )
                        })
                } else {
                    Some(interp)
                };
                if let Some(target) = target {
                    follow(&target, home, probe, out, (depth + 1, search));
                }
            }
        }
    }
    Some(current)
}

/// glibc's `_CS_PATH`: where execvp looks when PATH is unset.
const EXECVP_DEFAULT_PATH: &str = "/bin:/usr/bin";

/// The PATH `#!/usr/bin/env NAME` searches when the child has none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Launchers that exec a program installed beside them, found by their own
/// path (not PATH): granted file by file when only the launcher's file is.
const COMPANIONS: &[(&str, &[&str])] = &[("uvx", &["uv"])];

/// Add the installation prefix of the executable at `path`.
fn add_prefix(out: &mut LauncherPaths, path: &Path, home: Option<&Path>, probe: &dyn Probe) {
    if path
        .components()
        .any(|c| c == Component::Normal(OsStr::new("node_modules")))
    {
        let root = package_root(path);
        add(out, root, "the server's npm package tree", home);
        return;
    }
    let Some(dir) = path.parent() else { return };
    let dir_name = dir.file_name().map(OsStr::as_bytes);
    let prefix = match dir_name {
        Some(b"bin" | b"sbin" | b"shims") => dir.parent().unwrap_or(dir),
        _ => dir,
    };
    if dir_name == Some(b"shims") && prefix.file_name() == Some(OsStr::new(".pyenv")) {
        let root = (
            OsString::from("PYENV_ROOT"),
            prefix.as_os_str().to_os_string(),
        );
        if !out.set.contains(&root) {
            out.set.push(root);
        }
    }
    // Never the home directory itself, ~/.local, or an ancestor of home:
    // then only the executable file.
    let too_broad = home.is_some_and(|h| {
        is_within(h, prefix) || prefix == h.join(".local") || prefix == h.join(".cargo").join("bin")
    }) || prefix.components().count() < 3;
    if too_broad {
        add(out, path.to_path_buf(), "the server's executable", home);
        // A launcher that execs a sibling program (uv's installer puts
        // `uvx` and `uv` side by side in ~/.local/bin, and uvx runs the
        // `uv` next to itself) needs that one file too, not the directory.
        let name = path.file_name().map(OsStr::as_bytes);
        for (launcher, siblings) in COMPANIONS {
            if name != Some(launcher.as_bytes()) {
                continue;
            }
            for sibling in *siblings {
                let sibling = dir.join(sibling);
                if probe.is_file(&sibling) {
                    add(out, sibling, "a program the server's launcher runs", home);
                }
            }
        }
    } else {
        add(
            out,
            prefix.to_path_buf(),
            "installation prefix of the server's executable",
            home,
        );
    }
}

fn add(out: &mut LauncherPaths, path: PathBuf, why: &str, home: Option<&Path>) {
    let system = SYSTEM_ROOTS.iter().any(|r| is_within(&path, Path::new(r)));
    let is_home = home.is_some_and(|h| is_within(h, &path));
    if system || is_home || out.read.iter().any(|(p, _)| is_within(&path, p)) {
        return;
    }
    out.read.retain(|(p, _)| !is_within(p, &path));
    out.read.push((path, why.to_string()));
}

/// The root of the package a script belongs to: the directory holding the
/// outermost `node_modules` on its path, else the script's directory.
fn package_root(script: &Path) -> PathBuf {
    let mut acc = PathBuf::new();
    for comp in script.components() {
        if comp == Component::Normal(OsStr::new("node_modules")) {
            return acc;
        }
        acc.push(comp);
    }
    script
        .parent()
        .map_or_else(|| PathBuf::from("/"), Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{HashMap, HashSet};

    #[derive(Default)]
    struct Fake {
        links: HashMap<PathBuf, PathBuf>,
        files: HashSet<PathBuf>,
        shebangs: HashMap<PathBuf, Vec<u8>>,
    }
    impl Probe for Fake {
        fn read_link(&self, p: &Path) -> Option<PathBuf> {
            self.links.get(p).cloned()
        }
        fn is_file(&self, p: &Path) -> bool {
            self.files.contains(p) || self.links.contains_key(p)
        }
        fn shebang(&self, p: &Path) -> Option<Vec<u8>> {
            self.shebangs.get(p).cloned()
        }
    }

    fn run(fake: &Fake, cmd: &[&str], path: &str) -> LauncherPaths {
        let cmd: Vec<OsString> = cmd.iter().map(OsString::from).collect();
        launcher_paths(
            &cmd,
            Some(OsStr::new(path)),
            Path::new("/work/proj"),
            Some(Path::new("/root")),
            fake,
        )
    }

    fn reads(l: &LauncherPaths) -> Vec<&str> {
        l.read.iter().map(|(p, _)| p.to_str().unwrap()).collect()
    }

    #[test]
    fn venv_python_linking_into_pyenv_grants_both_prefixes() {
        let mut f = Fake::default();
        f.links.insert("/w/v/bin/python".into(), "python3".into());
        f.links.insert(
            "/w/v/bin/python3".into(),
            "/root/.pyenv/versions/3.11.7/bin/python3.11".into(),
        );
        f.files
            .insert("/root/.pyenv/versions/3.11.7/bin/python3.11".into());
        f.files.insert("/w/v/bin/mcp-server-time".into());
        f.shebangs.insert(
            "/w/v/bin/mcp-server-time".into(),
            b"/w/v/bin/python".to_vec(),
        );
        let l = run(&f, &["mcp-server-time"], "/w/v/bin:/usr/bin");
        assert_eq!(reads(&l), ["/w/v", "/root/.pyenv/versions/3.11.7"]);
    }

    #[test]
    fn pyenv_shim_grants_pyenv_root_and_sets_it() {
        let mut f = Fake::default();
        f.files.insert("/root/.pyenv/shims/python3".into());
        let l = run(
            &f,
            &["python3", "-m", "mcp_server_time"],
            "/root/.pyenv/shims:/usr/bin",
        );
        assert_eq!(reads(&l), ["/root/.pyenv"]);
        assert_eq!(l.set, [("PYENV_ROOT".into(), "/root/.pyenv".into())]);
    }

    #[test]
    fn local_bin_grants_the_file_and_its_link_target_prefix_only() {
        let mut f = Fake::default();
        f.links.insert(
            "/root/.local/bin/uvx".into(),
            "/root/.local/share/uv/tools/x/bin/uvx".into(),
        );
        f.files
            .insert("/root/.local/share/uv/tools/x/bin/uvx".into());
        let l = run(
            &f,
            &["uvx", "mcp-server-fetch"],
            "/root/.local/bin:/usr/bin",
        );
        assert_eq!(
            reads(&l),
            ["/root/.local/bin/uvx", "/root/.local/share/uv/tools/x"]
        );
    }

    #[test]
    fn uvx_in_local_bin_also_gets_the_uv_beside_it() {
        // uv's standalone installer copies both into ~/.local/bin; uvx execs
        // the `uv` next to its own path.
        let mut f = Fake::default();
        f.files.insert("/root/.local/bin/uvx".into());
        f.files.insert("/root/.local/bin/uv".into());
        f.files.insert("/root/.local/bin/other-tool".into());
        let l = run(&f, &["uvx", "mcp-server-time"], "/root/.local/bin:/usr/bin");
        assert_eq!(reads(&l), ["/root/.local/bin/uvx", "/root/.local/bin/uv"]);
        // Without a uv beside it, nothing more.
        f.files.remove(Path::new("/root/.local/bin/uv"));
        let l = run(&f, &["uvx", "x"], "/root/.local/bin:/usr/bin");
        assert_eq!(reads(&l), ["/root/.local/bin/uvx"]);
        // Another program of that directory gets no sibling.
        let l = run(&f, &["other-tool"], "/root/.local/bin:/usr/bin");
        assert_eq!(reads(&l), ["/root/.local/bin/other-tool"]);
    }

    #[test]
    fn system_node_with_script_in_node_modules_grants_the_package_root() {
        let mut f = Fake::default();
        f.files.insert("/usr/bin/node".into());
        f.files
            .insert("/cache/npm/node_modules/@m/server-everything/dist/index.js".into());
        let l = run(
            &f,
            &[
                "node",
                "/cache/npm/node_modules/@m/server-everything/dist/index.js",
            ],
            "/usr/bin",
        );
        assert_eq!(reads(&l), ["/cache/npm"]);
    }

    /// A client that starts sandspawn without PATH: execvp then searches
    /// its default, `/bin:/usr/bin`, and so does the child's exec; the
    /// plan looked nowhere, so `node …/dist/index.js` ran without its
    /// package tree (works bare, "Cannot find module" sandboxed).
    #[test]
    fn without_path_the_program_is_found_where_execvp_looks() {
        let mut f = Fake::default();
        f.files.insert("/usr/bin/node".into());
        f.files.insert("/usr/local/bin/node".into());
        f.files.insert("/c/node_modules/@m/s/dist/index.js".into());
        let cmd: Vec<OsString> = ["node", "/c/node_modules/@m/s/dist/index.js"]
            .iter()
            .map(OsString::from)
            .collect();
        let l = launcher_paths(&cmd, None, Path::new("/w"), Some(Path::new("/root")), &f);
        assert_eq!(l.program.as_deref(), Some(Path::new("/usr/bin/node")));
        assert_eq!(reads(&l), ["/c"]);
        f.files.insert("/bin/node".into());
        let l = launcher_paths(&cmd, None, Path::new("/w"), Some(Path::new("/root")), &f);
        assert_eq!(l.program.as_deref(), Some(Path::new("/bin/node")));
    }

    #[test]
    fn home_itself_and_unknown_programs_grant_nothing() {
        let mut f = Fake::default();
        f.files.insert("/root/server".into());
        let l = run(&f, &["/root/server"], "/usr/bin");
        assert_eq!(reads(&l), ["/root/server"]);
        let l = run(&Fake::default(), &["nonexistent"], "/usr/bin");
        assert!(l.read.is_empty() && l.program.is_none());
    }

    #[test]
    fn node_modules_bin_link_grants_the_whole_package_tree() {
        let mut f = Fake::default();
        f.links.insert(
            "/c/node_modules/.bin/mcp-server-filesystem".into(),
            "../@m/server-filesystem/dist/index.js".into(),
        );
        f.files
            .insert("/c/node_modules/@m/server-filesystem/dist/index.js".into());
        f.shebangs.insert(
            "/c/node_modules/@m/server-filesystem/dist/index.js".into(),
            b"/usr/bin/env node".to_vec(),
        );
        f.files.insert("/usr/bin/node".into());
        let l = run(
            &f,
            &["/c/node_modules/.bin/mcp-server-filesystem", "/"],
            "/usr/bin",
        );
        assert_eq!(reads(&l), ["/c"]);
    }

    #[test]
    fn nvm_node_grants_its_version_prefix() {
        let mut f = Fake::default();
        f.links.insert(
            "/root/.nvm/versions/node/v20.1.0/bin/npx".into(),
            "../lib/node_modules/npm/bin/npx-cli.js".into(),
        );
        f.files
            .insert("/root/.nvm/versions/node/v20.1.0/lib/node_modules/npm/bin/npx-cli.js".into());
        let l = run(
            &f,
            &["npx", "-y", "pkg"],
            "/root/.nvm/versions/node/v20.1.0/bin",
        );
        assert_eq!(reads(&l), ["/root/.nvm/versions/node/v20.1.0"]);
    }

    /// `#!/usr/bin/env node` finds node on the child's PATH, as env does
    /// inside: nvm's node, not /usr/bin's (which was granted while the
    /// child's env skipped the hidden nvm one and ran /usr/bin's).
    #[test]
    fn env_in_a_shebang_searches_the_child_s_path() {
        let mut f = Fake::default();
        f.files.insert("/work/proj/start.js".into());
        f.shebangs
            .insert("/work/proj/start.js".into(), b"/usr/bin/env node".to_vec());
        f.files
            .insert("/root/.nvm/versions/node/v20.1.0/bin/node".into());
        f.files.insert("/usr/bin/node".into());
        let l = run(
            &f,
            &["./start.js"],
            "/root/.nvm/versions/node/v20.1.0/bin:/usr/bin",
        );
        assert!(
            reads(&l).contains(&"/root/.nvm/versions/node/v20.1.0"),
            "{:?}",
            reads(&l)
        );
    }
}
