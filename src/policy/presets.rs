//! Built-in presets. Each is a [`Layer`]; a preset is just policy data with
//! a name, so `explain` can say which preset granted a path.

use std::path::PathBuf;

use super::{Layer, PolicyError};

/// Names of the presets, for help text and errors.
pub const PRESETS: &[&str] = &["readonly", "workspace", "read-all", "mcp"];

/// The preset called `name`.
pub fn preset(name: &str) -> Result<Layer, PolicyError> {
    let origin = format!("preset {name}");
    let layer = match name {
        // The working directory readable; only the private /tmp writable.
        "readonly" => Layer {
            origin,
            read: vec![PathBuf::from(".")],
            ..Layer::default()
        },
        // The working directory writable (like a build or an agent's workspace).
        "workspace" => Layer {
            origin,
            write: vec![PathBuf::from(".")],
            ..Layer::default()
        },
        // Read the whole host filesystem (minus the default denies): the
        // shape for debugging, never the default.
        "read-all" => Layer {
            origin,
            read: vec![PathBuf::from("/")],
            ..Layer::default()
        },
        // An MCP stdio server: the working directory readable and the host
        // network (servers call APIs; trust and proxy variables curated).
        // Nothing of HOME is writable: the launcher caches npx and uvx
        // write to are the server's own, made per server by
        // `mcp::caches` (the host's `~/.npm` would hand what a server
        // writes to the host's own npx). The installation prefix of the
        // resolved executable is added per command by `mcp::profile`.
        "mcp" | MCP_NO_CWD => Layer {
            read: if name == "mcp" {
                vec![PathBuf::from(".")]
            } else {
                Vec::new()
            },
            origin,
            net: Some(super::NetworkMode::Full),
            ..Layer::default()
        },
        other => {
            return Err(PolicyError::UnknownPreset {
                rule: "presets".into(),
                name: other.to_string(),
            })
        }
    };
    Ok(layer)
}

/// `mcp` without the working directory: for a server started from `/` or
/// HOME, which are no project (see `mcp::request`). Not listed in
/// [`PRESETS`]: sandspawn picks it, users pick `mcp`.
pub const MCP_NO_CWD: &str = "mcp-no-cwd";

/// Credential stores hidden even when a broader root (e.g. `read = ["/"]`,
/// `~`, or the system root /etc) would make them readable. Explicit deeper
/// rules still win.
/// `~` entries are left out when the parent has no HOME.
pub(crate) fn default_denies(with_home: bool) -> Layer {
    let deny = [
        "~/.ssh",
        "~/.gnupg",
        "~/.aws",
        "~/.azure",
        "~/.config/gcloud",
        "~/.config/gh",
        "~/.kube",
        "~/.docker",
        "~/.netrc",
        "~/.git-credentials",
        "~/.npmrc",
        "~/.pypirc",
        "~/.cargo/credentials.toml",
        "~/.password-store",
        "~/.local/share/keyrings",
        // Readable by a root caller through the user namespace's uid 0.
        "/etc/shadow",
        "/etc/shadow-",
        "/etc/gshadow",
        "/etc/gshadow-",
        "/etc/ssl/private",
        // Root-only secrets under /etc, which every preset reads.
        "/etc/ssh/ssh_host_rsa_key",
        "/etc/ssh/ssh_host_ecdsa_key",
        "/etc/ssh/ssh_host_ed25519_key",
        "/etc/ssh/ssh_host_dsa_key",
        "/etc/krb5.keytab",
        "/etc/wireguard",
        "/etc/NetworkManager/system-connections",
        "/etc/security/opasswd",
        "/etc/letsencrypt/archive",
        "/etc/letsencrypt/keys",
        "/etc/ipsec.secrets",
        "/etc/ppp/chap-secrets",
        "/etc/ppp/pap-secrets",
        // Sockets of host services that run commands outside the sandbox
        // (docker, containerd, podman, systemd, the system bus; each user's
        // session bus and `systemd --user` under /run/user): a read-only
        // view still connects, so a broad root such as `/` would hand them
        // over. Naming one (`--read /run/user/1000`) grants it back.
        "/run/docker.sock",
        "/run/containerd",
        "/run/podman",
        "/run/dbus/system_bus_socket",
        "/run/systemd/private",
        "/run/user",
        // Likewise root-equivalent: docker's own runtime directory (its
        // containerd and plugin sockets), CRI-O, k3s/RKE2's containerd,
        // BuildKit, libvirt, Incus and LXD (snap and non-snap).
        "/run/docker",
        "/run/crio",
        "/run/k3s",
        "/run/buildkit",
        "/run/libvirt",
        "/run/incus",
        "/var/lib/incus/unix.socket",
        "/var/snap/lxd/common/lxd/unix.socket",
        "/var/lib/lxd/unix.socket",
    ];
    Layer {
        origin: "default deny (credential stores)".into(),
        deny: deny
            .iter()
            .filter(|d| with_home || !d.starts_with('~'))
            .map(PathBuf::from)
            .collect(),
        ..Layer::default()
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::policy::{Policy, ResolveContext};

    /// /etc is read by every preset: its root-only secrets (readable to a
    /// root caller, as uid 0 owns them) are hidden by default.
    #[test]
    fn root_only_secrets_under_etc_are_default_denies() {
        let layer = default_denies(false);
        for secret in [
            "/etc/ssh/ssh_host_ed25519_key",
            "/etc/ssh/ssh_host_rsa_key",
            "/etc/krb5.keytab",
            "/etc/wireguard",
            "/etc/NetworkManager/system-connections",
            "/etc/letsencrypt/archive",
        ] {
            assert!(layer.deny.contains(&PathBuf::from(secret)), "{secret}");
        }
    }

    /// Under `read = ["/"]`, host service sockets stay hidden: connecting
    /// to one needs no more than the read-only view a broad root gives.
    #[test]
    fn a_broad_root_hides_host_service_sockets() {
        let layers = [Layer {
            origin: "flags".into(),
            read: vec![PathBuf::from("/")],
            ..Layer::default()
        }];
        let ctx = ResolveContext {
            cwd: Path::new("/work"),
            home: None,
        };
        let policy = Policy::resolve(&layers, &ctx).unwrap();
        let denied: Vec<_> = policy.deny.iter().map(|r| r.path.clone()).collect();
        for sock in [
            "/run/docker.sock",
            "/run/containerd",
            "/run/podman",
            "/run/dbus/system_bus_socket",
            "/run/systemd/private",
            "/run/user",
            "/run/docker",
            "/run/crio",
            "/run/k3s",
            "/run/buildkit",
            "/run/libvirt",
            "/run/incus",
            "/var/lib/incus/unix.socket",
            "/var/snap/lxd/common/lxd/unix.socket",
            "/var/lib/lxd/unix.socket",
        ] {
            assert!(denied.contains(&PathBuf::from(sock)), "{sock}: {denied:?}");
        }
    }
}
