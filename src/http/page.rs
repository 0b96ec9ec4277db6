//! The plain web page: report a problem and look up a report by its code, for any phone with a browser.
//! Server-rendered HTML with no script at all, a few kilobytes a page, readable on a 320-pixel screen, in
//! the city's languages. Reports go through the same use case as the Open311 POST, under the page's own key.
//!
//! The markup is well-formed XML as well as HTML (void elements closed, every attribute quoted), so that
//! the tests can read pages with an XML parser and check labels and fields by meaning.

use super::intake::{Files, RequestForm};
use super::params::Params;
use super::render::escape_into;
use crate::app::status::{self, NoStatus, StatusAnswer};
use crate::app::{self, AppState, PhotoUpload, Source};
use crate::domain::i18n::{self, Lang, Text};
use crate::domain::{AttributeDef, Datatype, NewRequest};
use crate::error::ApiError;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use std::fmt::Write;

type State = web::Data<AppState>;

/// Past this many bytes of options the list would outweigh the page (30 KB in all, issue #11); the address
/// field alone is offered then.
const MAX_PLACES_BYTES: usize = 22_000;

/// Whether the list of places fits the page.
fn places_fit(places: &[crate::routing::Place]) -> bool {
    // `<option value=""></option>` around each, with room for escaping.
    let bytes: usize = places
        .iter()
        .map(|p| p.code.len() + p.label.len() + 32)
        .sum();
    !places.is_empty() && bytes <= MAX_PLACES_BYTES
}

/// A value for a link's query string (codes may hold `&`, `+` or `=`).
fn query_value(s: &str) -> percent_encoding::PercentEncode<'_> {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

/// The page's language: `lang` when the city speaks it, else the browser's preference, else the city's.
fn language(req: &HttpRequest, q: &Params, languages: &[String], own: &str) -> String {
    let accept = req
        .headers()
        .get(header::ACCEPT_LANGUAGE)
        .and_then(|v| v.to_str().ok());
    i18n::choose(languages, own, q.get("lang"), accept)
}

struct Page {
    lang: String,
    title: String,
    body: String,
    /// The other language's link (the same page in it), when the city has two.
    switch: Option<(String, String)>,
    /// When what the page shows last changed, for `Last-Modified`.
    changed: Option<chrono::DateTime<chrono::Utc>>,
}

const STYLE: &str = "body{font:16px/1.4 sans-serif;margin:0 auto;max-width:40em;padding:0 .6em;color:#111}\
h1{font-size:1.25em;margin:.6em 0}h2{font-size:1.1em;margin:1em 0 .4em}\
label,legend{display:block;font-weight:bold;margin-top:.8em}fieldset{border:0;padding:0;margin:0}\
fieldset label{font-weight:normal;margin:.2em 0}\
input,select,textarea,button{font:inherit;max-width:100%;box-sizing:border-box}\
input[type=text],input[type=email],input[type=tel],input[type=number],input[type=datetime-local],select,textarea{width:100%;padding:.3em}\
button{margin:1em 0;padding:.5em 1em}.hint{color:#444;font-size:.9em;margin:.1em 0}\
.errors{border:2px solid #a00;padding:.4em .8em}.code{font:bold 2em monospace;letter-spacing:.15em}\
header{display:flex;justify-content:space-between;align-items:baseline;flex-wrap:wrap;gap:.5em}";

