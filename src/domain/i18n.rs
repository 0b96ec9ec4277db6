//! The server's own words (receipts, the SMS status answer, the web page) in the languages it speaks, and
//! the choice of a language from what a client asks for. A city's own texts (service names, attribute
//! questions, status names) come translated in its import files; these are the few sentences around them.
//! Adding a language means adding a column to `text`.

/// A language the server's own texts are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    En,
    Id,
}

impl Lang {
    /// The server's language for a locale (`id`, `id_ID`, `in`, `en-GB`); English for any other.
    pub fn of(locale: &str) -> Lang {
        match primary(locale).as_str() {
            "id" | "in" => Lang::Id,
            _ => Lang::En,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Id => "id",
        }
    }
}

/// The primary language subtag of a locale, lower case: `id_ID` → `id`, `en-GB` → `en`.
pub fn primary(locale: &str) -> String {
    locale
        .trim()
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// The best of `available` for an `Accept-Language` header (RFC 9110 §12.5.4: quality values, `*`, and a
/// range matching by primary subtag); `None` when the header names none of them.
/// The language of an answer among a jurisdiction's: an explicit choice (`locale`, `lang`) when the city
/// speaks it, else the best of `Accept-Language`, else the city's own.
pub fn choose(
    languages: &[String],
    own: &str,
    explicit: Option<&str>,
    accept: Option<&str>,
) -> String {
    let available: Vec<&str> = languages.iter().map(String::as_str).collect();
    if let Some(l) = explicit {
        let want = primary(l);
        if let Some(found) = available.iter().find(|a| primary(a) == want) {
            return found.to_string();
        }
    }
    accept
        .and_then(|h| negotiate(h, &available))
        .unwrap_or(own)
        .to_string()
}

pub fn negotiate<'a>(header: &str, available: &[&'a str]) -> Option<&'a str> {
    let mut best: Option<(f32, usize, &'a str)> = None;
    for (order, range) in header.split(',').enumerate().take(32) {
        let mut parts = range.split(';');
        let tag = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .filter_map(|v| v.trim().parse::<f32>().ok())
            .next()
            .unwrap_or(1.0);
        if q <= 0.0 || tag.is_empty() {
            continue;
        }
        let found = if tag == "*" {
            available.first().copied()
        } else {
            let want = primary(tag);
            available.iter().copied().find(|a| primary(a) == want)
        };
        if let Some(found) = found {
            // Higher quality wins; on a tie, the range listed first.
            if best.is_none_or(|(bq, bo, _)| q > bq || (q == bq && order < bo)) {
                best = Some((q, order, found));
            }
        }
    }
    best.map(|(.., a)| a)
}

/// The server's own sentences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    UnderReview,
    Since,
    NotFound,
    Mistyped,
    Usage,
    ReceiptIntro,
    ReceiptAsk,
    PageTitle,
    ReportHeading,
    Service,
    Choose,
    Kelurahan,
    Address,
    AddressHint,
    Description,
    Photo,
    Email,
    Phone,
    ContactHint,
    Send,
    StatusHeading,
    Code,
    Look,
    Sent,
    YourCode,
    KeepCode,
    Problems,
    Required,
    Optional,
    Status,
    LastChange,
    Note,
    Language,
    Back,
    PlaceHint,
    Or,
    Closed,
    Open,
}

