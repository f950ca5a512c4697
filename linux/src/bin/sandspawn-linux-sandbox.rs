//! The helper stage as its own binary, plus a debug runner for specs.
//!
//! `sandspawn-linux-sandbox POLICY -- CMD` (by argv\[0\]) or `... __helper
//! POLICY -- CMD` is the helper stage. `... run SPEC -- CMD` builds a
//! [`SandboxSpec`] from flags and runs it with this binary as the helper;
//! `... probe` prints what this host enforces. The escape tests use both.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::ExitCode;

use sandspawn_linux::{Backend, Mount, NetworkMode, SandboxSpec};

fn main() -> ExitCode {
    let argv: Vec<OsString> = std::env::args_os().collect();
    let debug = matches!(argv.get(1).and_then(|a| a.to_str()), Some("run" | "probe"));
    if !debug {
        if let Some(code) = sandspawn_linux::dispatch(&argv) {
            return code;
        }
    }
    let result = match argv.get(1).and_then(|a| a.to_str()) {
        Some("run") => parse_spec(&argv[2..]).map(|spec| {
            let exe = std::env::current_exe().unwrap_or_else(|_| "/proc/self/exe".into());
            sandspawn_linux::run_with_helper(&spec, &exe).to_string()
        }),
        Some("probe") => {
            let host = sandspawn_linux::probe();
            let spec = parse_spec(&argv[2..]).unwrap_or_else(|_| empty_spec());
            print!("{}", host.enforcement(&spec));
            return ExitCode::SUCCESS;
        }
        _ => Err("usage: sandspawn-linux-sandbox run|probe [SPEC FLAGS] -- CMD...".to_string()),
    };
    match result {
        Ok(e) | Err(e) => sandspawn_linux::say(format_args!("sandspawn: {e}")),
    }
    ExitCode::from(125)
}

fn empty_spec() -> SandboxSpec {
    SandboxSpec {
        program: OsString::new(),
        args: Vec::new(),
        cwd: PathBuf::from("/"),
        env: Vec::new(),
        mounts: Vec::new(),
        network: NetworkMode::None,
        backend: Backend::Auto,
        die_with_parent: true,
        proxy: None,
        checks: Vec::new(),
        pins: Vec::new(),
    }
}

/// `--backend B --net N --cwd P --env K=V --ro P --rw P --tmpfs P
/// --mask-dir P --mask-file P --symlink TARGET P -- CMD ARGS...`
fn parse_spec(args: &[OsString]) -> Result<SandboxSpec, String> {
    let mut spec = empty_spec();
    let mut it = args.iter();
    let next = |flag: &OsStr, it: &mut std::slice::Iter<'_, OsString>| {
        it.next()
            .cloned()
            .ok_or_else(|| format!("{} needs a value", flag.to_string_lossy()))
    };
    while let Some(flag) = it.next() {
        let f = flag.to_str().unwrap_or("");
        match f {
            "--" => {
                let cmd: Vec<OsString> = it.cloned().collect();
                let (program, rest) = cmd.split_first().ok_or("no command")?;
                spec.program = program.clone();
                spec.args = rest.to_vec();
                return Ok(spec);
            }
            "--backend" => {
                spec.backend = match next(flag, &mut it)?.to_str() {
                    Some("bwrap") => Backend::Bwrap,
                    Some("landlock") => Backend::Landlock,
                    _ => Backend::Auto,
                }
            }
            "--net" => {
                spec.network = match next(flag, &mut it)?.to_str() {
                    Some("full") => NetworkMode::Full,
                    Some("proxy") => NetworkMode::Proxy,
                    _ => NetworkMode::None,
                }
            }
            "--cwd" => spec.cwd = next(flag, &mut it)?.into(),
            "--env" => {
                let kv = next(flag, &mut it)?;
                let bytes = kv.as_bytes();
                let eq = bytes
                    .iter()
                    .position(|b| *b == b'=')
                    .ok_or("--env needs K=V")?;
                spec.env.push((
                    OsStr::from_bytes(&bytes[..eq]).into(),
                    OsStr::from_bytes(&bytes[eq + 1..]).into(),
                ));
            }
            "--ro" | "--rw" | "--tmpfs" | "--mask-dir" | "--mask-file" => {
                let path = PathBuf::from(next(flag, &mut it)?);
                spec.mounts.push(match f {
                    "--ro" => Mount::ReadOnly { path },
                    "--rw" => Mount::ReadWrite { path },
                    "--tmpfs" => Mount::Tmpfs { path },
                    "--mask-dir" => Mount::Mask { path, is_dir: true },
                    _ => Mount::Mask {
                        path,
                        is_dir: false,
                    },
                });
            }
            "--symlink" => {
                let target = PathBuf::from(next(flag, &mut it)?);
                let path = PathBuf::from(next(flag, &mut it)?);
                spec.mounts.push(Mount::Symlink { path, target });
            }
            _ => return Err(format!("unknown flag {}", flag.to_string_lossy())),
        }
    }
    Err("no `-- COMMAND`".into())
}
