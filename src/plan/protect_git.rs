//! What git on the host runs or reads for a repository whose `.git` a
//! writable root holds, when that lies outside `.git`: the hooks directory
//! (`core.hooksPath`, as husky sets it to `.husky/_`, or `.git/hooks` as a
//! link to `../scripts/hooks`) and the files its config includes
//! (`include.path`, `includeIf.*.path`), where a `core.fsmonitor` or an
//! alias is a command. `.git` itself is read-only (see `protect`), but a
//! hook the child writes there runs at the next `git commit` on the host.
//! Each such path inside a writable root is kept read-only too; one that
//! is missing there, or reached through a link there, fails closed (the
//! child could create it, or point the link at its own).
//!
//! Only the repository's own config files are read (`config`, and
//! `config.worktree` of a linked worktree, with what they include): the
//! workspace is not scanned.

use std::path::{Path, PathBuf};

use super::protect::{gitdir_of, hooks_single_named, walk_checked, ProtectError};
use crate::paths::{is_within, Resolver};

/// At most this many config files are read per repository (includes can
/// nest, and loop).
const MAX_CONFIGS: usize = 32;

/// Bytes read of one config file.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// The paths to keep read-only, beyond the `protected` ones already, for
/// the repositories `roots` are in (at their top, or deeper). `writable_at` says whether a
/// path is shown writable; `replaceable` whether a link there could be
/// changed by the child.
pub fn targets(
    roots: &[PathBuf],
    home: Option<&Path>,
    protected: &[PathBuf],
    writable_at: &dyn Fn(&Path) -> bool,
    replaceable: &dyn Fn(&Path) -> bool,
    resolver: &dyn Resolver,
) -> Result<Vec<PathBuf>, ProtectError> {
    let kept = |p: &Path| protected.iter().any(|k| is_within(p, k));
    // A link inside a read-only `.git` cannot change. A root that is a
    // link the child can retarget is a repository of the child's making
    // altogether, as one it creates in a writable root is (see README):
    // not a redirection of this one's hooks.
    let changeable =
        |a: &Path| replaceable(a) && !kept(a) && !roots.iter().any(|r| r.as_path() == a);
    let mut out: Vec<PathBuf> = Vec::new();
    // The repository each root is in, as git finds it: the nearest `.git`
    // at or above it (`--write scripts` inside a repository whose
    // `core.hooksPath` is `scripts/hooks`).
    let mut tops: Vec<&Path> = Vec::new();
    for root in roots {
        if let Some(top) = root
            .ancestors()
            .find(|a| std::fs::symlink_metadata(a.join(".git")).is_ok())
        {
            if !tops.contains(&top) {
                tops.push(top);
            }
        }
    }
    for root in tops {
        let dotgit = root.join(".git");
        let Ok(meta) = std::fs::symlink_metadata(&dotgit) else {
            continue;
        };
        let gitdir = if meta.is_dir() {
            dotgit
        } else if meta.is_file() {
            // One above every root is not the child's to redirect: only
            // what it leads to is judged.
            let above = !roots.iter().any(|r| r.as_path() == root);
            match gitdir_of(&dotgit, root) {
                Ok(Some(g)) => g,
                Ok(None) => continue,
                Err(_) if above => continue,
                Err(e) => return Err(e),
            }
        } else {
            continue;
        };
        // A linked worktree's config and hooks are the main repository's.
        let common = read_bounded(&gitdir.join("commondir"), "the worktree's commondir")?
            .and_then(|(t, _)| t.lines().next().map(|l| l.trim().to_string()))
            .filter(|l| !l.is_empty())
            .map_or_else(|| gitdir.clone(), |l| gitdir.join(l));
        let mut configs: Vec<(PathBuf, String)> = vec![
            (common.join("config"), "the repository's config".into()),
            (
                gitdir.join("config.worktree"),
                "the worktree's config".into(),
            ),
        ];
        let mut hooks: Vec<(PathBuf, String)> = vec![(
            common.join("hooks"),
            format!("the hooks of {}", common.display()),
        )];
        let mut i = 0;
        // By where they lead: the same file included under two spellings
        // (`./a`, `.git/../a`: paths are joined as git joins them, not
        // normalised) is read once and counts once.
        let mut read: Vec<PathBuf> = Vec::new();
        while i < configs.len() {
            let (named, what) = configs[i].clone();
            i += 1;
            let Some(real) = target(&named, &what, &changeable, resolver, writable_at, &kept)?
            else {
                continue;
            };
            if read.contains(&real) {
                continue;
            }
            read.push(real.clone());
            // One not read is one whose includes are not followed: any of
            // them could be a file in a writable root, left writable, that
            // git on the host reads. Refused, wherever it lies.
            if read.len() > MAX_CONFIGS {
                return Err(ProtectError {
                    path: real.clone(),
                    problem: format!(
                        "{what}, a config file past the {MAX_CONFIGS} sandspawn reads per \
                         repository, which git on the host would read too; merge the includes \
                         into fewer files, or keep the repository out of the --write roots"
                    ),
                });
            }
            if !out.contains(&real) && writable_at(&real) && !kept(&real) {
                out.push(real.clone());
            }
            let Some((text, whole)) = read_bounded(&real, &what)? else {
                continue;
            };
            if !whole {
                return Err(ProtectError {
                    path: real,
                    problem: format!(
                        "{what}, a config file longer than the {MAX_CONFIG_BYTES} bytes \
                         sandspawn reads, whose includes past them git on the host would \
                         follow; shorten it, or keep the repository out of the --write roots"
                    ),
                });
            }
            let dir = named.parent().unwrap_or(Path::new("/")).to_path_buf();
            for (key, value) in values(&text) {
                let from = |setting: &str| format!("{setting} of {}", named.display());
                if key == "core.hookspath" {
                    hooks.push((expand(&value, root, home), from("core.hooksPath")));
                } else if key == "include.path"
                    || (key.starts_with("includeif.") && key.ends_with(".path"))
                {
                    let setting = if key == "include.path" {
                        "include.path"
                    } else {
                        "includeIf.path"
                    };
                    let path = expand(&value, &dir, home);
                    if !configs.iter().any(|(p, _)| *p == path) {
                        configs.push((path, from(setting)));
                    }
                }
            }
        }
        for (named, what) in hooks {
            if let Some(real) = target(&named, &what, &changeable, resolver, writable_at, &kept)? {
                // Inside `.git` too: a hook's other name elsewhere in the
                // root would stay writable.
                if writable_at(&real) {
                    hooks_single_named(&real, &what)?;
                }
                if !out.contains(&real) && writable_at(&real) && !kept(&real) {
                    out.push(real);
                }
            }
        }
    }
    Ok(out)
}

