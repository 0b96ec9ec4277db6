//! What operators read on the command line: the delivery queue, and one report with its routing trace,
//! deliveries and history. Personal data is shown here on purpose (operators need to call reporters back), so
//! these views are for the command line only, never for an HTTP response.

use crate::config::DbArgs;
use crate::routing::RoutingTrace;
use crate::store::deliveries::{self as dl, DeliveryRow};
use crate::store::{requests as rq, Store};
use anyhow::Context;
use std::path::Path;

/// A delivery as operators list it. Its times are the mail server's business, across jurisdictions: in UTC,
/// and said so.
fn line(d: &DeliveryRow) -> String {
    let utc = |t: chrono::NaiveDateTime| crate::domain::format_w3c(t.and_utc(), 0);
    let next = match d.state.as_str() {
        dl::RETRYING | dl::QUEUED => format!(" next {}", utc(d.next_attempt_at)),
        dl::SENT => d
            .sent_at
            .map(|t| format!(" at {}", utc(t)))
            .unwrap_or_default(),
        _ => String::new(),
    };
    format!(
        "{:<20} request {:<7} {:<9} attempts {:<2} {}{} → {}{}{}",
        d.id,
        d.request_id,
        d.state,
        d.attempts,
        utc(d.created_at),
        next,
        d.recipient,
        if d.is_fallback { " (fallback)" } else { "" },
        d.last_error
            .as_deref()
            .map(|e| format!("\n{:<20} reason: {e}", ""))
            .unwrap_or_default()
    )
}

pub fn deliveries(
    db: &DbArgs,
    retry: Option<&str>,
    retry_failed: bool,
    all: bool,
) -> anyhow::Result<()> {
    let store = Store::open(&db.database_url)?;
    let now = chrono::Utc::now().naive_utc();
    if retry.is_some() || retry_failed {
        let n = store.write_blocking(|conn| dl::retry_now(conn, retry, now))?;
        if n == 0 {
            anyhow::bail!(
                "nothing to retry{}",
                retry.map(|id| format!(" with id {id}")).unwrap_or_default()
            );
        }
        println!(
            "{n} deliver{} will be tried again by the next worker run",
            if n == 1 { "y" } else { "ies" }
        );
        return Ok(());
    }
    let states: &[&str] = if all {
        &[dl::QUEUED, dl::SENDING, dl::RETRYING, dl::FAILED, dl::SENT]
    } else {
        &[dl::QUEUED, dl::SENDING, dl::RETRYING, dl::FAILED]
    };
    let rows = store.read_blocking(|conn| dl::in_states(conn, states, 1000))?;
    if rows.is_empty() {
        println!(
            "no {}deliveries",
            if all {
                ""
            } else {
                "pending, retrying or failed "
            }
        );
    }
    for d in rows {
        println!("{}", line(&d));
    }
    Ok(())
}

pub fn show_request(db: &DbArgs, id: i64) -> anyhow::Result<()> {
    let store = Store::open(&db.database_url)?;
    let (request, deliveries, events, zone) = store.read_blocking(|conn| {
        let request = rq::get_any(conn, id)?;
        // The city's own time, as its public answers show it.
        let zone = match &request {
            Some(r) => crate::store::catalog::jurisdiction_row(conn, &r.jurisdiction_id)?
                .map(|j| crate::domain::Jurisdiction::from(j).zone),
            None => None,
        }
        .unwrap_or(crate::domain::Zone::Fixed(0));
        Ok((
            request,
            dl::of_request(conn, id)?,
            dl::events_of(conn, id)?,
            zone,
        ))
    })?;
    let Some(r) = request else {
        anyhow::bail!("no request {id}")
    };
    println!(
        "request {} · {} · {} · {}",
        r.id,
        r.service_code,
        r.status,
        crate::domain::format_w3c(r.requested_at.and_utc(), zone)
    );
    let place = match (r.lat, r.long) {
        (Some(lat), Some(long)) => format!("{lat}, {long}"),
        _ => r
            .address
            .clone()
            .or(r.address_id.clone())
            .unwrap_or_else(|| "-".into()),
    };
    println!("location: {place}");
    println!(
        "department: {}",
        r.agency_responsible.as_deref().unwrap_or("none")
    );
    match r
        .routing_trace
        .as_deref()
        .and_then(|t| serde_json::from_str::<RoutingTrace>(t).ok())
    {
        Some(t) => {
            println!("routing ({}): {}", t.by, t.reason);
            for a in &t.matched_areas {
                println!("  in   {} {} ({})", a.layer, a.name, a.code);
            }
            for a in &t.near_areas {
                println!(
                    "  near {} {} ({}), {} m",
                    a.layer, a.name, a.code, a.distance_m
                );
            }
            for w in &t.warnings {
                println!("  warning: {w}");
            }
        }
        None => println!("routing: none recorded"),
    }
    println!("deliveries:");
    if deliveries.is_empty() {
        println!("  none");
    }
    for d in &deliveries {
        println!("  {}", line(d));
    }
    println!("history:");
    for e in &events {
        println!(
            "  {} {} {}: {}",
            crate::domain::format_w3c(e.at.and_utc(), zone),
            e.actor,
            e.action,
            e.detail.as_deref().unwrap_or("")
        );
    }
    Ok(())
}

