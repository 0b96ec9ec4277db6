//! The only module that knows actix. Every URL is in `ROUTES`; the router is built from that table, so the
//! OpenAPI inventory test and the 405 `Allow` lists can never disagree with what is served.

mod cache;
mod conditional;
mod dictionary;
mod format;
mod handlers;
pub(crate) mod intake;
pub mod opendata;
mod page;
pub(crate) mod params;
pub mod render;
mod staff;
mod status;
mod wire;

pub use cache::ResponseCache;
pub use conditional::conditional;
pub use format::Format;
pub use intake::{Limits, MAX_FORM_BYTES};

use crate::error::ApiError;
use actix_web::{http::Method, web, HttpRequest, HttpResponse};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handler {
    Discovery,
    Services,
    ServiceDefinition,
    ListRequests,
    ListRequestsGeoJson,
    ListRequestsCsv,
    PostRequest,
    GetRequest,
    Token,
    Media,
    Health,
    StaffSignIn,
    StaffRefresh,
    StaffSignOut,
    StaffList,
    StaffGet,
    StaffStatus,
    StaffNote,
    StaffAssign,
    StaffHide,
    StaffUnhide,
    StaffPublish,
    StaffUsers,
    StaffCreateUser,
    StaffDisableUser,
    StaffEnableUser,
    StaffAudit,
    StaffPriority,
    StaffDuplicate,
    StaffStatuses,
    StaffApiKeys,
    StaffCreateApiKey,
    StaffRevokeApiKey,
    ListUpdates,
    PostUpdate,
    StaffUpdateUser,
    StaffErase,
    Dictionary,
    StaffEnter,
    StaffAddScan,
    StaffScan,
    Status,
    SmsInbound,
    WebHome,
    WebReportPage,
    WebReport,
    WebLookup,
}

pub struct Route {
    pub path: &'static str,
    pub methods: &'static [(&'static str, Handler)],
}