impl Page {
    fn render(self, status: u16) -> HttpResponse {
        let mut html = String::with_capacity(self.body.len() + 2048);
        let _ = write!(
            html,
            "<!DOCTYPE html>\n<html lang=\"{lang}\"><head><meta charset=\"utf-8\"/>\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"/>\
             <title>{title}</title><style>{STYLE}</style></head><body><header><p><a href=\"/?lang={lang}\">{home}</a></p>",
            lang = esc(&self.lang),
            title = esc(&self.title),
            home = esc(i18n::text(Lang::of(&self.lang), Text::PageTitle)),
        );
        if let Some((href, label)) = &self.switch {
            let _ = write!(html, "<p><a href=\"{}\">{}</a></p>", esc(href), esc(label));
        }
        html.push_str("</header><main>");
        html.push_str(&self.body);
        html.push_str("</main></body></html>");
        let mut res = HttpResponse::build(
            actix_web::http::StatusCode::from_u16(status)
                .unwrap_or(actix_web::http::StatusCode::OK),
        );
        super::format::validators(
            &mut res,
            super::format::etag_of(html.as_bytes()),
            self.changed.map(super::format::http_date),
        );
        res.content_type("text/html; charset=utf-8")
        .insert_header((header::CONTENT_LANGUAGE, self.lang.clone()))
        .insert_header((header::VARY, "Accept-Language"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        // No script runs here, nothing is framed, and forms go only to this server.
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .body(html)
    }
}

/// The jurisdiction of the page and the language it is shown in, as one translated catalogue.
async fn setting(
    state: &AppState,
    req: &HttpRequest,
    q: &Params,
) -> Result<(std::sync::Arc<app::JurisdictionCatalog>, String), ApiError> {
    let base = app::jurisdiction_catalog(state, q.get("jurisdiction_id")).await?;
    let lang = language(req, q, &base.languages, &base.jurisdiction.language);
    let j = app::jurisdiction_catalog_in(state, Some(&base.jurisdiction.id), Some(&lang)).await?;
    Ok((j, lang))
}

/// The same page in the city's other language (the first other one).
fn switch_of(
    j: &app::JurisdictionCatalog,
    lang: &str,
    path_and_query: &str,
) -> Option<(String, String)> {
    let other = j.languages.iter().find(|l| l.as_str() != lang)?;
    let sep = if path_and_query.contains('?') {
        '&'
    } else {
        '?'
    };
    let label = match Lang::of(other) {
        Lang::Id => "Bahasa Indonesia",
        Lang::En => "English",
    };
    Some((
        format!("{path_and_query}{sep}lang={}", other),
        label.to_string(),
    ))
}

fn error_page(status: u16, lang: &str, e: &ApiError) -> HttpResponse {
    let mut body = String::from("<div class=\"errors\" role=\"alert\"><ul>");
    for d in e.descriptions() {
        let _ = write!(body, "<li>{}</li>", esc(&d));
    }
    body.push_str("</ul></div>");
    Page {
        lang: lang.to_string(),
        title: i18n::text(Lang::of(lang), Text::PageTitle).to_string(),
        body,
        switch: None,
        changed: None,
    }
    .render(status)
}

fn lookup_form(out: &mut String, lang: &str, code: &str) {
    let l = Lang::of(lang);
    let _ = write!(
        out,
        "<h2>{heading}</h2><form method=\"get\" action=\"/lookup\"><input type=\"hidden\" name=\"lang\" value=\"{lang}\"/>\
         <label for=\"code\">{label}</label><input type=\"text\" id=\"code\" name=\"code\" value=\"{code}\" \
         autocomplete=\"off\" autocapitalize=\"characters\" spellcheck=\"false\" maxlength=\"20\" required=\"required\"/>\
         <button type=\"submit\">{look}</button></form>",
        heading = esc(i18n::text(l, Text::StatusHeading)),
        lang = esc(lang),
        label = esc(i18n::text(l, Text::Code)),
        code = esc(code),
        look = esc(i18n::text(l, Text::Look)),
    );
}

/// `GET /`: choose what the problem is, or look up a report.
pub async fn home(req: HttpRequest, state: State) -> HttpResponse {
    let q = match Params::parse(req.query_string().as_bytes(), "query string") {
        Ok(q) => q,
        Err(e) => return error_page(400, "en", &e),
    };
    let (j, lang) = match setting(&state, &req, &q).await {
        Ok(s) => s,
        Err(e) => return error_page(e.status(), "en", &e),
    };
    home_page(&j, lang).render(200)
}

fn home_page(j: &app::JurisdictionCatalog, lang: String) -> Page {
    let l = Lang::of(&lang);
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>{}</h1><h2>{}</h2><form method=\"get\" action=\"/report\">\
         <input type=\"hidden\" name=\"lang\" value=\"{}\"/><input type=\"hidden\" name=\"jurisdiction_id\" value=\"{}\"/>\
         <label for=\"service\">{}</label><select id=\"service\" name=\"service\" required=\"required\">",
        esc(&j.jurisdiction.name),
        esc(i18n::text(l, Text::ReportHeading)),
        esc(&lang),
        esc(&j.jurisdiction.id),
        esc(i18n::text(l, Text::Service)),
    );
    let mut group: Option<&str> = None;
    for (s, _) in &j.listed {
        if s.group.as_deref() != group {
            if group.is_some() {
                body.push_str("</optgroup>");
            }
            group = s.group.as_deref();
            if let Some(g) = group {
                let _ = write!(body, "<optgroup label=\"{}\">", esc(g));
            }
        }
        let _ = write!(
            body,
            "<option value=\"{}\">{}</option>",
            esc(&s.code),
            esc(&s.name)
        );
    }
    if group.is_some() {
        body.push_str("</optgroup>");
    }
    let _ = write!(
        body,
        "</select><button type=\"submit\">{}</button></form>",
        esc(i18n::text(l, Text::Choose))
    );
    lookup_form(&mut body, &lang, "");
    Page {
        switch: switch_of(j, &lang, "/"),
        lang,
        title: format!(
            "{} - {}",
            i18n::text(l, Text::PageTitle),
            j.jurisdiction.name
        ),
        body,
        changed: j.changeset.map(|t| t.and_utc()),
    }
}

/// What the reporter typed, to show the form again with it after a mistake.
#[derive(Default)]
struct Filled {
    fields: Params,
}

impl Filled {
    fn get(&self, name: &str) -> &str {
        self.fields.get(name).unwrap_or("")
    }

