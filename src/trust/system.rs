//! Finding the distribution's CA bundle.
//!
//! Found by well-known distro paths only, never through `SSL_CERT_FILE`: that
//! variable is an *input* (often the proxy's lone CA), and treating it as the
//! system store would make "extras = inputs − system" come out empty.

use std::path::{Path, PathBuf};

/// Distro bundle files, most common first. The first one that exists as a
/// regular file (after following symlinks) wins.
pub(crate) const CANDIDATES: &[&str] = &[
    // Debian, Ubuntu
    "etc/ssl/certs/ca-certificates.crt",
    // Fedora, RHEL, CentOS
    "etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    "etc/pki/tls/certs/ca-bundle.crt",
    // openSUSE, SLES
    "var/lib/ca-certificates/ca-bundle.pem",
    "etc/ssl/ca-bundle.pem",
    // Arch
    "etc/ca-certificates/extracted/tls-ca-bundle.pem",
    // Alpine
    "etc/ssl/cert.pem",
];

/// Pure: the first candidate under `root` for which `is_file` says yes.
pub(crate) fn find_with(root: &Path, is_file: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    CANDIDATES
        .iter()
        .map(|rel| root.join(rel))
        .find(|p| is_file(p))
}

/// The real probe: `stat` (follows symlinks, as distros link these around).
pub(crate) fn find(root: &Path) -> Option<PathBuf> {
    find_with(root, |p| std::fs::metadata(p).is_ok_and(|m| m.is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_existing_candidate_wins_in_order() {
        let root = Path::new("/r");
        let only = |want: &'static [&'static str]| {
            move |p: &Path| want.iter().any(|w| p == Path::new("/r").join(w))
        };
        assert_eq!(find_with(root, only(&[])), None);
        assert_eq!(
            find_with(root, only(&["etc/ssl/cert.pem"])),
            Some(PathBuf::from("/r/etc/ssl/cert.pem"))
        );
        assert_eq!(
            find_with(
                root,
                only(&["etc/ssl/cert.pem", "etc/pki/tls/certs/ca-bundle.crt"])
            ),
            Some(PathBuf::from("/r/etc/pki/tls/certs/ca-bundle.crt"))
        );
        assert!(CANDIDATES.iter().all(|c| !c.starts_with('/')));
    }

    #[test]
    fn real_probe_follows_symlinks_and_skips_dirs() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc/ssl/certs/ca-certificates.crt")).unwrap();
        assert_eq!(find(root.path()), None, "a directory is not a bundle");
        std::fs::create_dir_all(root.path().join("etc/pki/tls/certs")).unwrap();
        std::fs::write(root.path().join("real.pem"), b"x").unwrap();
        let link = root.path().join("etc/pki/tls/certs/ca-bundle.crt");
        std::os::unix::fs::symlink(root.path().join("real.pem"), &link).unwrap();
        assert_eq!(find(root.path()), Some(link));
    }
}
