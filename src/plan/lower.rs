//! Lowering a plan into the spec that `sandspawn-linux` enforces.
//!
//! Mount order is the security property here: parents before children, and
//! at one path grants before masks, so a later, deeper operation always
//! overrides the broader one it sits in (a deny inside a read root hides; a
//! bundle file inside a hidden directory is bound back).

use sandspawn_linux::{Mount, ProxyBridge, SandboxSpec};

use super::fs::{Access, FsEntry, PathKind};
use super::Plan;
use sandspawn_linux::pathcmp::Keyed;

use crate::paths::{depth, is_within, same_path};

impl Plan {
    /// The spec for enforcement. Call [`Plan::verify`] first: lowering does
    /// not re-check the invariant.
    pub fn lower(&self) -> SandboxSpec {
        let pins = self.pinned_ancestors();
        let mut order = self.lower_order();
        order.extend(pins.iter());
        // Stable: the pins fall in among the entries at their depth.
        order.sort_by_cached_key(|e| (depth(&e.path), mount_rank(&e.access)));
        let mounts: Vec<Mount> = order.into_iter().map(to_mount).collect();
        let pins = super::pins::for_mounts(&mounts, &self.ids);
        let (program, args) = match self.command.split_first() {
            Some((p, rest)) => (p.clone(), rest.to_vec()),
            None => (Default::default(), Vec::new()),
        };
        SandboxSpec {
            program,
            args,
            cwd: self.cwd.clone(),
            env: self.env.pairs(),
            mounts,
            network: self.network,
            backend: self.backend,
            die_with_parent: true,
            proxy: self.proxy.as_ref().map(|p| ProxyBridge {
                host: p.upstream.host.clone(),
                port: p.upstream.port,
                inside_port: p.inside_port,
                origin: p.upstream.origin.clone(),
                display: p.upstream.display.clone(),
                authorization: p.upstream.authorization.clone(),
                socks_login: p.upstream.socks_login.clone(),
                socks: p.upstream.scheme != super::upstream::Scheme::Http,
                allow_local: p.allow_local,
            }),
            checks: Vec::new(),
            pins,
        }
    }

    /// The entries that change the sandbox's view, in mount order.
    pub(super) fn lower_order(&self) -> Vec<&FsEntry> {
        let mut entries: Vec<&FsEntry> = self
            .fs
            .entries
            .iter()
            .filter(|e| self.needs_mount(e))
            .collect();
        entries.sort_by_cached_key(|e| (depth(&e.path), mount_rank(&e.access)));
        entries
    }

    /// Whether an entry changes the sandbox's view at all.
    fn needs_mount(&self, entry: &FsEntry) -> bool {
        match entry.access {
            // Hiding changes something only where a host grant would expose
            // the path: not for absent paths, not inside a private tmpfs, not
            // where a tmpfs replaces the path itself.
            Access::Deny => {
                // The cheap tests first, each a reason for no mount: most
                // default denies name paths this host does not have, and
                // the scans below (one of them recursive) cost a pass over
                // every entry each.
                if matches!(entry.kind, Some(PathKind::Missing | PathKind::Unreadable)) {
                    return false;
                }
                // Compared with every entry in up to three passes: its
                // spelling is scanned once here, not per comparison.
                let key = Keyed::new(&entry.path);
                let replaced = self
                    .fs
                    .entries
                    .iter()
                    .any(|g| g.access == Access::Tmpfs && key.same_as(&g.path));
                if replaced {
                    return false;
                }
                // A grant at the very path counts: the deny wins that tie
                // (`FsView::decide`), and the grant's bind would show it.
                let exposer = self
                    .fs
                    .entries
                    .iter()
                    .filter(|g| g.access != Access::Deny)
                    .filter(|g| key.starts_with_path(&g.path))
                    .max_by_key(|g| depth(&g.path));
                let Some(exposer) =
                    exposer.filter(|g| matches!(g.access, Access::Read | Access::Write))
                else {
                    // Nothing of the host shows here, but a hidden working
                    // directory must exist to start in (inside the private
                    // /tmp, bwrap failed "Can't chdir"): an empty mask.
                    return same_path(&entry.path, &self.cwd);
                };
                // Behind a link the grant shows as a link, the sandbox
                // follows it to the resolved path, which has its own deny;
                // bwrap cannot mount through an absolute link anyway.
                // So is a link a grant above it shows: the grant written
                // through it is not mounted then (below), and a mask
                // through the link would land on the resolved path and
                // cover what is granted inside it there.
                let behind_link = entry.via_link.as_deref().is_some_and(|link| {
                    (is_within(link, &exposer.path) && !same_path(link, &exposer.path))
                        || self.shown_by_grant(link)
                });
                if behind_link {
                    return false;
                }
                // Inside a masked directory, with no grant in between, the
                // path is hidden already: a mask here would only make bwrap
                // create its mount point in that directory's empty tmpfs,
                // showing the hidden names (`--deny ws --deny ws/src/x`
                // listed `src` in the hidden ws). Not the working
                // directory: the command starts there (see `assemble`).
                let inside_mask = !same_path(&entry.path, &self.cwd)
                    && self
                        .fs
                        .entries
                        .iter()
                        .filter(|d| d.access == Access::Deny)
                        .filter(|d| !key.same_as(&d.path) && key.starts_with_path(&d.path))
                        .filter(|d| depth(&d.path) >= depth(&exposer.path))
                        .any(|d| self.needs_mount(d));
                !inside_mask
            }
            // A grant written through a link that the view already shows
            // (a grant above the link binds it) needs no mount: the link
            // leads to the resolved path, granted by its own entry. bwrap
            // would resolve the mount point through the link, and an
            // absolute link resolves against bwrap's set-up root, not the
            // sandbox's: "Can't create file at …: No such file or directory".
            Access::Read | Access::Write => {
                entry.kind != Some(PathKind::Missing)
                    && !entry
                        .via_link
                        .as_deref()
                        .is_some_and(|link| self.shown_by_grant(link))
            }
            _ => true,
        }
    }
}

