//! What the helper stage enforces: Landlock rules and the network mode.
//!
//! The policy travels to the helper in its argv (never through a file or the
//! environment): `--read PATH`, `--write PATH`, `--net MODE`, `--landlock
//! required|best-effort`, then `--` and the target command. Paths stay
//! `OsString` end to end; the argv is replaced by the target's at exec, so
//! nothing of it stays visible in the child.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

use crate::spec::{FileId, Mount, NetworkMode, Pin, SandboxSpec};
use crate::verify::{Check, Expect};

/// Access granted beneath one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Nothing (a mask).
    None,
    /// List directories only (the bwrap root: its entries are the mounts).
    List,
    /// Read files, list directories, execute.
    Read,
    /// Everything Landlock knows.
    Write,
}

/// Whether a failure to enforce Landlock stops the spawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// Fail closed when the kernel cannot enforce the ruleset.
    Required,
    /// Enforce what the kernel offers (inside bwrap, a second layer).
    BestEffort,
}

/// The helper's whole input besides the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelperPolicy {
    /// Landlock rules, in order: `(path, level)`, `Level::None` never appears.
    pub rules: Vec<(PathBuf, Level)>,
    /// Network mode (seccomp socket filter, Landlock TCP rules).
    pub network: NetworkMode,
    /// Whether Landlock must be enforced.
    pub landlock: Requirement,
    /// Network `proxy`: the loopback port of the inside listener.
    pub proxy_port: Option<u16>,
    /// `explain --verify`: run these once confined instead of the command.
    pub checks: Vec<Check>,
    /// The command's stdout, handed past bwrap on this descriptor: the
    /// helper moves it to 1 before the exec (see `run_bwrap`).
    pub stdout_fd: Option<i32>,
    /// Roots checked by identity before anything is granted
    /// ([`crate::pin`]): `--pin PATH DEV:INO`.
    pub pins: Vec<Pin>,
}

impl HelperPolicy {
    /// The policy inside bwrap: the spec's binds become Landlock rules over
    /// the same paths, plus the private `/dev` (writable) and `/proc` (read).
    /// Masks need no rule: the mount already hides them.
    pub fn for_bwrap(spec: &SandboxSpec) -> Self {
        let mut rules: Vec<(PathBuf, Level)> = std::iter::once(("/".into(), Level::List))
            .chain(spec.mounts.iter().filter_map(|m| match m {
                Mount::ReadOnly { path } => Some((path.clone(), Level::Read)),
                Mount::ReadWrite { path } | Mount::Tmpfs { path } => {
                    Some((path.clone(), Level::Write))
                }
                Mount::Mask { .. } | Mount::Symlink { .. } => None,
            }))
            .collect();
        rules.push(("/dev".into(), Level::Write));
        rules.push(("/proc".into(), Level::Read));
        HelperPolicy {
            rules,
            network: spec.network,
            landlock: Requirement::BestEffort,
            proxy_port: spec
                .proxy
                .as_ref()
                .filter(|_| spec.network == NetworkMode::Proxy)
                .map(|p| p.inside_port),
            checks: spec.checks.clone(),
            stdout_fd: None,
            // A bind bwrap leaves out (the sandbox's own /proc and /dev
            // answer it) is no mount of the host's object to check.
            pins: (spec.pins.iter())
                .filter(|pin| {
                    let last = spec.mounts.iter().rev().find(|m| m.path() == pin.path);
                    last.is_some_and(|m| {
                        !crate::bwrap::binds_host_proc(m) && !crate::bwrap::binds_private_dev(m)
                    })
                })
                .cloned()
                .collect(),
        }
    }

    /// The paths granted something to read or write (not the bwrap root's
    /// listing): what `explain --verify` may see inside a hidden directory.
    pub fn granted(&self) -> Vec<PathBuf> {
        self.rules
            .iter()
            .filter(|(_, level)| matches!(level, Level::Read | Level::Write))
            .map(|(path, _)| path.clone())
            .collect()
    }