/// Where `named` leads, checked: a link on the way the child could change,
/// or a missing target inside a writable root (and not inside a protected
/// path), fails closed. `None` when it is missing elsewhere.
fn target(
    named: &Path,
    what: &str,
    changeable: &dyn Fn(&Path) -> bool,
    resolver: &dyn Resolver,
    writable_at: &dyn Fn(&Path) -> bool,
    kept: &dyn Fn(&Path) -> bool,
) -> Result<Option<PathBuf>, ProtectError> {
    // The path itself a link the child could change is a hop too.
    let own_link = std::fs::symlink_metadata(named).is_ok_and(|m| m.file_type().is_symlink());
    let link_error = |link: PathBuf, real: String| ProtectError {
        path: link,
        problem: format!(
            "a symlink inside a writable root on the way to {what}, which the sandbox could \
             point elsewhere for git on the host to run or read; name its real path {real} \
             instead"
        ),
    };
    if own_link && changeable(named) {
        let real = std::fs::canonicalize(named).map_or_else(
            |_| "a path outside the --write roots".to_string(),
            |r| r.display().to_string(),
        );
        return Err(link_error(named.to_path_buf(), real));
    }
    let real = walk_checked(named, changeable, resolver).map_err(|(l, r)| link_error(l, r))?;
    let exists = std::fs::symlink_metadata(&real).is_ok();
    if !exists && writable_at(&real) && !kept(&real) {
        // The repository's own config files missing inside `.git` are
        // `kept`; one missing elsewhere is a file git would read.
        return Err(ProtectError {
            path: real,
            problem: format!(
                "missing inside a writable root, where {what} leads; the sandbox could \
                 create it and git on the host would run or read what it holds: create it, \
                 or change the setting"
            ),
        });
    }
    Ok(exists.then_some(real))
}