impl Plan {
    /// Under bwrap, a read-only bind protects the protected path's content
    /// but not its name: a directory between it and the writable root it
    /// sits in can be renamed away, mount and all, and a fresh one made in
    /// its place (`mv ~/.config ~/x`, then a new `~/.config/sandspawn`).
    /// Binding each such directory onto itself, writable as it already
    /// is, makes it a mount point, which rename and rmdir refuse (EBUSY).
    /// Landlock needs none: the writable root's compensation already
    /// withholds removal from those directories.
    fn pinned_ancestors(&self) -> Vec<FsEntry> {
        if self.backend != sandspawn_linux::Backend::Bwrap {
            return Vec::new();
        }
        let mut pins: Vec<FsEntry> = Vec::new();
        let protected = self
            .fs
            .entries
            .iter()
            .filter(|e| e.protected && e.via_link.is_none() && self.needs_mount(e));
        for entry in protected {
            for dir in entry.path.ancestors().skip(1) {
                if self.fs.entries.iter().any(|e| same_path(&e.path, dir)) {
                    break;
                }
                let above = self
                    .fs
                    .entries
                    .iter()
                    .filter(|e| is_within(dir, &e.path))
                    .max_by_key(|e| (depth(&e.path), super::fs::tie_rank(&e.access)));
                let writable = above.is_some_and(|e| {
                    e.access == Access::Write && e.via_link.is_none() && self.needs_mount(e)
                });
                if !writable {
                    break;
                }
                if !pins.iter().any(|p| same_path(&p.path, dir)) {
                    pins.push(FsEntry {
                        path: dir.to_path_buf(),
                        access: Access::Write,
                        reason: "kept in place: holds a protected path".into(),
                        kind: Some(PathKind::Dir),
                        via_link: None,
                        protected: false,
                    });
                }
            }
        }
        pins
    }

    /// Whether the entry deciding what contains `link` (not `link` itself)
    /// is a host grant, so the sandbox sees `link` as the link it is.
    fn shown_by_grant(&self, link: &std::path::Path) -> bool {
        let above = self
            .fs
            .entries
            .iter()
            .filter(|e| is_within(link, &e.path) && !same_path(link, &e.path))
            .max_by_key(|e| (depth(&e.path), super::fs::tie_rank(&e.access)));
        above.is_some_and(|e| matches!(e.access, Access::Read | Access::Write))
    }
}

/// At one depth: grants, then masks, then tmpfs (a tmpfs at a path replaces
/// whatever was mounted there before it).
fn mount_rank(access: &Access) -> u8 {
    match access {
        Access::Deny => 1,
        Access::Tmpfs => 2,
        _ => 0,
    }
}

fn to_mount(entry: &FsEntry) -> Mount {
    let path = entry.path.clone();
    match &entry.access {
        Access::Read => Mount::ReadOnly { path },
        Access::Write => Mount::ReadWrite { path },
        Access::Tmpfs => Mount::Tmpfs { path },
        Access::Link { target } => Mount::Symlink {
            path,
            target: target.clone(),
        },
        Access::Deny => Mount::Mask {
            path,
            is_dir: entry.kind == Some(PathKind::Dir),
        },
    }
}