    /// Render as helper arguments (without the trailing `-- COMMAND`).
    pub fn to_args(&self) -> Vec<OsString> {
        let mut out = Vec::with_capacity(self.rules.len() * 2 + 4);
        for (path, level) in &self.rules {
            let flag = match level {
                Level::List => "--list",
                Level::Read => "--read",
                Level::Write => "--write",
                Level::None => continue,
            };
            out.push(flag.into());
            out.push(path.clone().into_os_string());
        }
        out.push("--net".into());
        out.push(self.network.to_string().into());
        if let Some(port) = self.proxy_port {
            out.push("--proxy-port".into());
            out.push(port.to_string().into());
        }
        for check in &self.checks {
            out.push("--check".into());
            out.push(check.expect.as_str().into());
            out.push(check.label.clone());
            out.push(check.path.clone().into_os_string());
        }
        for pin in &self.pins {
            out.push("--pin".into());
            out.push(pin.path.clone().into_os_string());
            out.push(format!("{}:{}", pin.id.dev, pin.id.ino).into());
        }
        if let Some(fd) = self.stdout_fd {
            out.push("--stdout-fd".into());
            out.push(fd.to_string().into());
        }
        out.push("--landlock".into());
        out.push(
            match self.landlock {
                Requirement::Required => "required",
                Requirement::BestEffort => "best-effort",
            }
            .into(),
        );
        out
    }

    /// Parse helper arguments: the policy, then `--` and the command.
    pub fn from_args(args: &[OsString]) -> Result<(Self, Vec<OsString>), ArgsError> {
        let mut policy = HelperPolicy {
            rules: Vec::new(),
            network: NetworkMode::None,
            landlock: Requirement::Required,
            proxy_port: None,
            checks: Vec::new(),
            stdout_fd: None,
            pins: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            if flag == "--" {
                let command: Vec<OsString> = it.cloned().collect();
                if command.is_empty() {
                    return Err(ArgsError::NoCommand);
                }
                // `proxy` allows inet sockets and leaves TCP to the network
                // namespace bwrap makes, whose only way out is the inside
                // listener: without that listener the helper runs outside
                // bwrap, and the command would have the host's network.
                if policy.network == NetworkMode::Proxy && policy.proxy_port.is_none() {
                    return Err(ArgsError::ProxyOutsideBwrap);
                }
                return Ok((policy, command));
            }
            // The flag is named before its value is looked for: a word that
            // is no flag (a command without `--` before it) or a last
            // `--help` is unknown, not a flag missing its value.
            if !KNOWN_FLAGS.contains(&flag.to_str().unwrap_or("")) {
                return Err(ArgsError::UnknownFlag(flag.clone()));
            }
            let value = it
                .next()
                .ok_or_else(|| ArgsError::MissingValue(flag.clone()))?;
            if flag == "--check" {
                let expect = value
                    .to_str()
                    .and_then(Expect::parse)
                    .ok_or_else(|| ArgsError::BadValue(flag.clone(), value.clone()))?;
                let (Some(label), Some(path)) = (it.next(), it.next()) else {
                    return Err(ArgsError::MissingValue(flag.clone()));
                };
                policy.checks.push(Check {
                    expect,
                    label: label.clone(),
                    path: path.into(),
                });
                continue;
            }
            if flag == "--pin" {
                let text = it
                    .next()
                    .ok_or_else(|| ArgsError::MissingValue(flag.clone()))?;
                let id = parse_id(text)
                    .ok_or_else(|| ArgsError::BadValue(flag.clone(), text.clone()))?;
                if value.is_empty() {
                    return Err(ArgsError::BadValue(flag.clone(), value.clone()));
                }
                policy.pins.push(Pin {
                    path: value.into(),
                    id,
                });
                continue;
            }
            let is_rule = matches!(flag.to_str(), Some("--list" | "--read" | "--write"));
            if is_rule && value.is_empty() {
                // It would open nothing and grant nothing, silently.
                return Err(ArgsError::BadValue(flag.clone(), value.clone()));
            }
            match flag.to_str() {
                Some("--list") => policy.rules.push((value.into(), Level::List)),
                Some("--read") => policy.rules.push((value.into(), Level::Read)),
                Some("--write") => policy.rules.push((value.into(), Level::Write)),
                Some("--net") => policy.network = parse_net(value)?,
                Some("--proxy-port") => {
                    let port = value.to_str().and_then(|v| v.parse::<u16>().ok());
                    match port {
                        Some(p) if p != 0 => policy.proxy_port = Some(p),
                        _ => return Err(ArgsError::BadValue(flag.clone(), value.clone())),
                    }
                }
                Some("--stdout-fd") => match value.to_str().and_then(|v| v.parse::<i32>().ok()) {
                    Some(fd) if fd > 2 => policy.stdout_fd = Some(fd),
                    _ => return Err(ArgsError::BadValue(flag.clone(), value.clone())),
                },
                Some("--landlock") => {
                    policy.landlock = match value.to_str() {
                        Some("required") => Requirement::Required,
                        Some("best-effort") => Requirement::BestEffort,
                        _ => return Err(ArgsError::BadValue(flag.clone(), value.clone())),
                    }
                }
                _ => return Err(ArgsError::UnknownFlag(flag.clone())),
            }
        }
        Err(ArgsError::NoCommand)
    }
}

