//! Handing a lowered spec to the `sandspawn __mcp-spec` child: a lossless
//! text encoding (every name, value and path as hex bytes inside JSON), so
//! non-UTF-8 bytes survive. It travels in environment variables of the
//! child (one, or several past the kernel's limit for one), which are
//! replaced before the target starts (bwrap: env_clear; Landlock: the
//! spec's own environment).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use sandspawn_linux::{Backend, FileId, Mount, NetworkMode, Pin, SandboxSpec};
use serde::{Deserialize, Serialize};

/// The variable carrying the spec.
pub const SPEC_VAR: &str = "SANDSPAWN_SPEC";
/// The hidden argument of the child.
pub const SPEC_ARG: &str = "__mcp-spec";

#[derive(Serialize, Deserialize)]
struct Wire {
    program: String,
    args: Vec<String>,
    cwd: String,
    env: Vec<(String, String)>,
    mounts: Vec<(u8, String, String)>,
    network: NetworkMode,
    backend: Backend,
    die_with_parent: bool,
    /// Network `proxy`: the bridge (plain strings and ports, no paths).
    #[serde(default)]
    proxy: Option<sandspawn_linux::spec::ProxyBridge>,
    /// What each user root was when planned: `(path, dev, ino)`, the path
    /// as hex. Required: a spec without it would start unchecked.
    pins: Vec<(String, u64, u64)>,
}

/// Errors decoding a spec.
#[derive(Debug, thiserror::Error)]
#[error("decoding the sandbox spec from {SPEC_VAR}: {0}")]
pub struct WireError(String);