    fn has(&self, name: &str, value: &str) -> bool {
        self.fields.all(name).any(|v| v == value)
    }
}

fn report_form(
    j: &app::JurisdictionCatalog,
    lang: &str,
    service_code: &str,
    places: &[crate::routing::Place],
    filled: &Filled,
    problems: &[String],
) -> Option<Page> {
    let l = Lang::of(lang);
    let cached = j.active_service(service_code)?;
    let s = &cached.service;
    let t = |x: Text| esc(i18n::text(l, x));
    let mut body = String::new();
    let _ = write!(body, "<h1>{}</h1>", esc(&s.name));
    if let Some(d) = &s.description {
        let _ = write!(body, "<p>{}</p>", esc(d));
    }
    if !problems.is_empty() {
        let _ = write!(
            body,
            "<div class=\"errors\" role=\"alert\" id=\"problems\"><p>{}</p><ul>",
            t(Text::Problems)
        );
        for p in problems {
            let _ = write!(body, "<li>{}</li>", esc(p));
        }
        body.push_str("</ul></div>");
    }
    let _ = write!(
        body,
        "<form method=\"post\" action=\"/report\" enctype=\"multipart/form-data\">\
         <input type=\"hidden\" name=\"service_code\" value=\"{}\"/><input type=\"hidden\" name=\"jurisdiction_id\" value=\"{}\"/>\
         <input type=\"hidden\" name=\"lang\" value=\"{}\"/><input type=\"hidden\" name=\"idempotency_key\" value=\"{}\"/>\
         <p class=\"hint\">{}</p>",
        esc(&s.code),
        esc(&j.jurisdiction.id),
        esc(lang),
        // One key per form shown: a second press of the button, or a reload of the POST, stores nothing twice.
        esc(match filled.get("idempotency_key") {
            "" => crate::auth::random_id(20),
            k => k.to_string(),
        }
        .as_str()),
        t(Text::PlaceHint),
    );
    if places_fit(places) {
        let _ = write!(
            body,
            "<label for=\"place\">{}</label><select id=\"place\" name=\"place\"><option value=\"\">{}</option>",
            t(Text::Kelurahan),
            t(Text::Choose)
        );
        for p in places {
            let selected = if filled.get("place") == p.code {
                " selected=\"selected\""
            } else {
                ""
            };
            let _ = write!(
                body,
                "<option value=\"{}\"{selected}>{}</option>",
                esc(&p.code),
                esc(&p.label)
            );
        }
        body.push_str("</select>");
    }
    let _ = write!(
        body,
        "<label for=\"address\">{}</label><input type=\"text\" id=\"address\" name=\"address_string\" value=\"{}\" \
         maxlength=\"250\" autocomplete=\"street-address\" aria-describedby=\"address-hint\"/><p class=\"hint\" id=\"address-hint\">{}</p>\
         <label for=\"description\">{} ({})</label><textarea id=\"description\" name=\"description\" rows=\"4\" maxlength=\"4000\">{}</textarea>",
        t(Text::Address),
        esc(filled.get("address_string")),
        t(Text::AddressHint),
        t(Text::Description),
        t(Text::Optional),
        esc(filled.get("description")),
    );
    for a in &cached.attributes {
        attribute_field(&mut body, a, l, filled);
    }
    let _ = write!(
        body,
        "<label for=\"media\">{} ({})</label><input type=\"file\" id=\"media\" name=\"media\" accept=\"image/jpeg,image/png,image/webp\"/>\
         <p class=\"hint\" id=\"contact-hint\">{}</p>\
         <label for=\"email\">{} ({})</label><input type=\"email\" id=\"email\" name=\"email\" value=\"{}\" autocomplete=\"email\" aria-describedby=\"contact-hint\"/>\
         <label for=\"phone\">{} ({})</label><input type=\"tel\" id=\"phone\" name=\"phone\" value=\"{}\" autocomplete=\"tel\" aria-describedby=\"contact-hint\"/>\
         <button type=\"submit\">{}</button></form>",
        t(Text::Photo),
        t(Text::Optional),
        t(Text::ContactHint),
        t(Text::Email),
        t(Text::Optional),
        esc(filled.get("email")),
        t(Text::Phone),
        t(Text::Optional),
        esc(filled.get("phone")),
        t(Text::Send),
    );
    Some(Page {
        switch: switch_of(
            j,
            lang,
            &format!(
                "/report?service={}&jurisdiction_id={}",
                query_value(&s.code),
                query_value(&j.jurisdiction.id)
            ),
        ),
        lang: lang.to_string(),
        title: format!("{} - {}", s.name, j.jurisdiction.name),
        body,
        // The area list changes by import with no time of its own: revalidated by its ETag.
        changed: Some(chrono::Utc::now()),
    })
}

/// One attribute of the service definition as a form field with its label.
fn attribute_field(out: &mut String, a: &AttributeDef, l: Lang, filled: &Filled) {
    if !a.variable {
        let _ = write!(out, "<p class=\"hint\">{}</p>", esc(&a.description));
        return;
    }
    let id = format!(
        "attr-{}",
        a.code.replace(|c: char| !c.is_ascii_alphanumeric(), "_")
    );
    let name = format!("attribute[{}]", a.code);
    let need = if a.required {
        i18n::text(l, Text::Required)
    } else {
        i18n::text(l, Text::Optional)
    };
    let required = if a.required {
        " required=\"required\""
    } else {
        ""
    };
    let hint = a
        .datatype_description
        .as_deref()
        .map(|h| format!("<p class=\"hint\" id=\"{id}-hint\">{}</p>", esc(h)));
    let described = if hint.is_some() {
        format!(" aria-describedby=\"{id}-hint\"")
    } else {
        String::new()
    };
    match a.datatype {
        Datatype::SingleValueList | Datatype::MultiValueList => {
            let multi = a.datatype == Datatype::MultiValueList;
            let _ = write!(
                out,
                "<fieldset{described}><legend>{} ({})</legend>",
                esc(&a.description),
                esc(need)
            );
            if let Some(h) = &hint {
                out.push_str(h);
            }
            let field = if multi {
                format!("{name}[]")
            } else {
                name.clone()
            };
            for (i, v) in a.values.iter().enumerate() {
                let checked = if filled.has(&field, &v.key) {
                    " checked=\"checked\""
                } else {
                    ""
                };
                // A radio group is required through its first button; checkboxes never are one by one.
                let req = if !multi && i == 0 { required } else { "" };
                let _ = write!(
                    out,
                    "<label for=\"{id}-{i}\"><input type=\"{}\" id=\"{id}-{i}\" name=\"{}\" value=\"{}\"{checked}{req}/> {}</label>",
                    if multi { "checkbox" } else { "radio" },
                    esc(&field),
                    esc(&v.key),
                    esc(&v.name)
                );
            }
            out.push_str("</fieldset>");
        }
        _ => {
            let label = match &a.unit {
                Some(u) => format!("{} ({u}, {need})", a.description),
                None => format!("{} ({need})", a.description),
            };
            let _ = write!(out, "<label for=\"{id}\">{}</label>", esc(&label));
            let value = esc(filled.get(&name));
            match a.datatype {
                Datatype::Text => {
                    let _ = write!(
                        out,
                        "<textarea id=\"{id}\" name=\"{}\" rows=\"3\"{required}{described}>{value}</textarea>",
                        esc(&name)
                    );
                }
                Datatype::Number => {
                    let mut bounds = String::new();
                    if let Some(m) = a.min {
                        let _ = write!(bounds, " min=\"{m}\"");
                    }
                    if let Some(m) = a.max {
                        let _ = write!(bounds, " max=\"{m}\"");
                    }
                    let _ = write!(
                        out,
                        "<input type=\"number\" inputmode=\"decimal\" step=\"any\" id=\"{id}\" name=\"{}\" value=\"{value}\"{bounds}{required}{described}/>",
                        esc(&name)
                    );
                }
                Datatype::Datetime => {
                    let _ = write!(
                        out,
                        "<input type=\"datetime-local\" id=\"{id}\" name=\"{}\" value=\"{value}\"{required}{described}/>",
                        esc(&name)
                    );
                }
                _ => {
                    let _ = write!(
                        out,
                        "<input type=\"text\" id=\"{id}\" name=\"{}\" value=\"{value}\" maxlength=\"250\"{required}{described}/>",
                        esc(&name)
                    );
                }
            }
            if let Some(h) = hint {
                out.push_str(&h);
            }
        }
    }
}

/// `GET /report?service=CODE`: the form of one service.
pub async fn report_page(req: HttpRequest, state: State) -> HttpResponse {
    let q = match Params::parse(req.query_string().as_bytes(), "query string") {
        Ok(q) => q,
        Err(e) => return error_page(400, "en", &e),
    };
    let (j, lang) = match setting(&state, &req, &q).await {
        Ok(s) => s,
        Err(e) => return error_page(e.status(), "en", &e),
    };
    let Some(code) = q.get("service").filter(|c| !c.is_empty()) else {
        return home_page(&j, lang).render(200);
    };
    form_page(&state, &j, &lang, code, &Filled::default(), &[], 200).await
}

/// The report form of a service, answered with `status` (400 when it shows the form again with mistakes).
async fn form_page(
    state: &AppState,
    j: &app::JurisdictionCatalog,
    lang: &str,
    code: &str,
    filled: &Filled,
    problems: &[String],
    status: u16,
) -> HttpResponse {
    let page = app::with_places(state, &j.jurisdiction.id, |places| {
        report_form(j, lang, code, places, filled, problems)
    })
    .await;
    match page {
        Ok(Some(page)) => page.render(status),
        Ok(None) => error_page(
            404,
            lang,
            &ApiError::NotFound("service_code not found".into()),
        ),
        Err(e) => error_page(e.status(), lang, &e),
    }
}

/// A `datetime-local` value (`2026-01-15T06:30`) with the offset the city's clocks had then, as the service
/// definition asks.
fn with_offset(value: &str, zone: crate::domain::Zone) -> String {
    let bare = value.len() == 16 && value.as_bytes().get(10) == Some(&b'T');
    let Some(local) = bare
        .then(|| chrono::NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M").ok())
        .flatten()
    else {
        return value.to_string();
    };
    let minutes = zone.offset_minutes_of_local(local);
    let sign = if minutes < 0 { '-' } else { '+' };
    let m = minutes.abs();
    format!("{value}:00{sign}{:02}:{:02}", m / 60, m % 60)
}

/// `POST /report`: sends the report through the Open311 use case and shows its code (after a redirect, so
/// that reloading the page does not send it twice); a mistake shows the form again with what was typed.
pub async fn submit(
    req: HttpRequest,
    state: State,
    limits: web::Data<super::Limits>,
    payload: web::Payload,
) -> HttpResponse {
    let form = match RequestForm::read_with(&req, payload, &limits, Files::Photos).await {
        Ok(f) => f,
        Err(e) => return error_page(e.status(), "en", &e),
    };
    let (j, lang) = match setting(&state, &req, &form.body).await {
        Ok(s) => s,
        Err(e) => return error_page(e.status(), "en", &e),
    };
    let service_code = form.body.get("service_code").unwrap_or("").to_string();
    let filled = Filled {
        fields: form.body.clone(),
    };
    let result: Result<app::Submitted, ApiError> = async {
        let key = app::web_key(&state).await?;
        if let Some(rates) = req.app_data::<web::Data<crate::limits::RateLimits>>() {
            rates
                .check_key(key.id(), key.rate_limit().and_then(|r| r.parse().ok()))
                .map_err(ApiError::TooManyRequests)?;
        }
        let mut body = form.body.clone();
        let offset = j.jurisdiction.zone;
        // Browsers send datetime-local without an offset; the city's own is meant.
        if let Some(service) = j.active_service(&service_code) {
            for a in service
                .attributes
                .iter()
                .filter(|a| a.datatype == Datatype::Datetime)
            {
                let name = format!("attribute[{}]", a.code);
                for (n, v) in body.0.iter_mut() {
                    if *n == name {
                        *v = with_offset(v, offset);
                    }
                }
            }
        }
        // A place picked from the list locates the report at a point inside it and names it in the address.
        if let Some(code) = body
            .get("place")
            .filter(|c| !c.is_empty())
            .map(str::to_string)
        {
            let place = app::with_places(&state, &j.jurisdiction.id, |places| {
                places.iter().find(|p| p.code == code).cloned()
            })
            .await?
            .ok_or_else(|| ApiError::invalid("place", "choose an area from the list"))?;
            let address = match body
                .get("address_string")
                .map(str::trim)
                .filter(|a| !a.is_empty())
            {
                Some(a) => format!("{a}, {}", place.label),
                None => place.label.clone(),
            };
            body.0
                .retain(|(n, _)| n != "address_string" && n != "lat" && n != "long");
            body.0.push(("address_string".into(), address));
            body.0.push(("lat".into(), place.lat.to_string()));
            body.0.push(("long".into(), place.long.to_string()));
        } else {
            // The page has no map: a point can only come from the list.
            body.0.retain(|(n, _)| n != "lat" && n != "long");
        }
        // Fields the page does not offer are not taken from a crafted post either.
        body.0.retain(|(n, _)| {
            !matches!(
                n.as_str(),
                "device_id"
                    | "account_id"
                    | "first_name"
                    | "last_name"
                    | "media_url"
                    | "media_url[]"
            )
        });
        let raw = RequestForm {
            body,
            query: Params(Vec::new()),
            uploads: Vec::new(),
            bearer: None,
            idempotency_header: None,
        }
        .raw_request()?;
        let new = NewRequest::try_from(raw)?;
        let photos = form
            .uploads
            .into_iter()
            .map(|u| PhotoUpload { file: u.file })
            .collect();
        app::submit(&state, Source::web(&key), new, photos).await
    }
    .await;
    match result {
        // Its status is not public, not even by its code: the code is shown here, once.
        Ok(s) if s.private => {
            let l = Lang::of(&lang);
            let mut body = String::new();
            sent_heading(&mut body, l, &s.reference_code);
            back_link(&mut body, l, &lang);
            Page {
                switch: None,
                lang: lang.clone(),
                title: format!("{} - {}", i18n::text(l, Text::Sent), j.jurisdiction.name),
                body,
                changed: None,
            }
            .render(200)
        }
        Ok(s) => HttpResponse::SeeOther()
            .insert_header((
                header::LOCATION,
                format!("/lookup?code={}&sent=1&lang={}", s.reference_code, lang),
            ))
            .finish(),
        Err(ApiError::Invalid(problems)) => {
            let problems: Vec<String> = problems.iter().map(|p| p.description.clone()).collect();
            form_page(&state, &j, &lang, &service_code, &filled, &problems, 400).await
        }
        Err(e) => error_page(e.status(), &lang, &e),
    }
}

/// What the page says after sending: the reference code to keep.
fn sent_heading(body: &mut String, l: Lang, code: &str) {
    let _ = write!(
        body,
        "<h1>{}</h1><p>{}:</p><p class=\"code\" id=\"reference-code\">{}</p><p>{}</p>",
        esc(i18n::text(l, Text::Sent)),
        esc(i18n::text(l, Text::YourCode)),
        esc(code),
        esc(i18n::text(l, Text::KeepCode)),
    );
}

fn back_link(body: &mut String, l: Lang, lang: &str) {
    let _ = write!(
        body,
        "<p><a href=\"/?lang={}\">{}</a></p>",
        esc(lang),
        esc(i18n::text(l, Text::Back))
    );
}

/// `GET /lookup?code=…`: a report's status as a page (and, after sending, its code).
pub async fn lookup(req: HttpRequest, state: State) -> HttpResponse {
    let q = match Params::parse(req.query_string().as_bytes(), "query string") {
        Ok(q) => q,
        Err(e) => return error_page(400, "en", &e),
    };
    let (j, lang) = match setting(&state, &req, &q).await {
        Ok(s) => s,
        Err(e) => return error_page(e.status(), "en", &e),
    };
    let l = Lang::of(&lang);
    let code = q.get("code").unwrap_or("").trim().to_string();
    let mut body = String::new();
    if code.is_empty() {
        lookup_form(&mut body, &lang, "");
        return Page {
            switch: switch_of(&j, &lang, "/lookup"),
            lang: lang.clone(),
            title: format!(
                "{} - {}",
                i18n::text(l, Text::StatusHeading),
                j.jurisdiction.name
            ),
            body,
            changed: j.changeset.map(|t| t.and_utc()),
        }
        .render(200);
    }
    let result: Result<StatusAnswer, NoStatus> =
        status::by_code(&state, &code, Some(&lang), None).await;
    let status = match &result {
        Ok(a) => {
            if q.get("sent") == Some("1") {
                sent_heading(&mut body, l, &a.reference_code);
            } else {
                let _ = write!(
                    body,
                    "<h1>{}: <span id=\"reference-code\">{}</span></h1>",
                    esc(i18n::text(l, Text::Code)),
                    esc(&a.reference_code)
                );
            }
            let _ = write!(
                body,
                "<dl><dt>{}</dt><dd id=\"service\">{}</dd><dt>{}</dt><dd id=\"status\">{}</dd>",
                esc(i18n::text(l, Text::Service)),
                esc(&a.service_name),
                esc(i18n::text(l, Text::Status)),
                esc(&a.status_name),
            );
            if let Some(d) = &a.status_description {
                let _ = write!(body, "<dd>{}</dd>", esc(d));
            }
            let _ = write!(
                body,
                "<dt>{}</dt><dd id=\"updated\">{}</dd>",
                esc(i18n::text(l, Text::LastChange)),
                esc(a
                    .updated_datetime
                    .get(..16)
                    .unwrap_or(&a.updated_datetime)
                    .replace('T', " ")
                    .as_str()),
            );
            if let Some(n) = &a.note {
                let _ = write!(
                    body,
                    "<dt>{}</dt><dd id=\"note\">{}</dd>",
                    esc(i18n::text(l, Text::Note)),
                    esc(n)
                );
            }
            body.push_str("</dl>");
            back_link(&mut body, l, &lang);
            200
        }
        Err(no) => {
            let _ = write!(
                body,
                "<div class=\"errors\" role=\"alert\"><p>{}</p></div>",
                esc(&no.text)
            );
            no.error.status()
        }
    };
    lookup_form(&mut body, &lang, &code);
    Page {
        switch: switch_of(&j, &lang, &format!("/lookup?code={}", query_value(&code))),
        lang: lang.clone(),
        title: format!(
            "{} - {}",
            i18n::text(l, Text::StatusHeading),
            j.jurisdiction.name
        ),
        body,
        changed: result.as_ref().ok().map(|a| a.changed),
    }
    .render(status)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn places(n: usize) -> Vec<crate::routing::Place> {
        (0..n)
            .map(|i| crate::routing::Place {
                code: format!("31.71.{:02}.{:04}", i % 50, i),
                label: format!("Kelurahan Nomor {i}, Kecamatan Nomor {}", i / 10),
                lat: -6.2,
                long: 106.8,
            })
            .collect()
    }

    #[test]
    fn the_place_list_is_offered_only_when_it_leaves_room_in_30_kb() {
        assert!(places_fit(&places(250)));
        // 600 such options alone are over 36 KB.
        assert!(!places_fit(&places(600)));
        assert!(!places_fit(&[]));
    }

    #[test]
    fn a_browser_datetime_gets_the_city_offset() {
        assert_eq!(
            with_offset("2026-01-15T06:30", 420.into()),
            "2026-01-15T06:30:00+07:00"
        );
        assert_eq!(
            with_offset("2026-01-15T06:30", (-330).into()),
            "2026-01-15T06:30:00-05:30"
        );
        assert_eq!(
            with_offset("2026-01-15T06:30:00Z", 420.into()),
            "2026-01-15T06:30:00Z"
        );
    }
}