/// Every flag [`HelperPolicy::from_args`] accepts (each takes a value).
const KNOWN_FLAGS: &[&str] = &[
    "--list",
    "--read",
    "--write",
    "--net",
    "--proxy-port",
    "--check",
    "--stdout-fd",
    "--landlock",
    "--pin",
];

/// `DEV:INO`, both decimal.
fn parse_id(text: &OsStr) -> Option<FileId> {
    let (dev, ino) = text.to_str()?.split_once(':')?;
    Some(FileId {
        dev: dev.parse().ok()?,
        ino: ino.parse().ok()?,
    })
}

fn parse_net(value: &OsStr) -> Result<NetworkMode, ArgsError> {
    match value.to_str() {
        Some("none") => Ok(NetworkMode::None),
        Some("proxy") => Ok(NetworkMode::Proxy),
        Some("full") => Ok(NetworkMode::Full),
        _ => Err(ArgsError::BadValue("--net".into(), value.to_os_string())),
    }
}

/// The helper's public flags, for the errors a person calling
/// `sandspawn-linux-sandbox` by hand meets first (`--help`, a missing `--`);
/// the flags bwrap's stage adds are sandspawn's own and stay unlisted.
const USAGE: &str = "usage: sandspawn-linux-sandbox [--read PATH]... [--write PATH]... [--net none|full] [--landlock required|best-effort] -- CMD [ARGS]";