fn hex(s: &OsStr) -> String {
    s.as_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Result<OsString, WireError> {
    let bytes = s.as_bytes();
    if bytes.len() % 2 != 0 {
        return Err(WireError("odd hex length".into()));
    }
    let mut out = Vec::with_capacity(bytes.len() / 2);
    for pair in bytes.chunks(2) {
        let text = std::str::from_utf8(pair).map_err(|e| WireError(e.to_string()))?;
        out.push(u8::from_str_radix(text, 16).map_err(|e| WireError(e.to_string()))?);
    }
    Ok(OsString::from_vec(out))
}

/// Encode `spec`.
pub fn encode(spec: &SandboxSpec) -> String {
    let mounts = spec
        .mounts
        .iter()
        .map(|m| {
            let p = hex(m.path().as_os_str());
            match m {
                Mount::ReadOnly { .. } => (0, p, String::new()),
                Mount::ReadWrite { .. } => (1, p, String::new()),
                Mount::Tmpfs { .. } => (2, p, String::new()),
                Mount::Mask { is_dir, .. } => (if *is_dir { 3 } else { 4 }, p, String::new()),
                Mount::Symlink { target, .. } => (5, p, hex(target.as_os_str())),
            }
        })
        .collect();
    let wire = Wire {
        program: hex(&spec.program),
        args: spec.args.iter().map(|a| hex(a)).collect(),
        cwd: hex(spec.cwd.as_os_str()),
        env: spec.env.iter().map(|(n, v)| (hex(n), hex(v))).collect(),
        mounts,
        network: spec.network,
        backend: spec.backend,
        die_with_parent: spec.die_with_parent,
        proxy: spec.proxy.clone(),
        pins: (spec.pins.iter())
            .map(|p| (hex(p.path.as_os_str()), p.id.dev, p.id.ino))
            .collect(),
    };
    serde_json::to_string(&wire).unwrap_or_default()
}

/// The longest part of the spec one environment entry carries. The kernel
/// refuses an entry past MAX_ARG_STRLEN (32 pages, 128 KiB) with E2BIG, and
/// the hex encoding doubles every value: one 64 KiB variable (a credentials
/// blob in a config's `env`) would stop the server from starting.
const CHUNK: usize = 96 * 1024;

/// `spec` as the child's environment entries: [`SPEC_VAR`], then as many
/// `SANDSPAWN_SPEC_1`, `_2`, … as its length needs.
pub fn to_env(spec: &SandboxSpec) -> Vec<(String, String)> {
    let text = encode(spec);
    let mut rest = text.as_str();
    let mut out = Vec::new();
    while !rest.is_empty() || out.is_empty() {
        let mut cut = rest.len().min(CHUNK);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        let name = match out.len() {
            0 => SPEC_VAR.to_string(),
            n => format!("{SPEC_VAR}_{n}"),
        };
        out.push((name, rest[..cut].to_string()));
        rest = &rest[cut..];
    }
    out
}

/// Decode the spec [`to_env`] spread over the variables `get` looks up.
pub fn from_env(get: impl Fn(&str) -> Option<OsString>) -> Result<SandboxSpec, WireError> {
    let mut text = get(SPEC_VAR).unwrap_or_default();
    for n in 1.. {
        match get(&format!("{SPEC_VAR}_{n}")) {
            Some(part) => text.push(part),
            None => break,
        }
    }
    decode(&text)
}

/// Decode a spec made by [`encode`].
pub fn decode(text: &OsStr) -> Result<SandboxSpec, WireError> {
    let text = text.to_str().ok_or_else(|| WireError("not UTF-8".into()))?;
    let wire: Wire = serde_json::from_str(text).map_err(|e| WireError(e.to_string()))?;
    let path = |s: &str| unhex(s).map(PathBuf::from);
    let mut mounts = Vec::with_capacity(wire.mounts.len());
    for (kind, p, target) in &wire.mounts {
        let path = path(p)?;
        mounts.push(match kind {
            0 => Mount::ReadOnly { path },
            1 => Mount::ReadWrite { path },
            2 => Mount::Tmpfs { path },
            3 | 4 => Mount::Mask {
                path,
                is_dir: *kind == 3,
            },
            5 => Mount::Symlink {
                path,
                target: unhex(target)?.into(),
            },
            other => return Err(WireError(format!("unknown mount kind {other}"))),
        });
    }
    Ok(SandboxSpec {
        program: unhex(&wire.program)?,
        args: wire
            .args
            .iter()
            .map(|a| unhex(a))
            .collect::<Result<_, _>>()?,
        cwd: path(&wire.cwd)?,
        env: wire
            .env
            .iter()
            .map(|(n, v)| Ok((unhex(n)?, unhex(v)?)))
            .collect::<Result<_, WireError>>()?,
        mounts,
        network: wire.network,
        backend: wire.backend,
        die_with_parent: wire.die_with_parent,
        proxy: wire.proxy,
        checks: Vec::new(),
        pins: (wire.pins.iter())
            .map(|(p, dev, ino)| {
                Ok(Pin {
                    path: path(p)?,
                    id: FileId {
                        dev: *dev,
                        ino: *ino,
                    },
                })
            })
            .collect::<Result<_, WireError>>()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_non_utf8_bytes() {
        let odd = OsString::from_vec(vec![0xff, b'a', 0]);
        let spec = SandboxSpec {
            program: odd.clone(),
            args: vec!["a".into(), odd.clone()],
            cwd: "/w".into(),
            env: vec![(odd.clone(), "v".into())],
            mounts: vec![
                Mount::ReadOnly {
                    path: "/usr".into(),
                },
                Mount::Mask {
                    path: PathBuf::from(odd.clone()),
                    is_dir: false,
                },
                Mount::Symlink {
                    path: "/bin".into(),
                    target: "usr/bin".into(),
                },
            ],
            network: NetworkMode::Proxy,
            backend: Backend::Landlock,
            die_with_parent: false,
            proxy: Some(sandspawn_linux::spec::ProxyBridge {
                host: "proxy.corp".into(),
                port: 3128,
                inside_port: 3128,
                origin: "HTTPS_PROXY".into(),
                display: "http://proxy.corp:3128".into(),
                authorization: Some("Basic YTpi".into()),
                socks_login: Some(sandspawn_linux::SocksLogin {
                    username: "u".into(),
                    password: "p".into(),
                }),
                socks: true,
                allow_local: true,
            }),
            checks: Vec::new(),
            pins: vec![Pin {
                path: PathBuf::from(odd.clone()),
                id: FileId {
                    dev: u64::MAX,
                    ino: 7,
                },
            }],
        };
        let text = encode(&spec);
        assert_eq!(decode(OsStr::new(&text)).unwrap(), spec);
        assert!(decode(OsStr::new("{")).is_err());
    }

    /// A spec past one environment entry's limit is split over several,
    /// each within it, and put back together.
    #[test]
    fn a_large_spec_is_split_over_variables_within_the_kernels_limit() {
        let spec = |env: Vec<(OsString, OsString)>| SandboxSpec {
            program: "/bin/sh".into(),
            args: Vec::new(),
            cwd: "/".into(),
            env,
            mounts: Vec::new(),
            network: NetworkMode::Full,
            backend: Backend::Bwrap,
            die_with_parent: true,
            proxy: None,
            checks: Vec::new(),
            pins: Vec::new(),
        };
        let big = spec(vec![("BIG".into(), "x".repeat(100_000).into())]);
        let vars = to_env(&big);
        let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, [SPEC_VAR, "SANDSPAWN_SPEC_1", "SANDSPAWN_SPEC_2"]);
        assert!(vars.iter().all(|(n, v)| n.len() + v.len() + 2 <= 32 * 4096));
        let get = |name: &str| {
            vars.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| OsString::from(v))
        };
        assert_eq!(from_env(get).unwrap(), big);
        let small = to_env(&spec(Vec::new()));
        assert_eq!(small.len(), 1);
    }
}