/// `civic311 export`: the whole public dataset in a bulk format, written a page at a time by the same code
/// as `requests.csv?all=true`, with a progress line on a terminal. A file is written beside its target and
/// renamed when complete, so a portal never picks up half an export.
pub async fn export(
    state: &crate::app::AppState,
    format: &str,
    query: crate::app::ListQuery,
    extensions: bool,
    output: Option<&Path>,
) -> anyhow::Result<()> {
    use crate::http::opendata::Bulk;
    use std::io::{IsTerminal, Write};
    let fail = |e: crate::error::ApiError| anyhow::anyhow!(e.descriptions().join("; "));
    let bulk = match format {
        "geojson" => Bulk::GeoJson { extensions },
        _ => {
            let codes = match query.service_codes.as_deref() {
                Some([only]) => {
                    let (_, defs) = crate::app::service_definition(
                        state,
                        query.jurisdiction_id.as_deref(),
                        only,
                        query.locale.as_deref(),
                    )
                    .await
                    .map_err(fail)?;
                    defs.into_iter()
                        .filter(|d| d.variable)
                        .map(|d| d.code)
                        .collect()
                }
                _ => Vec::new(),
            };
            Bulk::Csv { codes }
        }
    };
    let mut export = crate::app::export(state, query).await.map_err(fail)?;
    let progress = std::io::stderr().is_terminal();
    let total = if progress {
        export.total().await.map_err(fail)?
    } else {
        0
    };
    let (mut out, partial): (Box<dyn Write>, Option<std::path::PathBuf>) = match output {
        Some(path) => {
            let mut name = path.file_name().unwrap_or_default().to_os_string();
            name.push(".partial");
            let partial = path.with_file_name(name);
            let file = std::fs::File::create(&partial)
                .with_context(|| format!("creating {}", partial.display()))?;
            (Box::new(std::io::BufWriter::new(file)), Some(partial))
        }
        None => (
            Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
            None,
        ),
    };
    let mut written = 0usize;
    let result: anyhow::Result<()> = async {
        out.write_all(&bulk.head())?;
        while let Some(page) = export.next_page().await.map_err(fail)? {
            out.write_all(&bulk.reports(&page, export.zone, written == 0))?;
            written += page.len();
            if progress {
                let pct = if total > 0 {
                    (written as f64 * 100.0 / total as f64).min(100.0)
                } else {
                    100.0
                };
                eprint!("\rexported {written} of {total} reports ({pct:.0} %)");
            }
        }
        out.write_all(&bulk.tail())?;
        out.flush()?;
        Ok(())
    }
    .await;
    drop(out);
    if progress {
        eprintln!();
    }
    match (result, partial, output) {
        (Ok(()), Some(partial), Some(path)) => {
            // On disk before it takes the final name, and the name on disk before we say it is done.
            std::fs::File::open(&partial)?.sync_all()?;
            std::fs::rename(&partial, path)
                .with_context(|| format!("renaming {} to {}", partial.display(), path.display()))?;
            let dir = path
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            std::fs::File::open(dir)?.sync_all()?;
            eprintln!("{written} reports written to {}", path.display());
            Ok(())
        }
        (Ok(()), _, _) => Ok(()),
        (Err(e), partial, _) => {
            if let Some(p) = partial {
                let _ = std::fs::remove_file(p);
            }
            Err(e)
        }
    }
}
