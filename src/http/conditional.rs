//! Conditional GETs (RFC 9110 §13.1): every public 200 answer carries an `ETag` (and a `Last-Modified`
//! where it has a time of its own); a client that sends back what it was given gets a bodiless 304 when
//! nothing changed. Apps that poll the city's lists every minute then cost a header's worth of traffic.
//!
//! The answer is made as usual and compared afterwards: an `ETag` is a hash of the very bytes that would
//! have been sent, so a matching one proves the client has them. A `Last-Modified` is only as good as the
//! time it names: report lists and reports name the latest change that could alter them (see
//! `app::query::list_changed`), and a date of the current second proves nothing yet.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HttpDate};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::HttpResponse;

pub async fn conditional(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let asks = (req.method() == Method::GET || req.method() == Method::HEAD)
        && !req.path().starts_with("/staff/")
        && (req.headers().contains_key(header::IF_NONE_MATCH)
            || req.headers().contains_key(header::IF_MODIFIED_SINCE));
    if !asks {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let conditions = req.headers().clone();
    let res = next.call(req).await?;
    if res.status() != StatusCode::OK || !unchanged(&conditions, res.headers()) {
        return Ok(res.map_into_left_body());
    }
    let mut not_modified = HttpResponse::NotModified();
    // §15.4.5: the 304 carries the validators and caching headers the 200 would have had.
    for name in [
        header::ETAG,
        header::LAST_MODIFIED,
        header::CACHE_CONTROL,
        header::VARY,
        header::LINK,
        header::HeaderName::from_static("sync-cursor"),
    ] {
        if let Some(v) = res.headers().get(&name) {
            not_modified.insert_header((name, v.clone()));
        }
    }
    Ok(res
        .into_response(not_modified.finish())
        .map_into_right_body())
}

/// Whether the request's conditions say the client already holds this answer. `If-None-Match` decides when
/// present (§13.2.2: `If-Modified-Since` is then ignored), compared weakly (§8.8.3.2).
fn unchanged(request: &HeaderMap, answer: &HeaderMap) -> bool {
    if let Some(wanted) = request.get(header::IF_NONE_MATCH) {
        let Some(tag) = answer.get(header::ETAG).and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let Ok(wanted) = wanted.to_str() else {
            return false;
        };
        let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
        return wanted
            .split(',')
            .any(|w| w.trim() == "*" || bare(w) == bare(tag));
    }
    let date = |map: &HeaderMap, name| {
        map.get(name)
            .and_then(|v: &header::HeaderValue| v.to_str().ok())
            .and_then(|s| s.parse::<HttpDate>().ok())
            .map(std::time::SystemTime::from)
    };
    match (
        date(request, header::IF_MODIFIED_SINCE),
        date(answer, header::LAST_MODIFIED),
    ) {
        // Dates have whole seconds: one of this very second may hide a change made later in it (§8.8.2.2),
        // so it proves nothing yet.
        (Some(since), Some(modified)) => {
            modified <= since
                && modified + std::time::Duration::from_secs(1) <= std::time::SystemTime::now()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(k.clone(), header::HeaderValue::from_str(v).unwrap());
        }
        m
    }

    #[test]
    fn entity_tags_decide_before_dates() {
        let answer = map(&[
            (header::ETAG, "\"abc-1\""),
            (header::LAST_MODIFIED, "Mon, 07 Dec 2020 03:00:00 GMT"),
        ]);
        let inm = |v: &str| map(&[(header::IF_NONE_MATCH, v)]);
        assert!(unchanged(&inm("\"abc-1\""), &answer));
        assert!(unchanged(&inm("\"x\", W/\"abc-1\""), &answer));
        assert!(unchanged(&inm("*"), &answer));
        assert!(!unchanged(&inm("\"abc-2\""), &answer));
        // A date that would match is ignored when the tag does not.
        let both = map(&[
            (header::IF_NONE_MATCH, "\"old\""),
            (header::IF_MODIFIED_SINCE, "Mon, 07 Dec 2020 04:00:00 GMT"),
        ]);
        assert!(!unchanged(&both, &answer));
    }

    #[test]
    fn dates_compare_to_the_second() {
        let answer = map(&[
            (header::ETAG, "\"abc-1\""),
            (header::LAST_MODIFIED, "Mon, 07 Dec 2020 03:00:00 GMT"),
        ]);
        let ims = |v: &str| map(&[(header::IF_MODIFIED_SINCE, v)]);
        assert!(unchanged(&ims("Mon, 07 Dec 2020 03:00:00 GMT"), &answer));
        // Ahead by a few seconds, so that a second boundary while the test runs changes nothing.
        let soon = std::time::SystemTime::now() + std::time::Duration::from_secs(5);
        let soon = header::HttpDate::from(soon).to_string();
        let fresh = map(&[(header::ETAG, "\"abc-1\""), (header::LAST_MODIFIED, &soon)]);
        assert!(
            !unchanged(&ims(&soon), &fresh),
            "a date of this very second proves nothing"
        );
        assert!(unchanged(&ims("Mon, 07 Dec 2020 03:00:01 GMT"), &answer));
        assert!(!unchanged(&ims("Mon, 07 Dec 2020 02:59:59 GMT"), &answer));
        assert!(!unchanged(&ims("yesterday"), &answer));
        assert!(!unchanged(
            &ims("Mon, 07 Dec 2020 03:00:00 GMT"),
            &map(&[(header::ETAG, "\"abc-1\"")])
        ));
    }
}