/// Every URL the server answers. Identifiers are matched up to the last `.` of their segment.
pub const ROUTES: &[Route] = &[
    Route {
        path: "/open311/discovery.{format}",
        methods: &[("GET", Handler::Discovery)],
    },
    Route {
        path: "/open311/v2/discovery.{format}",
        methods: &[("GET", Handler::Discovery)],
    },
    Route {
        path: "/open311/v2/services.{format}",
        methods: &[("GET", Handler::Services)],
    },
    Route {
        path: "/open311/v2/services/{service_code}.{format}",
        methods: &[("GET", Handler::ServiceDefinition)],
    },
    // The open311 Python client asks for the singular `service/` (GEOREPORT_V2 §5.3).
    Route {
        path: "/open311/v2/service/{service_code}.{format}",
        methods: &[("GET", Handler::ServiceDefinition)],
    },
    // Open data formats of the list, before the `{format}` route that would take them for unknown formats.
    Route {
        path: "/open311/v2/requests.geojson",
        methods: &[("GET", Handler::ListRequestsGeoJson)],
    },
    Route {
        path: "/open311/v2/requests.csv",
        methods: &[("GET", Handler::ListRequestsCsv)],
    },
    // The data dictionary of the open-data formats (docs/OPEN_DATA.md), JSON only.
    Route {
        path: "/open311/v2/dictionary.json",
        methods: &[("GET", Handler::Dictionary)],
    },
    Route {
        path: "/open311/v2/requests.{format}",
        methods: &[
            ("GET", Handler::ListRequests),
            ("POST", Handler::PostRequest),
        ],
    },
    Route {
        path: "/open311/v2/requests/{service_request_id}.{format}",
        methods: &[("GET", Handler::GetRequest)],
    },
    Route {
        path: "/open311/v2/tokens/{token}.{format}",
        methods: &[("GET", Handler::Token)],
    },
    Route {
        path: "/open311/v2/media/{file_name}",
        methods: &[("GET", Handler::Media)],
    },
    // FixMyStreet's status-update extension (GEOREPORT_V2 §4.6).
    Route {
        path: "/open311/v2/servicerequestupdates.{format}",
        methods: &[("GET", Handler::ListUpdates), ("POST", Handler::PostUpdate)],
    },
    // A report's status by its reference code, in one SMS (docs/INTAKE.md).
    Route {
        path: "/status/{code}",
        methods: &[("GET", Handler::Status)],
    },
    Route {
        path: "/sms/inbound",
        methods: &[("POST", Handler::SmsInbound)],
    },
    // The plain web page for any phone (docs/INTAKE.md).
    Route {
        path: "/",
        methods: &[("GET", Handler::WebHome)],
    },
    Route {
        path: "/report",
        methods: &[
            ("GET", Handler::WebReportPage),
            ("POST", Handler::WebReport),
        ],
    },
    Route {
        path: "/lookup",
        methods: &[("GET", Handler::WebLookup)],
    },
    Route {
        path: "/health",
        methods: &[("GET", Handler::Health)],
    },
    // The staff API: JSON only, a Bearer access token on every route but sign-in and refresh.
    Route {
        path: "/staff/v1/session",
        methods: &[
            ("POST", Handler::StaffSignIn),
            ("DELETE", Handler::StaffSignOut),
        ],
    },
    Route {
        path: "/staff/v1/session/refresh",
        methods: &[("POST", Handler::StaffRefresh)],
    },
    Route {
        path: "/staff/v1/requests",
        methods: &[("GET", Handler::StaffList), ("POST", Handler::StaffEnter)],
    },
    Route {
        path: "/staff/v1/requests/{id}/scans",
        methods: &[("POST", Handler::StaffAddScan)],
    },
    Route {
        path: "/staff/v1/requests/{id}/scans/{scan_id}",
        methods: &[("GET", Handler::StaffScan)],
    },
    Route {
        path: "/staff/v1/requests/{id}",
        methods: &[("GET", Handler::StaffGet)],
    },
    Route {
        path: "/staff/v1/requests/{id}/status",
        methods: &[("POST", Handler::StaffStatus)],
    },
    Route {
        path: "/staff/v1/requests/{id}/notes",
        methods: &[("POST", Handler::StaffNote)],
    },
    Route {
        path: "/staff/v1/requests/{id}/assign",
        methods: &[("POST", Handler::StaffAssign)],
    },
    Route {
        path: "/staff/v1/requests/{id}/hide",
        methods: &[("POST", Handler::StaffHide)],
    },
    Route {
        path: "/staff/v1/requests/{id}/unhide",
        methods: &[("POST", Handler::StaffUnhide)],
    },
    Route {
        path: "/staff/v1/requests/{id}/publish",
        methods: &[("POST", Handler::StaffPublish)],
    },
    Route {
        path: "/staff/v1/users",
        methods: &[
            ("GET", Handler::StaffUsers),
            ("POST", Handler::StaffCreateUser),
        ],
    },
    Route {
        path: "/staff/v1/users/{id}/disable",
        methods: &[("POST", Handler::StaffDisableUser)],
    },
    Route {
        path: "/staff/v1/users/{id}/enable",
        methods: &[("POST", Handler::StaffEnableUser)],
    },
    Route {
        path: "/staff/v1/audit",
        methods: &[("GET", Handler::StaffAudit)],
    },
    Route {
        path: "/staff/v1/requests/{id}/priority",
        methods: &[("POST", Handler::StaffPriority)],
    },
    Route {
        path: "/staff/v1/requests/{id}/duplicate",
        methods: &[("POST", Handler::StaffDuplicate)],
    },
    Route {
        path: "/staff/v1/statuses",
        methods: &[("GET", Handler::StaffStatuses)],
    },
    Route {
        path: "/staff/v1/users/{id}",
        methods: &[("POST", Handler::StaffUpdateUser)],
    },
    Route {
        path: "/staff/v1/apikeys",
        methods: &[
            ("GET", Handler::StaffApiKeys),
            ("POST", Handler::StaffCreateApiKey),
        ],
    },
    Route {
        path: "/staff/v1/apikeys/{id}/revoke",
        methods: &[("POST", Handler::StaffRevokeApiKey)],
    },
    Route {
        path: "/staff/v1/erasures",
        methods: &[("POST", Handler::StaffErase)],
    },
];