/// A config path as git takes it: `~/` from HOME, relative ones from `base`.
fn expand(value: &str, base: &Path, home: Option<&Path>) -> PathBuf {
    let path = match (value.strip_prefix("~/"), home) {
        (Some(rest), Some(h)) => h.join(rest),
        _ if value == "~" && home.is_some() => home.unwrap_or(base).to_path_buf(),
        _ => base.join(value),
    };
    // Joined, not normalised: git hands the path to the kernel as it is,
    // and a `..` after a link climbs out of the link's target (the
    // symlink walk takes it so; `normalize` would skip the link).
    path
}

/// A regular file's first bytes, and whether that is all of it; `None`
/// when it cannot be read (missing, EACCES). Anything but a regular file
/// there (`what` names it) is refused unread: a FIFO's open would wait for
/// a writer and hang the plan, and git on the host, which opens it
/// blocking, would wait too, or take as config whatever a process still
/// holding it (a sandbox's) writes into it, which sandspawn cannot see
/// ahead.
fn read_bounded(path: &Path, what: &str) -> Result<Option<(String, bool)>, ProtectError> {
    use crate::readfile::{read_regular, RegularError};
    match read_regular(path, MAX_CONFIG_BYTES, true) {
        Ok((bytes, whole)) => Ok(Some((String::from_utf8_lossy(&bytes).into_owned(), whole))),
        Err(RegularError::NotRegular(kind)) => Err(ProtectError {
            path: path.to_path_buf(),
            problem: format!(
                "{what}, which git on the host reads, is {kind}, not a regular file: git \
                 would wait on it, or take as config whatever a process writes into it; \
                 remove it, or keep the repository out of the --write roots"
            ),
        }),
        Err(RegularError::Io(_)) => Ok(None),
    }
}

/// `section[.subsection].key` (section and key lowercased, the subsection
/// as written) and value of each variable in git config `text`. Enough of
/// git's syntax for the keys above: comments, quoting and escapes, line
/// continuations, `[section "sub"]` and `[section.sub]` headers, and a
/// variable on the header's line.
pub(super) fn values(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut section = String::new();
    let mut logical = String::new();
    for raw in text.lines() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        // An odd run of trailing backslashes continues the line.
        let trailing = raw.len() - raw.trim_end_matches('\\').len();
        if trailing % 2 == 1 {
            logical.push_str(&raw[..raw.len() - 1]);
            continue;
        }
        logical.push_str(raw);
        let line = std::mem::take(&mut logical);
        let mut rest = line.trim_start();
        if let Some(header) = rest.strip_prefix('[') {
            let Some(end) = header.find(']') else {
                continue;
            };
            section = header_name(&header[..end]);
            rest = header[end + 1..].trim_start();
        }
        if rest.is_empty() || rest.starts_with('#') || rest.starts_with(';') {
            continue;
        }
        let key_len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .unwrap_or(rest.len());
        let (key, after) = rest.split_at(key_len);
        let after = after.trim_start();
        let value = match after.strip_prefix('=') {
            Some(v) => unquote(v),
            None => String::new(),
        };
        if !key.is_empty() && !section.is_empty() {
            out.push((format!("{section}.{}", key.to_ascii_lowercase()), value));
        }
    }
    out
}