/// A malformed helper command line: from a host calling the helper itself
/// (documented), or a bug in sandspawn's own call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgsError {
    /// An unknown flag.
    #[error("unknown helper flag {0:?}; {USAGE}")]
    UnknownFlag(OsString),
    /// A flag at the end without its value.
    #[error("helper flag {0:?} needs a value")]
    MissingValue(OsString),
    /// A value that is not one of the accepted words.
    #[error("helper flag {0:?} does not accept {1:?}")]
    BadValue(OsString, OsString),
    /// No `-- COMMAND` after the policy.
    #[error("no command after `--`; {USAGE}")]
    NoCommand,
    /// `--net proxy` without the bwrap backend's inside listener.
    #[error("`--net proxy` works only inside the bwrap backend's network namespace (with --proxy-port); called directly, the command would reach the host's network: use `--net none` or `--net full`")]
    ProxyOutsideBwrap,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStringExt;

    fn os(s: &str) -> OsString {
        s.into()
    }

    #[test]
    fn round_trip_keeps_non_utf8_paths() {
        let odd = OsString::from_vec(b"/work/\xff\xfe".to_vec());
        let policy = HelperPolicy {
            rules: vec![
                ("/usr".into(), Level::Read),
                (odd.clone().into(), Level::Write),
            ],
            network: NetworkMode::Proxy,
            landlock: Requirement::BestEffort,
            proxy_port: Some(3128),
            checks: vec![
                Check {
                    expect: Expect::Hidden,
                    label: odd.clone(),
                    path: odd.clone().into(),
                },
                Check {
                    expect: Expect::NoInet,
                    label: "network none".into(),
                    path: PathBuf::new(),
                },
            ],
            stdout_fd: Some(7),
            pins: vec![Pin {
                path: odd.clone().into(),
                id: FileId {
                    dev: 2049,
                    ino: u64::MAX,
                },
            }],
        };
        let mut args = policy.to_args();
        args.extend([os("--"), os("ls"), os("-l")]);
        let (back, cmd) = HelperPolicy::from_args(&args).unwrap();
        assert_eq!(back, policy);
        assert_eq!(cmd, vec![os("ls"), os("-l")]);
        assert_eq!(args[3], odd);
    }

    #[test]
    fn for_bwrap_maps_binds_and_adds_dev_proc() {
        let spec = SandboxSpec {
            program: os("true"),
            args: vec![],
            cwd: "/".into(),
            env: vec![],
            mounts: vec![
                Mount::ReadOnly {
                    path: "/usr".into(),
                },
                Mount::ReadWrite { path: "/ws".into() },
                Mount::Mask {
                    path: "/ws/.env".into(),
                    is_dir: false,
                },
                Mount::Tmpfs {
                    path: "/tmp".into(),
                },
                Mount::Symlink {
                    path: "/bin".into(),
                    target: "usr/bin".into(),
                },
            ],
            network: NetworkMode::None,
            backend: crate::Backend::Bwrap,
            die_with_parent: true,
            proxy: None,
            checks: Vec::new(),
            pins: Vec::new(),
        };
        let p = HelperPolicy::for_bwrap(&spec);
        let args: Vec<_> = p.to_args();
        let want: Vec<OsString> = [
            "--list",
            "/",
            "--read",
            "/usr",
            "--write",
            "/ws",
            "--write",
            "/tmp",
            "--write",
            "/dev",
            "--read",
            "/proc",
            "--net",
            "none",
            "--landlock",
            "best-effort",
        ]
        .iter()
        .map(|s| os(s))
        .collect();
        assert_eq!(args, want);
    }

    #[test]
    fn malformed_args_are_named() {
        let e = HelperPolicy::from_args(&[os("--read")]).unwrap_err();
        assert_eq!(e.to_string(), "helper flag \"--read\" needs a value");
        let e = HelperPolicy::from_args(&[os("--net"), os("wifi"), os("--"), os("x")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "helper flag \"--net\" does not accept \"wifi\""
        );
        assert_eq!(
            HelperPolicy::from_args(&[os("--")]).unwrap_err(),
            ArgsError::NoCommand
        );
        assert!(matches!(
            HelperPolicy::from_args(&[os("--bogus"), os("1")]),
            Err(ArgsError::UnknownFlag(_))
        ));
    }

    /// A last unknown word was reported as a flag missing its value
    /// (`--help`: "needs a value"; `--read / true`, the `--` forgotten:
    /// "flag \"true\" needs a value").
    #[test]
    fn an_unknown_word_is_unknown_even_without_a_value_after_it() {
        for args in [&["--help"][..], &["--read", "/", "true"][..]] {
            let args: Vec<OsString> = args.iter().map(|a| os(a)).collect();
            let e = HelperPolicy::from_args(&args).unwrap_err();
            assert_eq!(e, ArgsError::UnknownFlag(args.last().unwrap().clone()));
        }
    }

    #[test]
    fn an_empty_rule_path_is_refused() {
        let e = HelperPolicy::from_args(&[os("--read"), os(""), os("--"), os("true")]);
        assert_eq!(e, Err(ArgsError::BadValue(os("--read"), os(""))));
    }

    /// `--net proxy` from a host (no `--proxy-port`, no bwrap) allowed inet
    /// sockets with nothing else in the way: the host's whole network.
    #[test]
    fn net_proxy_without_the_inside_listener_is_refused() {
        let e =
            HelperPolicy::from_args(&[os("--net"), os("proxy"), os("--"), os("true")]).unwrap_err();
        assert_eq!(e, ArgsError::ProxyOutsideBwrap);
        assert!(e.to_string().contains("use `--net none` or `--net full`"));
        let args = [
            os("--net"),
            os("proxy"),
            os("--proxy-port"),
            os("3128"),
            os("--"),
            os("true"),
        ];
        let (policy, _) = HelperPolicy::from_args(&args).unwrap();
        assert_eq!(policy.proxy_port, Some(3128));
    }
}
