//! Whether an input certificate can vouch for a server: a CA
//! (basicConstraints cA=true) that has not expired. A proxy's leaf
//! certificate or an expired CA is what users most often point a trust
//! variable at by mistake; TLS then fails inside the child with "unable to
//! get local issuer certificate", far from the cause. Such certificates are
//! kept (the user chose them) and named in one warning per input.

use std::path::Path;

use x509_parser::prelude::*;

use super::Origin;

/// Why a certificate cannot vouch for a server.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Unfit {
    /// basicConstraints absent (`None`) or cA=false.
    NotCa { explicit: bool },
    /// notAfter is past; the date as `YYYY-MM-DD`.
    Expired { on: String },
}

/// The subject and the first reason `der` cannot vouch at `now` (Unix
/// seconds), if any. A DER that does not parse is the sanitiser's business,
/// not this check's.
fn unfit(der: &[u8], now: i64) -> Option<(String, Unfit)> {
    let (_, cert) = parse_x509_certificate(der).ok()?;
    let why = match cert.basic_constraints() {
        Ok(Some(bc)) if bc.value.ca => None,
        Ok(Some(_)) => Some(Unfit::NotCa { explicit: true }),
        Ok(None) => Some(Unfit::NotCa { explicit: false }),
        // A duplicated or malformed extension: no client will take it as a CA.
        Err(_) => Some(Unfit::NotCa { explicit: false }),
    };
    let not_after = &cert.validity().not_after;
    let why = why.or_else(|| {
        (not_after.timestamp() < now).then(|| Unfit::Expired {
            on: not_after.to_datetime().date().to_string(),
        })
    })?;
    Some((super::printable(&cert.subject().to_string()), why))
}

/// One warning for an input whose certificates (the system store's already
/// left out by the caller) include some that cannot vouch for a server.
pub(crate) fn warning<'a>(
    origin: &Origin,
    path: &Path,
    certs: impl IntoIterator<Item = &'a [u8]>,
    now: i64,
) -> Option<String> {
    let mut unfit_certs = certs.into_iter().filter_map(|c| unfit(c, now));
    let (subject, why) = unfit_certs.next()?;
    let more = unfit_certs.count();
    let current = if matches!(why, Unfit::Expired { .. }) {
        "current "
    } else {
        ""
    };
    let fix = match origin {
        Origin::PolicyCa => format!("pass the proxy's {current}CA instead"),
        _ => format!("point the variable at the proxy's {current}CA"),
    };
    let problem = match why {
        Unfit::NotCa { explicit } => format!(
            "is not a CA ({}): it cannot sign the proxy's certificates",
            if explicit {
                "basicConstraints cA=false"
            } else {
                "no basicConstraints"
            }
        ),
        Unfit::Expired { on } => {
            format!("expired on {on}: clients reject the certificates it signs")
        }
    };
    let more = match more {
        0 => String::new(),
        1 => " (and 1 more certificate in it that cannot vouch for a server)".to_owned(),
        n => format!(" (and {n} more certificates in it that cannot vouch for a server)"),
    };
    Some(format!(
        "{}: {}: certificate '{subject}' {problem}; {fix}{more}",
        origin.describe(),
        path.display()
    ))
}