/// In front of every handler: counts each public request against its client address's quota before
/// anything else is done with it (a client past its quota costs one lookup, whatever its body), and makes
/// sure that a body left unread closes its connection. Staff routes have their own sign-in throttle;
/// `/health` is for load balancers.
pub async fn guard(
    mut req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<
    actix_web::dev::ServiceResponse<actix_web::body::EitherBody<impl actix_web::body::MessageBody>>,
    actix_web::Error,
> {
    use crate::limits::{Bucket, RateLimits};
    let body = Parked::take(&mut req);
    let path = req.path();
    let bucket = if path.starts_with("/staff/") || path == "/health" {
        None
    } else if req.method() == Method::POST && path != "/sms/inbound" {
        Some(Bucket::Post)
    } else if req.method() == Method::GET || req.method() == Method::HEAD || path == "/sms/inbound"
    {
        // An SMS status question is a read, whoever relays it.
        Some(Bucket::Read)
    } else {
        None
    };
    if let (Some(bucket), Some(limits)) = (bucket, req.app_data::<web::Data<RateLimits>>()) {
        if let Some(client) = client_ip(req.request()) {
            if let Err(secs) = limits.check_address(bucket, client) {
                body.hold();
                let answer = Format::guess(req.path()).error(&ApiError::TooManyRequests(secs));
                return Ok(req.into_response(answer).map_into_right_body());
            }
        }
    }
    let res = next.call(req).await?;
    if !res.status().is_success() {
        body.hold();
    }
    Ok(res.map_into_left_body())
}

/// The client as the rate limits, the sign-in throttle and the audit log see it: the TCP peer, or the client
/// a trusted proxy forwards for.
pub(crate) fn client_ip(req: &HttpRequest) -> Option<std::net::IpAddr> {
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    match req.app_data::<web::Data<crate::limits::RateLimits>>() {
        Some(limits) => limits.client(req.peer_addr(), forwarded),
        None => req.peer_addr().map(|a| a.ip()),
    }
}

/// A request body shared between the handler and the guard. actix keeps reading a chunked body that its
/// handler dropped unread, to keep the connection for the next request, for as long as the client sends:
/// an endless body would hold the connection forever. While someone still holds the body, actix instead
/// answers with `Connection: close` and closes after a short linger; so an answer that may have left the
/// body unread holds it a little longer than the answer takes to leave.
struct Parked(Option<std::rc::Rc<std::cell::RefCell<actix_web::dev::Payload>>>);

impl Parked {
    fn take(req: &mut actix_web::dev::ServiceRequest) -> Self {
        let headers = req.headers();
        let has_body = headers.contains_key(actix_web::http::header::TRANSFER_ENCODING)
            || headers
                .get(actix_web::http::header::CONTENT_LENGTH)
                .is_some_and(|v| v.as_bytes() != b"0");
        if !has_body {
            return Self(None);
        }
        use actix_web::HttpMessage;
        let inner = std::rc::Rc::new(std::cell::RefCell::new(req.take_payload()));
        let shared = inner.clone();
        let stream = futures_util::stream::poll_fn(move |cx| {
            use futures_util::StreamExt;
            shared.borrow_mut().poll_next_unpin(cx)
        });
        req.set_payload(actix_web::dev::Payload::Stream {
            payload: Box::pin(stream),
        });
        Self(Some(inner))
    }

    fn hold(self) {
        if let Some(body) = self.0 {
            actix_web::rt::spawn(async move {
                tokio::time::sleep(std::time::Duration::from_secs(5)).await;
                drop(body);
            });
        }
    }
}

fn to_route(method: &str, handler: Handler) -> actix_web::Route {
    let route = web::route().method(Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET));
    match handler {
        Handler::Discovery => route.to(handlers::discovery),
        Handler::Services => route.to(handlers::services),
        Handler::ServiceDefinition => route.to(handlers::service_definition),
        Handler::ListRequests => route.to(handlers::list_requests),
        Handler::ListRequestsGeoJson | Handler::ListRequestsCsv => {
            route.to(opendata::requests_bulk)
        }
        Handler::PostRequest => route.to(handlers::post_request),
        Handler::GetRequest => route.to(handlers::get_request),
        Handler::Token => route.to(handlers::token),
        Handler::Media => route.to(handlers::media),
        Handler::Health => route.to(handlers::health),
        Handler::StaffSignIn => route.to(staff::sign_in),
        Handler::StaffRefresh => route.to(staff::refresh),
        Handler::StaffSignOut => route.to(staff::sign_out),
        Handler::StaffList => route.to(staff::list),
        Handler::StaffGet => route.to(staff::get),
        Handler::StaffStatus => route.to(staff::set_status),
        Handler::StaffNote => route.to(staff::add_note),
        Handler::StaffAssign => route.to(staff::assign),
        Handler::StaffHide => route.to(staff::hide),
        Handler::StaffUnhide => route.to(staff::unhide),
        Handler::StaffPublish => route.to(staff::publish),
        Handler::StaffUsers => route.to(staff::users),
        Handler::StaffCreateUser => route.to(staff::create_user),
        Handler::StaffDisableUser => route.to(staff::disable_user),
        Handler::StaffEnableUser => route.to(staff::enable_user),
        Handler::StaffAudit => route.to(staff::audit),
        Handler::StaffPriority => route.to(staff::set_priority),
        Handler::StaffDuplicate => route.to(staff::mark_duplicate),
        Handler::StaffStatuses => route.to(staff::statuses),
        Handler::StaffApiKeys => route.to(staff::api_keys),
        Handler::StaffCreateApiKey => route.to(staff::create_api_key),
        Handler::StaffRevokeApiKey => route.to(staff::revoke_api_key),
        Handler::ListUpdates => route.to(handlers::list_updates),
        Handler::PostUpdate => route.to(handlers::post_update),
        Handler::StaffUpdateUser => route.to(staff::update_user),
        Handler::StaffErase => route.to(staff::erase),
        Handler::Dictionary => route.to(dictionary::dictionary),
        Handler::StaffEnter => route.to(staff::enter),
        Handler::StaffAddScan => route.to(staff::add_scan),
        Handler::StaffScan => route.to(staff::scan),
        Handler::Status => route.to(status::status),
        Handler::SmsInbound => route.to(status::sms),
        Handler::WebHome => route.to(page::home),
        Handler::WebReportPage => route.to(page::report_page),
        Handler::WebReport => route.to(page::submit),
        Handler::WebLookup => route.to(page::lookup),
    }
}

/// Registers every route, a 405 with `Allow` for other methods on a known path, and a 404 for unknown paths,
/// all in the Open311 error shape.
pub fn configure(cfg: &mut web::ServiceConfig) {
    for r in ROUTES {
        let allowed: Vec<&'static str> = r.methods.iter().map(|(m, _)| *m).collect();
        let mut resource = web::resource(r.path);
        for (method, handler) in r.methods {
            resource = resource.route(to_route(method, *handler));
        }
        resource = resource.default_service(web::to(move |req: HttpRequest| {
            let allowed = allowed.clone();
            async move { Format::guess(req.path()).error(&ApiError::MethodNotAllowed(allowed)) }
        }));
        cfg.service(resource);
    }
    cfg.default_service(web::to(not_found));
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    Format::guess(req.path()).error(&ApiError::NotFound(
        "no such resource: resources end in .xml or .json, see /open311/discovery.json".into(),
    ))
}