pub fn text(lang: Lang, t: Text) -> &'static str {
    use Text::*;
    match (lang, t) {
        (Lang::En, UnderReview) => "received, under review",
        (Lang::Id, UnderReview) => "diterima, sedang diperiksa",
        (Lang::En, Since) => "since",
        (Lang::Id, Since) => "sejak",
        (Lang::En, NotFound) => "No report has this reference code.",
        (Lang::Id, NotFound) => "Tidak ada laporan dengan kode ini.",
        (Lang::En, Mistyped) => {
            "This code has a mistyped character. Please check it and try again."
        }
        (Lang::Id, Mistyped) => "Kode ini salah ketik. Periksa dan coba lagi.",
        (Lang::En, Usage) => {
            "Send STATUS and your 7-character reference code, e.g. STATUS JK7Q3FX."
        }
        (Lang::Id, Usage) => "Kirim STATUS dan kode laporan 7 karakter Anda, mis. STATUS JK7Q3FX.",
        (Lang::En, ReceiptIntro) => "Your report",
        (Lang::Id, ReceiptIntro) => "Laporan Anda",
        (Lang::En, ReceiptAsk) => "To ask about it, quote this code or text STATUS",
        (Lang::Id, ReceiptAsk) => "Untuk menanyakannya, sebutkan kode ini atau SMS STATUS",
        (Lang::En, PageTitle) => "Report a problem",
        (Lang::Id, PageTitle) => "Laporkan masalah",
        (Lang::En, ReportHeading) => "Report a problem in a public place",
        (Lang::Id, ReportHeading) => "Laporkan masalah di tempat umum",
        (Lang::En, Service) => "What is the problem?",
        (Lang::Id, Service) => "Apa masalahnya?",
        (Lang::En, Choose) => "Choose",
        (Lang::Id, Choose) => "Pilih",
        (Lang::En, Kelurahan) => "Area (kelurahan)",
        (Lang::Id, Kelurahan) => "Wilayah (kelurahan)",
        (Lang::En, Address) => "Address or place",
        (Lang::Id, Address) => "Alamat atau tempat",
        (Lang::En, AddressHint) => "Street, number, landmark",
        (Lang::Id, AddressHint) => "Jalan, nomor, patokan",
        (Lang::En, PlaceHint) => "Give the address, choose the area, or both.",
        (Lang::Id, PlaceHint) => "Isi alamat, pilih wilayah, atau keduanya.",
        (Lang::En, Description) => "Describe the problem",
        (Lang::Id, Description) => "Jelaskan masalahnya",
        (Lang::En, Photo) => "Photo",
        (Lang::Id, Photo) => "Foto",
        (Lang::En, Email) => "E-mail",
        (Lang::Id, Email) => "E-mail",
        (Lang::En, Phone) => "Phone",
        (Lang::Id, Phone) => "Telepon",
        (Lang::En, ContactHint) => "Only the city's staff see these, to ask you about the report.",
        (Lang::Id, ContactHint) => {
            "Hanya petugas kota yang melihat ini, untuk menanyakan laporan Anda."
        }
        (Lang::En, Send) => "Send the report",
        (Lang::Id, Send) => "Kirim laporan",
        (Lang::En, StatusHeading) => "Look up a report",
        (Lang::Id, StatusHeading) => "Cek laporan",
        (Lang::En, Code) => "Reference code",
        (Lang::Id, Code) => "Kode laporan",
        (Lang::En, Look) => "Look up",
        (Lang::Id, Look) => "Cek",
        (Lang::En, Sent) => "Thank you: your report was received.",
        (Lang::Id, Sent) => "Terima kasih: laporan Anda sudah diterima.",
        (Lang::En, YourCode) => "Your reference code",
        (Lang::Id, YourCode) => "Kode laporan Anda",
        (Lang::En, KeepCode) => {
            "Keep this code to look up the report here or by SMS (STATUS and the code)."
        }
        (Lang::Id, KeepCode) => {
            "Simpan kode ini untuk mengecek laporan di sini atau lewat SMS (STATUS dan kodenya)."
        }
        (Lang::En, Problems) => "Please correct the following:",
        (Lang::Id, Problems) => "Mohon perbaiki:",
        (Lang::En, Required) => "required",
        (Lang::Id, Required) => "wajib",
        (Lang::En, Optional) => "optional",
        (Lang::Id, Optional) => "tidak wajib",
        (Lang::En, Status) => "Status",
        (Lang::Id, Status) => "Status",
        (Lang::En, LastChange) => "Last change",
        (Lang::Id, LastChange) => "Perubahan terakhir",
        (Lang::En, Note) => "Note",
        (Lang::Id, Note) => "Catatan",
        (Lang::En, Language) => "Bahasa Indonesia",
        (Lang::Id, Language) => "English",
        (Lang::En, Back) => "Report another problem",
        (Lang::Id, Back) => "Laporkan masalah lain",
        (Lang::En, Or) => "or",
        (Lang::Id, Or) => "atau",
        (Lang::En, Closed) => "closed",
        (Lang::Id, Closed) => "selesai",
        (Lang::En, Open) => "open",
        (Lang::Id, Open) => "dalam proses",
    }
}

/// What staff write on a citizen's paper receipt.
pub fn receipt(lang: Lang, code: &str, service: &str, requested: &str) -> String {
    format!(
        "{} {code}: {service}, {requested}. {} {code}.",
        text(lang, Text::ReceiptIntro),
        text(lang, Text::ReceiptAsk)
    )
}

/// One SMS: GSM-7 allows 160 characters.
pub const SMS_CHARS: usize = 160;

/// The status of a report in one SMS: code, service, status and the date it took it, then as much of the
/// last public note as fits. Cut on a character boundary with `...` (ASCII: a `…` would force the whole
/// message into UCS-2, where one SMS holds only 70 characters).
pub fn status_sms(
    code: &str,
    service: &str,
    status: &str,
    date: &str,
    note: Option<&str>,
    lang: Lang,
) -> String {
    let head = format!(
        "{code}: {service} - {status} {} {date}.",
        text(lang, Text::Since)
    );
    let mut out = fit(&head, SMS_CHARS);
    if let Some(note) = note.map(|n| n.split_whitespace().collect::<Vec<_>>().join(" ")) {
        let room = SMS_CHARS.saturating_sub(out.chars().count() + 1);
        if !note.is_empty() && room >= 8 {
            out.push(' ');
            out.push_str(&fit(&note, room));
        }
    }
    out
}

/// `s` in at most `max` characters, cut with `...` when longer.
pub fn fit(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(3)).collect();
    out.truncate(out.trim_end().len());
    out.push_str("...");
    out
}