/// `core`, `includeIf "gitdir:~/x/"`, `branch.main`: the section
/// lowercased, then the subsection.
fn header_name(header: &str) -> String {
    let header = header.trim();
    match header.find(|c: char| c.is_whitespace() || c == '"') {
        Some(i) => {
            let sub = header[i..].trim().trim_matches('"');
            format!("{}.{sub}", header[..i].to_ascii_lowercase())
        }
        None => match header.split_once('.') {
            Some((s, sub)) => format!("{}.{sub}", s.to_ascii_lowercase()),
            None => header.to_ascii_lowercase(),
        },
    }
}

/// A value: quotes removed, escapes applied, a comment outside quotes
/// dropped, outer whitespace trimmed.
fn unquote(v: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    // Whitespace outside quotes is kept only between words.
    let mut pending = String::new();
    let mut chars = v.trim_start().chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' => {
                out.push_str(&std::mem::take(&mut pending));
                match chars.next() {
                    Some('n') => out.push('\n'),
                    Some('t') => out.push('\t'),
                    Some('b') => {
                        out.pop();
                    }
                    Some(other) => out.push(other),
                    None => {}
                }
                continue;
            }
            '#' | ';' if !quoted => break,
            c if c.is_whitespace() && !quoted => {
                pending.push(c);
                continue;
            }
            c => {
                out.push_str(&std::mem::take(&mut pending));
                out.push(c);
            }
        }
        if c == '"' {
            out.push_str(&std::mem::take(&mut pending));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::values;
    use std::path::{Path, PathBuf};

    /// An include naming a FIFO (made by anyone in the workspace) is
    /// refused unread, at once: opening it would wait for a writer (the
    /// plan hung), and git on the host would take what a writer sends.
    #[test]
    fn an_included_fifo_is_refused_without_hanging_the_plan() {
        let tmp = tempfile::tempdir().unwrap();
        let ws = std::fs::canonicalize(tmp.path()).unwrap();
        std::fs::create_dir(ws.join(".git")).unwrap();
        std::fs::write(ws.join(".git/config"), "[include]\n\tpath = ../fifo\n").unwrap();
        nix::unistd::mkfifo(&ws.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let root = ws.clone();
        std::thread::spawn(move || {
            let roots = [root.clone()];
            let protected = [root.join(".git")];
            let within = |p: &Path| crate::paths::is_within(p, &root);
            let got = super::targets(
                &roots,
                None,
                &protected,
                &within,
                &|_| false,
                &crate::paths::HostResolver,
            );
            let _ = tx.send(got.map_err(|e| e.to_string()));
        });
        let got = rx.recv_timeout(std::time::Duration::from_secs(5));
        let want = format!(
            "protected path {}: include.path of {}, which git on the host reads, is a FIFO, \
             not a regular file: git would wait on it, or take as config whatever a process \
             writes into it; remove it, or keep the repository out of the --write roots; \
             refusing to start (a writable root must not redirect it)",
            ws.join("fifo").display(),
            ws.join(".git/config").display()
        );
        assert_eq!(got, Ok(Err::<Vec<PathBuf>, _>(want)));
    }

    fn get(text: &str) -> Vec<(String, String)> {
        values(text)
    }

    #[test]
    fn git_config_syntax_is_read_as_git_reads_it() {
        let text = "[core]\n\tHooksPath = \".husky/_\" ; husky\n\
                    [include] path = ../a b.cfg # shared\n\
                    [includeIf \"gitdir:~/w/\"]\n  path = \"~/x\\\"y\"\n\
                    [Core.Sub]\nhooksPath = one\\\n two\n";
        assert_eq!(
            get(text),
            [
                ("core.hookspath".to_string(), ".husky/_".to_string()),
                ("include.path".to_string(), "../a b.cfg".to_string()),
                (
                    "includeif.gitdir:~/w/.path".to_string(),
                    "~/x\"y".to_string()
                ),
                ("core.Sub.hookspath".to_string(), "one two".to_string()),
            ]
        );
    }
}