/// The server's own words where departments and the public read a city's language: department e-mail and
/// the summaries of public notes. English and Indonesian are built in; a city adds another language, or its
/// own wording, with a `[texts.LOCALE]` table in its files (docs/IMPORT.md), without a release. `{name}`
/// marks a value filled in.
pub const SERVER_TEXTS: &[(&str, &str, &str)] = &[
    ("mail.report_for", "A report for {department}.", "Laporan untuk {department}."),
    (
        "mail.fallback",
        "(Sent to the fallback address: the department's own address could not receive it.)",
        "(Dikirim ke alamat cadangan: alamat dinas sendiri tidak dapat menerimanya.)",
    ),
    ("mail.reference", "Reference", "Nomor"),
    ("mail.service", "Service", "Layanan"),
    ("mail.reported", "Reported", "Dilaporkan"),
    ("mail.address", "Address", "Alamat"),
    ("mail.address_id", "Address id", "ID alamat"),
    ("mail.location", "Location", "Lokasi"),
    ("mail.map", "Map", "Peta"),
    ("mail.no_location", "no location", "tanpa lokasi"),
    ("mail.details", "Details", "Rincian"),
    ("mail.description", "Description", "Uraian"),
    ("mail.photos", "Photos", "Foto"),
    (
        "mail.reporter",
        "Reporter (shared with the department for this service)",
        "Pelapor (dibagikan kepada dinas untuk layanan ini)",
    ),
    ("mail.public_record", "Public record", "Catatan publik"),
    ("mail.routing", "Routing", "Penugasan"),
    (
        "mail.footer",
        "Sent by civic311. A resend of this report carries the same Message-ID: {message_id}",
        "Dikirim oleh civic311. Kiriman ulang laporan ini membawa Message-ID yang sama: {message_id}",
    ),
    ("note.opened", "Request opened", "Laporan dibuat"),
    ("note.status", "Status: {status}", "Status: {status}"),
    ("note.update", "Update", "Pembaruan"),
];

/// The server's words in one language: the city's own (`[texts.LOCALE]`) first, then the built-in ones of
/// that language, then English.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Words {
    lang: String,
    own: std::collections::BTreeMap<String, String>,
}

impl Words {
    pub fn new(lang: &str, own: impl IntoIterator<Item = (String, String)>) -> Self {
        Words {
            lang: primary(lang),
            own: own.into_iter().collect(),
        }
    }

    pub fn get<'a>(&'a self, key: &'a str) -> &'a str {
        if let Some(t) = self.own.get(key) {
            return t;
        }
        SERVER_TEXTS
            .iter()
            .find(|(k, ..)| *k == key)
            .map_or(key, |(_, en, id)| if self.lang == "id" { id } else { en })
    }

    /// The text of `key` with each `{name}` replaced by its value.
    pub fn fill(&self, key: &str, values: &[(&str, &str)]) -> String {
        let mut out = self.get(key).to_string();
        for (name, value) in values {
            out = out.replace(&format!("{{{name}}}"), value);
        }
        out
    }
}

/// Whether `key` is one of the server's texts, and the `{names}` its text must keep.
pub fn server_text_placeholders(key: &str) -> Option<Vec<String>> {
    let (_, en, _) = SERVER_TEXTS.iter().find(|(k, ..)| *k == key)?;
    Some(
        en.split('{')
            .skip(1)
            .filter_map(|p| p.split_once('}').map(|(name, _)| name.to_string()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_is_negotiated() {
        let av = ["en", "id"];
        assert_eq!(negotiate("id-ID,id;q=0.9,en;q=0.8", &av), Some("id"));
        assert_eq!(negotiate("en-GB, id;q=0.5", &av), Some("en"));
        assert_eq!(negotiate("fr, id;q=0.3", &av), Some("id"));
        assert_eq!(negotiate("fr", &av), None);
        assert_eq!(negotiate("*", &av), Some("en"));
        assert_eq!(negotiate("id;q=0, en;q=0.1", &av), Some("en"));
        assert_eq!(negotiate("", &av), None);
        assert_eq!(Lang::of("in"), Lang::Id);
        assert_eq!(Lang::of("id_ID"), Lang::Id);
        assert_eq!(Lang::of("de"), Lang::En);
    }

    #[test]
    fn a_status_fits_one_sms_in_both_languages() {
        let long = "Pump crew on site; the water is going down slowly but the underpass stays closed until the morning because of mud and debris that must be cleared";
        for lang in [Lang::En, Lang::Id] {
            let s = status_sms(
                "JK7Q3FX",
                "Illegal dumping of household and building waste",
                "Sedang ditangani (in progress)",
                "2026-12-07",
                Some(long),
                lang,
            );
            assert!(s.chars().count() <= SMS_CHARS, "{} {s}", s.chars().count());
            assert!(s.starts_with("JK7Q3FX: "));
            assert!(s.ends_with("..."));
        }
        let short = status_sms(
            "JK7Q3FX",
            "Flooded street",
            "fixed",
            "2026-12-07",
            Some("Drain cleared."),
            Lang::En,
        );
        assert_eq!(
            short,
            "JK7Q3FX: Flooded street - fixed since 2026-12-07. Drain cleared."
        );
    }
}
